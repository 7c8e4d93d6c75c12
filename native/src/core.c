/*
 * The trial loop. Per trial: a loopback TCP pair from the lane's own
 * listener, SO_LINGER {1,0} on the resetting end, then the resetting close
 * (which sends an RST instead of a FIN) and the victim close as close
 * together in time as the race shape allows. Only syscalls and counter
 * stores happen here; no allocation, no logging.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Spinning is what lets two threads leave a barrier within nanoseconds of
 * each other; yielding after a while keeps oversubscribed runs (more threads
 * than CPUs) from burning whole time slices waiting for a descheduled peer. */
#define SPINS_BEFORE_YIELD 2000

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* Single-writer counters: a plain read plus a relaxed store is enough for a
 * concurrent reader to see monotonically increasing values. */
#define BUMP(p) __atomic_store_n((p), *(p) + 1, __ATOMIC_RELAXED)

#define MAX_STRANGERS_PER_TRIAL 64
/* How long the accept probe waits for the reset connection to be queued; a
 * kernel that drops it from the queue is tallied as EAGAIN after this. */
#define ACCEPT_PROBE_WAIT_MS 10

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif

const char *const cs_call_names[CS_CALL_COUNT] = {"close", "resetClose", "acceptClose", "otherClose",
                                                  "shutdown", "send", "recv", "sockerror", "accept"};
const char *const cs_stage_names[CS_STAGE_COUNT] = {"socket", "connect", "accept", "peercheck", "linger"};
const char *const cs_lane_stage_names[] = {"ok", "listener socket", "bind", "listen", "getsockname", "pin", "resetter thread", "netns",
                                             "lane thread"};

static inline int errno_slot(int err) {
    return (err > 0 && err < CS_ERRNO_SLOTS) ? err : CS_ERRNO_SLOTS - 1;
}

static inline void record_call(struct cs_lane_counters *c, int call, int rc, int err) {
    BUMP(&c->calls[call][rc == 0 ? 0 : errno_slot(err)]);
}

/* Every close the loop makes is tallied: on FreeBSD any of them can report
 * what POSIX does not allow, and a discarded result would hide it. */
static inline void other_close(struct cs_lane_counters *c, int fd) {
    int rc = close(fd);
    record_call(c, CS_CALL_OTHER_CLOSE, rc, errno);
}

static inline void record_cpu(uint64_t *mask) {
    int cpu = cs_os_current_cpu();
    if (cpu >= 0 && cpu < CS_CPU_MASK_WORDS * 64) {
        uint64_t bit = 1ull << (cpu % 64);
        uint64_t *w = &mask[cpu / 64];
        if (!(*w & bit)) __atomic_store_n(w, *w | bit, __ATOMIC_RELAXED);
    }
}

static inline unsigned latency_bucket(uint64_t ns) {
    if (ns < 16) return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    unsigned b = 16u + (msb - CS_LAT_SUB_BITS) * 16u + (unsigned)((ns >> (msb - CS_LAT_SUB_BITS)) & 15u);
    return b < CS_LAT_BUCKETS ? b : CS_LAT_BUCKETS - 1;
}

uint64_t cs_latency_bucket_low(unsigned b) {
    if (b < 16) return b;
    unsigned msb = (b - 16u) / 16u + CS_LAT_SUB_BITS;
    return (uint64_t)(16u + (b - 16u) % 16u) << (msb - CS_LAT_SUB_BITS);
}

static inline void record_skew(struct cs_lane_counters *c, int64_t skew) {
    /* Floor division: -5 ns belongs below zero, not in the zero bucket. */
    int64_t b = skew >= 0 ? skew / CS_SKEW_BUCKET_NS : -((-(skew + 1)) / CS_SKEW_BUCKET_NS) - 1;
    if (b < -CS_SKEW_HALF) BUMP(&c->skew_far[0][latency_bucket((uint64_t)-skew)]);
    else if (b > CS_SKEW_HALF) BUMP(&c->skew_far[1][latency_bucket((uint64_t)skew)]);
    else BUMP(&c->skew[b + CS_SKEW_HALF]);
}

/* Delays are spin-waits on the monotonic clock: sleeping has a granularity of
 * tens of microseconds, far wider than the race window. */
