/*
 * Reference trial loop for `npm run bench`: the same kernel work as one
 * close-stress step (native/src/core.c), with no Node, no worker pool and no
 * shared-memory counters, so that close-stress's rate divided by this one is
 * the overhead of everything around the syscalls.
 *
 * Kept in step with core.c by hand: per lane a loopback listener on port 0,
 * pinned like the plan pins (lane i on the i-th allowed CPU, its resetter on
 * the next); every lane passes a spin gate before its clock starts; per trial
 * sched_getcpu, socket, connect, getsockname, accept (+ peer check),
 * SO_LINGER {1,0} on the resetting end, the resetting close, the victim
 * close. Cross-thread: a resetter thread per lane, started after the gate as
 * core.c does, released together with the victim by a two-party spin barrier.
 * Trials are claimed from one shared word, as core.c claims them, so a lane
 * that the shared machine slows down does less and no lane idles at the end.
 * Tallies are plain locals, summed after the lanes are joined.
 *
 * Usage: trial-ref LANES ITERATIONS same-thread|cross-thread server|client 4|6
 * Prints one JSON line: {"lanes","trials","elapsedNs","trialsPerSec","closeOk","closeFailed","setupFailed"}.
 * Build: cc -O2 -pthread -o trial-ref trial-ref.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define SPINS_BEFORE_YIELD 2000
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif
#define MAX_LANES 1024

static void spin_or_yield(unsigned *spins) {
    if (++*spins < SPINS_BEFORE_YIELD) cpu_relax();
    else sched_yield();
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pin(int cpu) {
    if (cpu < 0) return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

static int same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

struct shared {
    uint64_t claimed, limit, ready, lanes;
    int family, cross, reset_server;
};

struct lane {
    pthread_t th;
    struct shared *sh;
    int cpu, reset_cpu;
    uint64_t start_ns, end_ns;
    uint64_t close_ok, close_failed, setup_failed, cpu_sum; /* plain local tallies */
    int failed;
};

struct barrier { uint32_t count, sense; };

static void barrier_wait(struct barrier *b, uint32_t *local) {
    uint32_t s = *local = !*local;
    if (__atomic_fetch_add(&b->count, 1, __ATOMIC_ACQ_REL) == 1) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        STORE(&b->sense, s);
        return;
    }
    unsigned spins = 0;
    while (LOAD(&b->sense) != s) spin_or_yield(&spins);
}

/* reset_fd is the whole hand-off: a descriptor, EMPTY once the resetter took
 * it, or QUIT. A separate quit flag read after the barrier would let a resetter
 * that was descheduled past the last trial's barrier see quit one round early,
 * exit, and leave the victim spinning in the final barrier for ever. */
#define EMPTY (-1)
#define QUIT (-2)

struct cross {
    struct barrier go;
    int reset_fd, reset_cpu;
    uint64_t cpu_sum;
};

static void *resetter(void *arg) {
    struct cross *x = arg;
    uint32_t sense = 0;
    pin(x->reset_cpu);
    for (;;) {
        barrier_wait(&x->go, &sense);
        int fd = LOAD(&x->reset_fd);
        if (fd == QUIT) break;
        STORE(&x->reset_fd, EMPTY);
        x->cpu_sum += (uint64_t)sched_getcpu();
        close(fd);
    }
    return NULL;
}

static int claim(struct shared *sh) {
    return __atomic_fetch_add(&sh->claimed, 1, __ATOMIC_RELAXED) < LOAD(&sh->limit);
}

/* socket, connect, getsockname, accept until our own client, SO_LINGER {1,0}. */
static int open_pair(int lfd, const struct sockaddr_storage *laddr, socklen_t llen, struct shared *sh,
                     int *reset_fd, int *victim_fd) {
    int cfd = socket(sh->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cfd < 0) return -1;
    if (connect(cfd, (const struct sockaddr *)laddr, llen) != 0) { close(cfd); return -1; }
    struct sockaddr_storage me;
    socklen_t mlen = sizeof me;
    if (getsockname(cfd, (struct sockaddr *)&me, &mlen) != 0) { close(cfd); return -1; }
    int sfd = -1;
    for (int tries = 0; tries < 64; tries++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int s = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC); /* as core.c */
        if (s < 0) break;
        if (same_endpoint(&peer, &me)) { sfd = s; break; }
        close(s);
    }
    if (sfd < 0) { close(cfd); return -1; }
    *reset_fd = sh->reset_server ? sfd : cfd;
    *victim_fd = sh->reset_server ? cfd : sfd;
    struct linger lg = {1, 0};
    if (setsockopt(*reset_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) {
        close(cfd); close(sfd); return -1;
    }
    /* core.c records the victim's identity (fstat) for its released-descriptor check. */
    struct stat st;
    if (fstat(*victim_fd, &st) != 0) { close(cfd); close(sfd); return -1; }
    return 0;
}

static void victim_close(struct lane *l, int fd) {
    if (close(fd) == 0) { l->close_ok++; return; }
    l->close_failed++;
    /* core.c's check_released: only after a failed close, which Linux never reports. */
    if (fcntl(fd, F_GETFD) != -1) close(fd);
}

