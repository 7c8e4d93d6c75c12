/*
 * Everything that differs between Linux, FreeBSD and macOS, behind tiny
 * functions so that the trial loop in core.c stays one portable file.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "core.h"

#include <errno.h>
#include <time.h>

#if defined(__linux__)
#include <sched.h>
#elif defined(__FreeBSD__)
#include <sys/param.h>
#include <sys/cpuset.h>
#include <sched.h>
#elif defined(__APPLE__)
#include <unistd.h>
#endif

const char *cs_os_name(void) {
#if defined(__linux__)
    return "linux";
#elif defined(__FreeBSD__)
    return "freebsd";
#elif defined(__APPLE__)
    return "darwin";
#else
    return "unknown";
#endif
}

int cs_os_can_pin(void) {
#if defined(__linux__) || defined(__FreeBSD__)
    return 1;
#else
    /* macOS has only affinity *tags*, which the scheduler may ignore. */
    return 0;
#endif
}

int cs_os_allowed_cpus(int *cpus, int max) {
    int n = 0;
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set)) cpus[n++] = c;
#elif defined(__FreeBSD__)
    cpuset_t set;
    CPU_ZERO(&set);
    if (cpuset_getaffinity(CPU_LEVEL_WHICH, CPU_WHICH_PID, -1, sizeof set, &set) != 0)
        return -errno;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set)) cpus[n++] = c;
#else
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    for (int c = 0; c < online && n < max; c++) cpus[n++] = c;
#endif
    return n;
}

int cs_os_pin_self(int cpu) {
    if (cpu < 0) return 0;
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* pid 0 is the calling *thread* for sched_setaffinity on Linux. */
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
#elif defined(__FreeBSD__)
    cpuset_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return cpuset_setaffinity(CPU_LEVEL_WHICH, CPU_WHICH_TID, -1, sizeof set, &set) == 0
               ? 0 : errno;
#else
    return ENOTSUP;
#endif
}

int cs_os_current_cpu(void) {
#if defined(__linux__) || (defined(__FreeBSD__) && __FreeBSD_version >= 1301000)
    return sched_getcpu();
#else
    return -1;
#endif
}

uint64_t cs_os_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