static void spin_ns(int64_t ns) {
    if (ns <= 0) return;
    uint64_t until = cs_os_now_ns() + (uint64_t)ns;
    while (cs_os_now_ns() < until) cpu_relax();
}

static int stop_requested(struct cs_step_shared *step) {
    return LOAD(&step->stop) != 0;
}

/* *trial: the step-wide number of the trial claimed (whose turn the probes take). */
static int claim_trial(struct cs_step_shared *step, uint64_t *trial) {
    if (stop_requested(step)) return 0;
    *trial = __atomic_fetch_add(&step->claimed, 1, __ATOMIC_RELAXED);
    return *trial < LOAD(&step->limit);
}

static void spin_or_yield(unsigned *spins) {
    if (++*spins < SPINS_BEFORE_YIELD) cpu_relax();
    else sched_yield();
}

/* ---- addresses ---------------------------------------------------------- */

struct endpoint {
    struct sockaddr_storage addr;
    socklen_t len;
};

static int same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

static int new_socket(int family) {
#ifdef SOCK_CLOEXEC
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
#ifdef SO_NOSIGPIPE
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return fd;
}

/* The lane's own listener on loopback (or `addr`), port chosen by the kernel. */
static int open_listener(int family, const char *addr, struct endpoint *where, struct cs_lane_counters *c) {
    int fd = new_socket(family);
    if (fd < 0) { c->lane_stage = CS_LANE_LISTEN_SOCKET; c->lane_errno = errno; return -1; }
    memset(where, 0, sizeof *where);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (void *)&where->addr;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        where->len = sizeof *a;
    } else {
        struct sockaddr_in *a = (void *)&where->addr;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        where->len = sizeof *a;
    }
    int stage = CS_LANE_BIND;
    if (addr) {
        void *raw = family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&where->addr)->sin6_addr
                                       : (void *)&((struct sockaddr_in *)&where->addr)->sin_addr;
        if (inet_pton(family, addr, raw) != 1) { errno = EINVAL; goto fail; }
    }
    if (bind(fd, (struct sockaddr *)&where->addr, where->len) != 0) goto fail;
    stage = CS_LANE_LISTEN;
    if (listen(fd, 128) != 0) goto fail;
    /* Non-blocking, so a lane waiting for a client that never comes (a
     * flooded queue, a stolen descriptor) still sees the stop word. */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) goto fail;
    stage = CS_LANE_LISTEN_NAME;
    where->len = sizeof where->addr;
    if (getsockname(fd, (struct sockaddr *)&where->addr, &where->len) != 0) goto fail;
    return fd;
fail:
    c->lane_stage = stage;
    c->lane_errno = errno;
    other_close(c, fd);
    return -1;
}

/* ---- one pair ----------------------------------------------------------- */

struct pair {
    int reset_fd;
    int victim_fd;
    /* The victim socket's identity before the race. An address is not enough:
     * once the RST frees the victim's port, another lane's new socket can be
     * bound to the same one under the same descriptor number. */
    dev_t victim_dev;
    ino_t victim_ino;
};

/* Setup fails in bursts when the machine runs short (no ephemeral port left:
 * EADDRNOTAVAIL; descriptors: EMFILE; a flooded listener). Retrying at once
 * would spend the step's trials in microseconds on one cause; pausing gives
 * the kernel time to free what ran out. Failures closer together than
 * BACKOFF_QUIET_NS double the pause up to BACKOFF_MAX_NS; a quiet spell resets it. */
#define BACKOFF_MIN_NS 20000ull
#define BACKOFF_MAX_NS 1000000ull
#define BACKOFF_QUIET_NS (10 * BACKOFF_MAX_NS)

static void backoff_after_setup_failure(void) {
    static __thread uint64_t last_ns, pause_ns;
    uint64_t now = cs_os_now_ns();
    if (pause_ns == 0 || now - last_ns > BACKOFF_QUIET_NS) pause_ns = BACKOFF_MIN_NS;
    else if ((pause_ns *= 2) > BACKOFF_MAX_NS) pause_ns = BACKOFF_MAX_NS;
    struct timespec ts = {0, (long)pause_ns};
    nanosleep(&ts, NULL);
    last_ns = cs_os_now_ns();
}