static void *lane_main(void *arg) {
    struct lane *l = arg;
    struct shared *sh = l->sh;
    pin(l->cpu);
    int lfd = socket(sh->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    socklen_t alen;
    if (sh->family == AF_INET6) {
        struct sockaddr_in6 *a = (void *)&addr;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        alen = sizeof *a;
    } else {
        struct sockaddr_in *a = (void *)&addr;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        alen = sizeof *a;
    }
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, alen) != 0 || listen(lfd, 128) != 0) l->failed = 1;
    alen = sizeof addr;
    if (!l->failed && getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) l->failed = 1;

    __atomic_fetch_add(&sh->ready, 1, __ATOMIC_ACQ_REL);
    unsigned spins = 0;
    while (LOAD(&sh->ready) < sh->lanes) spin_or_yield(&spins);
    if (l->failed) return NULL;

    l->start_ns = now_ns();
    int reset_fd, victim_fd;
    if (!sh->cross) {
        while (claim(sh)) {
            l->cpu_sum += (uint64_t)sched_getcpu();
            if (open_pair(lfd, &addr, alen, sh, &reset_fd, &victim_fd) != 0) { l->setup_failed++; continue; }
            close(reset_fd);
            victim_close(l, victim_fd);
        }
    } else {
        struct cross x = {.reset_fd = EMPTY, .reset_cpu = l->reset_cpu};
        pthread_t th;
        if (pthread_create(&th, NULL, resetter, &x) != 0) { l->failed = 1; return NULL; }
        uint32_t sense = 0;
        while (claim(sh)) {
            l->cpu_sum += (uint64_t)sched_getcpu();
            if (open_pair(lfd, &addr, alen, sh, &reset_fd, &victim_fd) != 0) { l->setup_failed++; continue; }
            unsigned s2 = 0;
            while (LOAD(&x.reset_fd) != EMPTY) spin_or_yield(&s2);
            STORE(&x.reset_fd, reset_fd);
            barrier_wait(&x.go, &sense);
            victim_close(l, victim_fd);
        }
        unsigned s3 = 0;
        while (LOAD(&x.reset_fd) != EMPTY) spin_or_yield(&s3);
        STORE(&x.reset_fd, QUIT);
        barrier_wait(&x.go, &sense);
        pthread_join(th, NULL);
        l->cpu_sum += x.cpu_sum;
    }
    l->end_ns = now_ns();
    close(lfd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: trial-ref LANES ITERATIONS same-thread|cross-thread server|client 4|6\n");
        return 2;
    }
    int lanes = atoi(argv[1]);
    double iters = strtod(argv[2], NULL);
    if (lanes < 1 || lanes > MAX_LANES || iters < 1) { fprintf(stderr, "trial-ref: bad lanes or iterations\n"); return 2; }
    struct shared sh = {
        .limit = (uint64_t)iters, .lanes = (uint64_t)lanes,
        .family = strcmp(argv[5], "6") == 0 ? AF_INET6 : AF_INET,
        .cross = strcmp(argv[3], "cross-thread") == 0,
        .reset_server = strcmp(argv[4], "client") != 0,
    };

    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    sched_getaffinity(0, sizeof allowed, &allowed);
    int cpus[CPU_SETSIZE], m = 0;
    for (int c = 0; c < CPU_SETSIZE; c++) if (CPU_ISSET(c, &allowed)) cpus[m++] = c;

    static struct lane l[MAX_LANES];
    for (int i = 0; i < lanes; i++) {
        l[i] = (struct lane){.sh = &sh, .cpu = cpus[i % m], .reset_cpu = sh.cross ? cpus[(i + 1) % m] : -1};
        if (pthread_create(&l[i].th, NULL, lane_main, &l[i]) != 0) { perror("trial-ref: pthread_create"); return 1; }
    }
    uint64_t start = UINT64_MAX, end = 0, ok = 0, failed = 0, setup = 0;
    int bad = 0;
    for (int i = 0; i < lanes; i++) {
        pthread_join(l[i].th, NULL);
        bad |= l[i].failed;
        if (l[i].start_ns && l[i].start_ns < start) start = l[i].start_ns;
        if (l[i].end_ns > end) end = l[i].end_ns;
        ok += l[i].close_ok;
        failed += l[i].close_failed;
        setup += l[i].setup_failed;
    }
    if (bad) { fprintf(stderr, "trial-ref: a lane could not start\n"); return 1; }
    uint64_t trials = ok + failed + setup, elapsed = end - start;
    printf("{\"lanes\":%d,\"trials\":%llu,\"elapsedNs\":%llu,\"trialsPerSec\":%.1f,\"closeOk\":%llu,\"closeFailed\":%llu,\"setupFailed\":%llu}\n",
           lanes, (unsigned long long)trials, (unsigned long long)elapsed, elapsed ? trials * 1e9 / elapsed : 0.0,
           (unsigned long long)ok, (unsigned long long)failed, (unsigned long long)setup);
    return 0;
}
