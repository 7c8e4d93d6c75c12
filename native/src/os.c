/*
 * Everything that differs between Linux, FreeBSD and macOS, behind tiny
 * functions so that the trial loop in core.c stays one portable file.
 * Each function has one body per OS; an OS not listed gets the honest
 * fallback (no pinning, CPU unknown) rather than a guess.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#elif defined(__FreeBSD__)
/* sys/param.h first: it defines __FreeBSD_version and what sys/cpuset.h needs.
 * sched_getcpu() is declared only when __BSD_VISIBLE (no _POSIX_C_SOURCE). */
#include <sys/param.h>
#include <sys/cpuset.h>
#include <sched.h>
#include <pthread_np.h>
#endif
#if defined(__FreeBSD__) || defined(__APPLE__)
#include <sys/types.h>
#include <sys/sysctl.h>
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
    /* macOS has only affinity *tags* (thread_policy_set), which the
     * scheduler is free to ignore: claiming a pin there would be a lie. */
    return 0;
#endif
}

#if defined(__linux__)
static int allowed_cpus(int *cpus, int max) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set)) cpus[n++] = c;
    return n;
}

static int pin_self(int cpu) {
    if (cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* pid 0 is the calling *thread* for sched_setaffinity on Linux. */
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}

static int current_cpu(void) {
    return sched_getcpu();
}

#elif defined(__FreeBSD__)
/* The calling thread's own mask (id -1 = this thread), as Linux's
 * sched_getaffinity(0) reads it: `cpuset -l 2,3 close-stress-core` limits it. */
static int allowed_cpus(int *cpus, int max) {
    cpuset_t set;
    CPU_ZERO(&set);
    if (cpuset_getaffinity(CPU_LEVEL_WHICH, CPU_WHICH_TID, -1, sizeof set, &set) != 0)
        return -errno;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set)) cpus[n++] = c;
    return n;
}

static int pin_self(int cpu) {
    if (cpu >= CPU_SETSIZE) return EINVAL;
    cpuset_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return cpuset_setaffinity(CPU_LEVEL_WHICH, CPU_WHICH_TID, -1, sizeof set, &set) == 0
               ? 0 : errno;
}

static int current_cpu(void) {
    /* sched_getcpu() arrived in 13.1 (__FreeBSD_version 1301000); on older
     * releases the CPU seen stays unknown and cpusSeen reads empty. */
#if __FreeBSD_version >= 1301000
    return sched_getcpu();
#else
    return -1;
#endif
}

#else /* macOS and anything else: threads float, CPU unknown */
/* No affinity mask to read: every online CPU is allowed. */
static int allowed_cpus(int *cpus, int max) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    int n = 0;
    for (long c = 0; c < online && n < max; c++) cpus[n++] = (int)c;
    return n;
}

static int pin_self(int cpu) {
    (void)cpu;
    return ENOTSUP;
}

static int current_cpu(void) {
    return -1;
}
#endif

int cs_os_allowed_cpus(int *cpus, int max) {
    return allowed_cpus(cpus, max);
}

int cs_os_pin_self(int cpu) {
    if (cpu < 0) return 0;
    return pin_self(cpu);
}

int cs_os_current_cpu(void) {
    return current_cpu();
}

uint64_t cs_os_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The raw bytes of a sysctl, for TypeScript to interpret (the topology XML,
 * netisr's per-CPU work structs, hw.* counts): one reader for every name, so
 * a new figure needs no C. Linux has no sysctlbyname; it reads /sys and /proc. */
int cs_os_sysctl(const char *name, void *buf, size_t *len) {
#if defined(__FreeBSD__) || defined(__APPLE__)
    return sysctlbyname(name, buf, len, NULL, 0) == 0 ? 0 : -errno;
#else
    (void)name;
    (void)buf;
    (void)len;
    return -ENOSYS;
#endif
}

/* setns(2) is per thread for network namespaces, so one lane can move while
 * the rest of the process stays where it was; sockets keep the namespace
 * they were made in. */
int cs_os_enter_netns(const char *path) {
#if defined(__linux__)
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = setns(fd, CLONE_NEWNET) == 0 ? 0 : errno;
    close(fd);
    return rc;
#else
    (void)path;
    return ENOTSUP;
#endif
}

int cs_os_leave_netns(void) {
#if defined(__linux__)
    /* /proc/self is the thread group leader, which never moves. */
    return cs_os_enter_netns("/proc/self/ns/net");
#else
    return ENOTSUP;
#endif
}

/* Lanes are threads of a process that also runs Node's: their names let
 * top -H, ps -T, a debugger (and the tests) tell them apart. */
void cs_os_name_thread(const char *name) {
#if defined(__linux__)
    pthread_setname_np(pthread_self(), name); /* 15 bytes at most, or ERANGE: names stay short */
#elif defined(__FreeBSD__)
    pthread_set_name_np(pthread_self(), name);
#elif defined(__APPLE__)
    pthread_setname_np(name);
#else
    (void)name;
#endif
}

/* Linux's nice is per thread (the tid as PRIO_PROCESS), and threads the
 * caller creates afterwards (its resetter) inherit it. Elsewhere nice is the
 * whole process's: ENOTSUP, the lane keeps the process's priority. */
int cs_os_lower_priority(int by) {
#if defined(__linux__)
    pid_t tid = (pid_t)syscall(SYS_gettid);
    errno = 0;
    int now = getpriority(PRIO_PROCESS, (id_t)tid);
    if (now == -1 && errno != 0) return errno;
    return setpriority(PRIO_PROCESS, (id_t)tid, now + by) == 0 ? 0 : errno;
#else
    (void)by;
    return ENOTSUP;
#endif
}

void cs_os_cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
#if defined(__linux__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !v) continue;
        for (v++; isspace((unsigned char)*v); v++) {}
        v[strcspn(v, "\n")] = '\0';
        snprintf(buf, n, "%s", v);
        break;
    }
    fclose(f);
#elif defined(__FreeBSD__) || defined(__APPLE__)
#if defined(__APPLE__)
    const char *name = "machdep.cpu.brand_string";
#else
    const char *name = "hw.model";
#endif
    size_t len = n;
    if (sysctlbyname(name, buf, &len, NULL, 0) != 0) snprintf(buf, n, "unknown");
    else buf[n - 1] = '\0';
#endif
}

uint64_t cs_os_memory_bytes(void) {
#if defined(__APPLE__)
    uint64_t v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.memsize", &v, &len, NULL, 0) == 0 ? v : 0;
#elif defined(__FreeBSD__)
    unsigned long v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.physmem", &v, &len, NULL, 0) == 0 ? (uint64_t)v : 0;
#else
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
#endif
}