static int fail_setup(struct cs_lane_counters *c, int stage, int err, int fd1, int fd2) {
    BUMP(&c->setup[stage][err < 0 ? 0 : errno_slot(err)]);
    if (fd1 >= 0) other_close(c, fd1);
    if (fd2 >= 0) other_close(c, fd2);
    backoff_after_setup_failure();
    return -1;
}

/* Close-on-exec from the start: a process the front end spawns mid-run must
 * not inherit the lanes' sockets. */
static int accept_cloexec(int lfd, struct sockaddr_storage *peer, socklen_t *plen) {
#if defined(__linux__) || defined(__FreeBSD__)
    return accept4(lfd, (struct sockaddr *)peer, plen, SOCK_CLOEXEC);
#else
    int s = accept(lfd, (struct sockaddr *)peer, plen);
    if (s >= 0) fcntl(s, F_SETFD, FD_CLOEXEC);
    return s;
#endif
}

/* Waits for the listener to have a connection, checking the stop word every
 * STOP_POLL_MS. Returns 0 when one is there, EINTR when the step is stopping
 * (no outcome: the caller must not tally it), else the errno to tally. */
#define STOP_POLL_MS 100
static int wait_for_connection(int lfd, struct cs_step_shared *step, int timeout_ms) {
    for (int waited = 0;; waited += STOP_POLL_MS) {
        if (step && stop_requested(step)) return EINTR;
        if (timeout_ms >= 0 && waited >= timeout_ms) return EAGAIN;
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        int wait = timeout_ms >= 0 && timeout_ms - waited < STOP_POLL_MS ? timeout_ms - waited : STOP_POLL_MS;
        int n = poll(&pfd, 1, wait);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) return errno;
    }
}

/* Accepts until our own client shows up: anyone else who connected to the
 * listener is counted and dropped, so strangers never reach the tallies. On
 * loopback the connection is queued by the time connect() returns, so the
 * first accept() nearly always succeeds without a poll. Returns the socket,
 * -1 (failed: *err), -2 (our client never came out of the queue) or
 * ACCEPT_STOPPED. */
#define ACCEPT_STOPPED (-3)
static int accept_own(int lfd, const struct sockaddr_storage *client_name,
                      struct cs_step_shared *step, struct cs_lane_counters *c, int *err) {
    for (int strangers = 0; strangers < MAX_STRANGERS_PER_TRIAL;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int s = accept_cloexec(lfd, &peer, &plen);
        if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int why = wait_for_connection(lfd, step, -1);
            if (why == EINTR) return ACCEPT_STOPPED;
            if (why != 0) { *err = why; return -1; }
            continue;
        }
        if (s < 0) { *err = errno; return -1; }
        strangers++;
        if (same_endpoint(&peer, client_name)) return s;
        BUMP(&c->strangers);
        other_close(c, s);
    }
    *err = -1; /* no errno: our client never came out of the queue */
    return -2;
}

/* 0: the pair is ready; -1: a setup failure, tallied (the trial counts);
 * PAIR_STOPPED: the step stopped while waiting for our own connection, which
 * is no trial at all (a stop, not a failure: nothing is tallied). */
#define PAIR_STOPPED 1
static int open_pair(int lfd, const struct endpoint *listener, const struct cs_lane_config *cfg,
                     struct cs_step_shared *step, struct cs_lane_counters *c, struct pair *p) {
    int cfd = new_socket(cfg->family);
    if (cfd < 0) return fail_setup(c, CS_STAGE_SOCKET, errno, -1, -1);
    if (connect(cfd, (const struct sockaddr *)&listener->addr, listener->len) != 0)
        return fail_setup(c, CS_STAGE_CONNECT, errno, cfd, -1);

    struct sockaddr_storage client_name;
    socklen_t clen = sizeof client_name;
    if (getsockname(cfd, (struct sockaddr *)&client_name, &clen) != 0)
        return fail_setup(c, CS_STAGE_PEERCHECK, errno, cfd, -1);

    int err = 0;
    int sfd = accept_own(lfd, &client_name, step, c, &err);
    if (sfd == ACCEPT_STOPPED) { close(cfd); return PAIR_STOPPED; }
    if (sfd < 0)
        return fail_setup(c, sfd == -2 ? CS_STAGE_PEERCHECK : CS_STAGE_ACCEPT, err, cfd, -1);

    if (cfg->reset_side == CS_RESET_SERVER) {
        p->reset_fd = sfd;
        p->victim_fd = cfd;
    } else {
        p->reset_fd = cfd;
        p->victim_fd = sfd;
    }

    /* l_onoff=1, l_linger=0: close() aborts the connection with an RST
     * instead of a FIN, which is what drops the victim's connection under it. */
    struct linger lg = {1, 0};
    if (setsockopt(p->reset_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
        return fail_setup(c, CS_STAGE_LINGER, errno, cfd, sfd);
    struct stat st;
    if (fstat(p->victim_fd, &st) != 0)
        return fail_setup(c, CS_STAGE_PEERCHECK, errno, cfd, sfd);
    p->victim_dev = st.st_dev;
    p->victim_ino = st.st_ino;
    return 0;
}

/* FreeBSD frees the descriptor even when close() reports ECONNRESET, so a
 * program that retries close() closes whatever reused the number. Tell the
 * user which way this kernel went. Runs only after a failed close. */
static void check_released(struct cs_lane_counters *c, const struct pair *p) {
    if (fcntl(p->victim_fd, F_GETFD) == -1 && errno == EBADF) {
        BUMP(&c->fd_released);
        return;
    }
    /* FreeBSD's soo_stat() leaves st_dev and st_ino zero: there the socket's
     * identity cannot be proven, so the number is never closed again (that
     * kernel always frees it, so it is someone else's: reused). */
    struct stat st;
    if ((p->victim_dev != 0 || p->victim_ino != 0) && fstat(p->victim_fd, &st) == 0 &&
        st.st_dev == p->victim_dev && st.st_ino == p->victim_ino) {
        BUMP(&c->fd_retained);
        other_close(c, p->victim_fd); /* still ours: release it so the lane does not leak */
    } else {
        BUMP(&c->fd_reused); /* released, and another thread already owns the number */
    }
}

/* Its latency is the close(2) alone, probes excluded; t0 is when the close
 * starts (a clock read the caller already made, or 0 to read it here). */
static void victim_close(struct cs_lane_counters *c, const struct pair *p, uint64_t t0) {
    if (t0 == 0) t0 = cs_os_now_ns();
    int rc = close(p->victim_fd);
    int err = errno;
    uint64_t t1 = cs_os_now_ns();
    record_call(c, CS_CALL_VICTIM_CLOSE, rc, err);
    BUMP(&c->close_latency[rc == 0 ? 0 : 1][latency_bucket(t1 - t0)]);
    if (rc != 0) {
        /* Raw, per errno: which errnos count as hits is the front end's rule. */
        uint64_t *first = &c->close_first_error_ns[errno_slot(err)];
        if (*first == 0) __atomic_store_n(first, t1, __ATOMIC_RELAXED);
        check_released(c, p);
    }
    BUMP(&c->done);
}

static void reset_close(struct cs_lane_counters *c, int fd) {
    int rc = close(fd);
    record_call(c, CS_CALL_RESET_CLOSE, rc, errno);
}

/* The other syscalls r164516 changed, on the victim after the RST and before
 * its close. */
static void run_probes(struct cs_lane_counters *c, unsigned probes, int fd) {
    char byte = 0;
    if (probes & CS_PROBE_BIT(CS_CALL_SHUTDOWN)) {
        int rc = shutdown(fd, SHUT_RDWR);
        record_call(c, CS_CALL_SHUTDOWN, rc, errno);
    }
    if (probes & CS_PROBE_BIT(CS_CALL_SEND)) {
        ssize_t n = send(fd, &byte, 1, MSG_NOSIGNAL);
        record_call(c, CS_CALL_SEND, n < 0 ? -1 : 0, errno);
    }
    if (probes & CS_PROBE_BIT(CS_CALL_RECV)) {
        ssize_t n = recv(fd, &byte, 1, MSG_DONTWAIT);
        record_call(c, CS_CALL_RECV, n < 0 ? -1 : 0, errno);
    }
    if (probes & CS_PROBE_BIT(CS_CALL_SOCKERROR)) {
        int pending = 0;
        socklen_t len = sizeof pending;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &len) != 0) pending = errno;
        record_call(c, CS_CALL_SOCKERROR, pending == 0 ? 0 : -1, pending);
    }
}

/* Accept race: a client that resets before the server accepts. FreeBSD
 * answers ECONNABORTED; Linux hands the dead socket over. */
static void accept_probe(int lfd, const struct endpoint *listener, int family,
                         struct cs_step_shared *step, struct cs_lane_counters *c) {
    int cfd = new_socket(family);
    if (cfd < 0) { BUMP(&c->probe_setup[errno_slot(errno)]); return; }
    struct sockaddr_storage name;
    socklen_t len = sizeof name;
    struct linger lg = {1, 0};
    if (connect(cfd, (const struct sockaddr *)&listener->addr, listener->len) != 0 ||
        getsockname(cfd, (struct sockaddr *)&name, &len) != 0 ||
        setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) {
        BUMP(&c->probe_setup[errno_slot(errno)]);
        other_close(c, cfd);
        return;
    }
    other_close(c, cfd);
    for (int strangers = 0; strangers < MAX_STRANGERS_PER_TRIAL;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int s = accept_cloexec(lfd, &peer, &plen);
        if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int why = wait_for_connection(lfd, step, ACCEPT_PROBE_WAIT_MS);
            if (why == EINTR) return; /* the step is stopping: no outcome to tally */
            if (why != 0) { record_call(c, CS_CALL_ACCEPT, -1, why); return; }
            continue;
        }
        if (s < 0) { record_call(c, CS_CALL_ACCEPT, -1, errno); return; }
        int ours = same_endpoint(&peer, &name);
        if (ours) {
            record_call(c, CS_CALL_ACCEPT, 0, 0);
            int rc = close(s);
            record_call(c, CS_CALL_ACCEPT_CLOSE, rc, errno);
            return;
        }
        other_close(c, s);
        BUMP(&c->strangers);
        strangers++;
    }
    record_call(c, CS_CALL_ACCEPT, -1, EAGAIN); /* our client never came out of the queue */
}

/* ---- race shapes -------------------------------------------------------- */

/* The victim's part of a trial, after the RST was sent (or released to be
 * sent): the probes, its close, then the accept race on a fresh connection.
 * started_ns: when the victim began, reused as the close's start when no
 * probe runs in between. */
/* With several probes each trial runs one of them, in turn: a probe run after
 * another sees what that one left (send after a successful shutdown always
 * gets EPIPE), not the socket as the RST left it. */
static unsigned probe_of_turn(unsigned probes, uint64_t turn) {
    unsigned n = (unsigned)__builtin_popcount(probes);
    if (n <= 1) return probes;
    unsigned k = (unsigned)(turn % n);
    for (unsigned bit = 1;; bit <<= 1)
        if ((probes & bit) && k-- == 0) return bit;
}

static void victim_turn(int lfd, const struct endpoint *listener, const struct cs_lane_config *cfg,
                        struct cs_step_shared *step, struct cs_lane_counters *c,
                        const struct pair *p, uint64_t started_ns, uint64_t turn) {
    unsigned probes = probe_of_turn(cfg->probes, turn);
    if (probes) run_probes(c, probes, p->victim_fd);
    victim_close(c, p, probes ? 0 : started_ns);
    if (probes & CS_PROBE_BIT(CS_CALL_ACCEPT)) accept_probe(lfd, listener, cfg->family, step, c);
}

static void run_same_thread(int lfd, const struct endpoint *listener,
                            const struct cs_lane_config *cfg, struct cs_step_shared *step,
                            struct cs_lane_counters *c) {
    struct pair p;
    uint64_t turn; /* the trial's step-wide number: probe turns split exactly however lanes share the trials */
    while (claim_trial(step, &turn)) {
        record_cpu(c->victim_cpus);
        int setup = open_pair(lfd, listener, cfg, step, c, &p);
        if (setup == PAIR_STOPPED) break;
        if (setup != 0) { BUMP(&c->done); continue; }
        /* Back to back on one thread: on kernels that process loopback input
         * asynchronously (FreeBSD's netisr) the RST is handled on another
         * core while this thread is already inside the victim close. The
         * optional spin moves the victim close later into that window, which
         * on netisr kernels opens tens of microseconds after the reset. */
        uint64_t reset_started = cs_os_now_ns();
        reset_close(c, p.reset_fd);
        spin_ns(cfg->skew_ns);
        uint64_t victim_started = cs_os_now_ns();
        victim_turn(lfd, listener, cfg, step, c, &p, victim_started, turn);
        record_skew(c, (int64_t)(victim_started - reset_started));
    }
}

/* Two-party sense-reversing spin barrier. */
struct barrier {
    uint32_t count;
    uint32_t sense;
};

static void barrier_wait(struct barrier *b, uint32_t *local_sense) {
    uint32_t s = *local_sense = !*local_sense;
    if (__atomic_fetch_add(&b->count, 1, __ATOMIC_ACQ_REL) == 1) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        STORE(&b->sense, s);
        return;
    }
    unsigned spins = 0;
    while (LOAD(&b->sense) != s) spin_or_yield(&spins);
}

/* The hand-off slot carries the next reset fd, or QUIT. Quitting through the
 * slot, not a separate flag, keeps the resetter in step: a flag read after
 * the barrier could be seen a round early by a descheduled resetter, which
 * would then leave its last fd open and the victim waiting forever. The
 * resetter empties the slot only after its close, so when the victim can hand
 * off again, last round's resetter timestamp is there to read. */
#define SLOT_EMPTY (-1)
#define SLOT_QUIT (-2)

struct cross {
    struct barrier go;
    int slot;
    int reset_cpu;
    int pin_err;
    int64_t reset_delay_ns;
    uint64_t reset_started_ns; /* when the resetter entered its close, last round */
    struct cs_lane_counters *c;
};

static void *resetter_main(void *arg) {
    struct cross *x = arg;
    uint32_t sense = 0;
    cs_os_name_thread("cs-reset");
    x->pin_err = cs_os_pin_self(x->reset_cpu);
    for (;;) {
        barrier_wait(&x->go, &sense);
        int fd = LOAD(&x->slot);
        if (fd == SLOT_QUIT) break;
        spin_ns(x->reset_delay_ns);
        STORE(&x->reset_started_ns, cs_os_now_ns());
        reset_close(x->c, fd);
        record_cpu(x->c->reset_cpus);
        STORE(&x->slot, SLOT_EMPTY);
    }
    return NULL;
}

/* Waits until the resetter finished what was handed to it last round: it
 * may be descheduled after the barrier (oversubscribed runs). */
static void hand_off(struct cross *x, int value) {
    unsigned spins = 0;
    while (LOAD(&x->slot) != SLOT_EMPTY) spin_or_yield(&spins);
    STORE(&x->slot, value);
}

static int run_cross_thread(int lfd, const struct endpoint *listener,
                            const struct cs_lane_config *cfg, struct cs_step_shared *step,
                            struct cs_lane_counters *c) {
    struct cross x = {.slot = SLOT_EMPTY, .reset_cpu = cfg->reset_cpu, .c = c,
                      .reset_delay_ns = cfg->skew_ns < 0 ? -cfg->skew_ns : 0};
    int64_t victim_delay = cfg->skew_ns > 0 ? cfg->skew_ns : 0;
    pthread_t th;
    int err = pthread_create(&th, NULL, resetter_main, &x);
    if (err != 0) { c->lane_stage = CS_LANE_THREAD; c->lane_errno = err; return -1; }

    uint32_t sense = 0;
    uint64_t victim_started = 0; /* 0: no trial of ours awaits its skew record */
    uint64_t turn;
    struct pair p;
    while (claim_trial(step, &turn)) {
        record_cpu(c->victim_cpus);
        int setup = open_pair(lfd, listener, cfg, step, c, &p);
        if (setup == PAIR_STOPPED) break;
        if (setup != 0) { BUMP(&c->done); continue; }
        hand_off(&x, p.reset_fd);
        if (victim_started) record_skew(c, (int64_t)(victim_started - LOAD(&x.reset_started_ns)));
        /* Both threads leave the barrier together: the RST is sent on one CPU
         * while this thread enters its first syscall on another, each after
         * its own calibrated delay. */
        barrier_wait(&x.go, &sense);
        spin_ns(victim_delay);
        victim_started = cs_os_now_ns();
        victim_turn(lfd, listener, cfg, step, c, &p, victim_started, turn);
    }
    hand_off(&x, SLOT_QUIT);
    if (victim_started) record_skew(c, (int64_t)(victim_started - LOAD(&x.reset_started_ns)));
    barrier_wait(&x.go, &sense);
    pthread_join(th, NULL);
    if (x.pin_err != 0 && cfg->reset_cpu >= 0) c->pinned = 0;
    return 0;
}

/* ---- lane --------------------------------------------------------------- */

static void wait_for_all_lanes(struct cs_step_shared *step) {
    __atomic_fetch_add(&step->ready, 1, __ATOMIC_ACQ_REL);
    unsigned spins = 0;
    while (LOAD(&step->ready) < LOAD(&step->lanes) && !stop_requested(step))
        spin_or_yield(&spins);
}

int cs_run_lane(const struct cs_lane_config *cfg, struct cs_step_shared *step,
                struct cs_lane_counters *c) {
    int pin_err = cs_os_pin_self(cfg->cpu);
    c->pinned = (cfg->cpu >= 0 && pin_err == 0) ? 1 : 0;

    struct endpoint listener;
    int lfd = -1, ns_err = cfg->listen_netns ? cs_os_enter_netns(cfg->listen_netns) : 0;
    if (ns_err == 0) lfd = open_listener(cfg->family, cfg->listen_addr, &listener, c);
    /* The listener stays where it was made; the trials' sockets are the clients'. */
    if (lfd >= 0 && cfg->client_netns && (ns_err = cs_os_enter_netns(cfg->client_netns)) != 0) {
        close(lfd);
        lfd = -1;
    }
    if (ns_err != 0) { c->lane_stage = CS_LANE_NETNS; c->lane_errno = (uint64_t)ns_err; }
    /* Even a failed lane must pass the gate, or the others would wait forever. */
    wait_for_all_lanes(step);
    if (lfd < 0) {
        if (cfg->listen_netns) cs_os_leave_netns();
        return -1;
    }

    STORE(&c->start_ns, cs_os_now_ns());
    int rc = 0;
    if (cfg->race == CS_RACE_CROSS_THREAD)
        rc = run_cross_thread(lfd, &listener, cfg, step, c);
    else
        run_same_thread(lfd, &listener, cfg, step, c);
    STORE(&c->end_ns, cs_os_now_ns());
    other_close(c, lfd);
    /* The worker thread outlives the step: give it back its own namespace. */
    if (cfg->listen_netns) cs_os_leave_netns();
    return rc;
}

/* ---- pieces the remote loop (remote.c) shares -------------------------- */
#include "core-internal.h"
/* Thin exports of the loop's own steps, so the two-host loop tallies every
 * call exactly as the local one does (core-internal.h). */
int cs_claim_trial(struct cs_step_shared *step, uint64_t *trial) { return claim_trial(step, trial); }
int cs_stop_requested(struct cs_step_shared *step) { return stop_requested(step); }
void cs_spin_ns(int64_t ns) { spin_ns(ns); }
void cs_spin_or_yield(unsigned *spins) { spin_or_yield(spins); }
int cs_new_socket(int family) { return new_socket(family); }
int cs_accept_cloexec(int lfd, struct sockaddr_storage *peer, socklen_t *plen) { return accept_cloexec(lfd, peer, plen); }
int cs_wait_for_connection(int lfd, struct cs_step_shared *step, int timeout_ms) { return wait_for_connection(lfd, step, timeout_ms); }
int cs_fail_setup(struct cs_lane_counters *c, int stage, int err, int fd1, int fd2) { return fail_setup(c, stage, err, fd1, fd2); }
void cs_other_close(struct cs_lane_counters *c, int fd) { other_close(c, fd); }
void cs_reset_close(struct cs_lane_counters *c, int fd) { reset_close(c, fd); }
void cs_record_skew(struct cs_lane_counters *c, int64_t skew) { record_skew(c, skew); }
void cs_record_cpu(uint64_t *mask) { record_cpu(mask); }
void cs_victim_close(struct cs_lane_counters *c, int fd, dev_t dev, ino_t ino, uint64_t t0) {
    struct pair p = {.reset_fd = -1, .victim_fd = fd, .victim_dev = dev, .victim_ino = ino};
    victim_close(c, &p, t0);
}
unsigned cs_run_probe_turn(struct cs_lane_counters *c, unsigned probes, uint64_t turn, int fd) {
    unsigned chosen = probe_of_turn(probes, turn);
    if (chosen) run_probes(c, chosen, fd);
    return chosen;
}
