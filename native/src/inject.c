/*
 * close-stress inject: an LD_PRELOAD library that gives a program on Linux
 * FreeBSD's close(2) from PR kern/159179, and watches what the program does
 * next with the descriptor.
 *
 * On FreeBSD, a close() on a TCP socket whose peer's RST is processed while
 * the socket is being closed returns -1 with ECONNRESET, and the descriptor
 * is gone all the same. A program that believes the descriptor is still open
 * (retries close(), or uses it) closes or uses whatever took the number next.
 *
 * The library only measures and records: each injected error, each follow-up
 * on a number whose close() failed, and per-process counters, as one line per
 * event appended (O_APPEND, one write per line) to the file named by
 * CLOSE_STRESS_INJECT_EVENTS. src/inject/inject.ts interprets them.
 *
 * Environment (set by `close-stress inject`, inherited by children):
 *   CLOSE_STRESS_INJECT_EVENTS  file to append events to (required: without it nothing is injected)
 *   CLOSE_STRESS_INJECT_MODE    every:N | prob:P:SEED | race:NS   (default every:1)
 *   CLOSE_STRESS_INJECT_ERRNO   errno value close() fails with (default ECONNRESET)
 */
#ifdef __linux__
#define _GNU_SOURCE
/* node-gyp builds with 64-bit file offsets, which renames open to open64 in the headers: both names are defined here. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Numbers above this are not followed (counted as untracked): a fixed table keeps the hot path free of locks and allocation. */
#define TRACKED_FDS 65536
/* A program that loops on a dead descriptor would flood the file; the count per failed close stays exact. */
#define FOLLOWUPS_WRITTEN 8
#define LINE_MAX_BYTES 1536

enum mode { EVERY, PROBABILITY, RACE };

struct mark {
    uint64_t seq;         /* injection number in inj_pid, 0 = no failed close on this number */
    int32_t inj_pid;
    int32_t fail_tid;     /* thread whose close() failed */
    int32_t reuse_tid;    /* thread that took the number again through an interposed call, 0 = none seen */
    uint32_t followups;
};

static struct mark marks[TRACKED_FDS];
/* The program already read ECONNRESET from this socket (recv, write...), which consumes SO_ERROR. */
static unsigned char reset_seen[TRACKED_FDS];

static int active;
static enum mode mode = EVERY;
static uint64_t every = 1;
static uint64_t prob_threshold; /* inject when the next random 64-bit value is below this */
static uint64_t prob_state;
static long race_ns;
static int inject_errno = ECONNRESET;
static int event_fd = -1;
static char events_path[1024];
static char self_path[512];

/* Per-process counters; reset in a forked child so that totals add up across processes. */
static uint64_t n_closes, n_tcp_closes, n_eligible, n_injected, n_connects, n_accepts, n_syscall_closes,
    n_windows, n_untracked, n_seq;
static int tcp_logged;

#define REAL(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)
REAL(int, close, int);
REAL(long, syscall, long, ...);
REAL(ssize_t, read, int, void *, size_t);
REAL(ssize_t, write, int, const void *, size_t);
REAL(ssize_t, readv, int, const struct iovec *, int);
REAL(ssize_t, writev, int, const struct iovec *, int);
REAL(ssize_t, pread, int, void *, size_t, off_t);
REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
REAL(ssize_t, send, int, const void *, size_t, int);
REAL(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t);
REAL(ssize_t, sendmsg, int, const struct msghdr *, int);
REAL(ssize_t, recv, int, void *, size_t, int);
REAL(ssize_t, recvfrom, int, void *, size_t, int, struct sockaddr *, socklen_t *);
REAL(ssize_t, recvmsg, int, struct msghdr *, int);
REAL(int, shutdown, int, int);
REAL(int, setsockopt, int, int, int, const void *, socklen_t);
REAL(int, getsockopt, int, int, int, void *, socklen_t *);
REAL(int, getpeername, int, struct sockaddr *, socklen_t *);
REAL(int, getsockname, int, struct sockaddr *, socklen_t *);
REAL(int, fcntl, int, int, ...);
REAL(int, fcntl64, int, int, ...);
REAL(int, ioctl, int, unsigned long, ...);
REAL(int, connect, int, const struct sockaddr *, socklen_t);
REAL(int, accept, int, struct sockaddr *, socklen_t *);
REAL(int, accept4, int, struct sockaddr *, socklen_t *, int);
REAL(int, socket, int, int, int);
REAL(int, socketpair, int, int, int, int *);
REAL(int, open, const char *, int, ...);
REAL(int, open64, const char *, int, ...);
REAL(int, openat, int, const char *, int, ...);
REAL(int, openat64, int, const char *, int, ...);
REAL(int, dup, int);
REAL(int, dup2, int, int);
REAL(int, dup3, int, int, int);
REAL(int, pipe, int *);
REAL(int, pipe2, int *, int);
REAL(int, epoll_ctl, int, int, int, void *);
REAL(int, execve, const char *, char *const[], char *const[]);
REAL(int, execvp, const char *, char *const[]);
REAL(int, execvpe, const char *, char *const[], char *const[]);

#define RESOLVE(name) (real_##name ? real_##name : (*(void **)&real_##name = dlsym(RTLD_NEXT, #name), real_##name))

static int tid(void) { return (int)RESOLVE(syscall)(SYS_gettid); }
static int tracked(int fd) { return fd >= 0 && fd < TRACKED_FDS; }

/* ---- one event line, built on the stack ---- */

struct line { char buf[LINE_MAX_BYTES]; size_t len; };

static void put(struct line *l, const char *s) {
    for (; *s && l->len < sizeof l->buf - 2; s++) l->buf[l->len++] = (*s == '\t' || *s == '\n') ? ' ' : *s;
}
static void put_u(struct line *l, uint64_t v) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n && l->len < sizeof l->buf - 2) l->buf[l->len++] = tmp[--n];
}
static void put_i(struct line *l, int64_t v) {
    if (v < 0) { put(l, "-"); put_u(l, (uint64_t)-v); } else put_u(l, (uint64_t)v);
}
static void put_x(struct line *l, uintptr_t v) {
    char tmp[20];
    int n = 0;
    do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    put(l, "0x");
    while (n && l->len < sizeof l->buf - 2) l->buf[l->len++] = tmp[--n];
}
static void field(struct line *l, const char *key) {
    if (l->len < sizeof l->buf - 2) l->buf[l->len++] = '\t';
    put(l, key);
    put(l, "=");
}
static void begin(struct line *l, const char *kind) {
    l->len = 0;
    put(l, kind);
    field(l, "pid"); put_i(l, getpid());
    field(l, "tid"); put_i(l, tid());
}

/* The caller's code address, its module and, for exported symbols, its name; TS resolves the rest from the ELF symbol table. */
static void put_site(struct line *l, void *ra) {
    Dl_info info;
    field(l, "addr"); put_x(l, (uintptr_t)ra);
    if (ra && dladdr(ra, &info) && info.dli_fname) {
        field(l, "mod"); put(l, info.dli_fname[0] ? info.dli_fname : "(main program)");
        field(l, "base"); put_x(l, (uintptr_t)info.dli_fbase);
        if (info.dli_sname) {
            field(l, "sym"); put(l, info.dli_sname);
            field(l, "symoff"); put_x(l, (uintptr_t)ra - (uintptr_t)info.dli_saddr);
        }
    }
}

static void open_events(void) {
    int fd = RESOLVE(open)(events_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    /* Far above the numbers a program gets, so our descriptor never takes the number a failed close released. */
    int high = RESOLVE(fcntl)(fd, F_DUPFD_CLOEXEC, 1000);
    if (high >= 0) { RESOLVE(close)(fd); fd = high; }
    event_fd = fd;
}

static void emit(struct line *l) {
    l->buf[l->len++] = '\n';
    int saved = errno;
    if (event_fd < 0 || RESOLVE(write)(event_fd, l->buf, l->len) < 0) {
        /* The program closed everything (closefrom, close_range): open the file again once. */
        open_events();
        if (event_fd >= 0) RESOLVE(write)(event_fd, l->buf, l->len);
    }
    errno = saved;
}

/* ---- what a descriptor is ---- */

static int fd_open(int fd) { return RESOLVE(fcntl)(fd, F_GETFD) >= 0 || errno != EBADF; }

static int is_tcp(int fd) {
    int v = 0;
    socklen_t len = sizeof v;
    if (RESOLVE(getsockopt)(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) != 0 || v != IPPROTO_TCP) return 0;
    len = sizeof v;
    return RESOLVE(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0 && (v == AF_INET || v == AF_INET6);
}

static int tcp_state(int fd) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (RESOLVE(getsockopt)(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
    return ti.tcpi_state;
}

/*
 * Reset by the peer: Linux's tcp_reset() moves the socket to TCP_CLOSE with
 * sk_err = ECONNRESET. The error is either still pending (SO_ERROR; reading
 * it consumes it, harmless since the socket is being closed) or the program
 * already read it from an interposed call (reset_seen). TCP_CLOSE alone is not
 * enough: a never-connected socket and one whose orderly close went to
 * TIME_WAIT are in TCP_CLOSE too.
 */
static int reset_by_peer(int fd) {
    if (tcp_state(fd) != TCP_CLOSE) return 0;
    if (tracked(fd) && reset_seen[fd]) return 1;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    return RESOLVE(getsockopt)(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == ECONNRESET;
}

static void note_result(int fd, long rc) {
    if (rc < 0 && errno == ECONNRESET && tracked(fd)) reset_seen[fd] = 1;
}

static int decide(uint64_t eligible) {
    if (mode == PROBABILITY) {
        uint64_t x, next;
        x = __atomic_load_n(&prob_state, __ATOMIC_RELAXED);
        do {
            next = x;
            next ^= next << 13; next ^= next >> 7; next ^= next << 17; /* xorshift64 */
        } while (!__atomic_compare_exchange_n(&prob_state, &x, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
        return next < prob_threshold;
    }
    return eligible % every == 0;
}

/* ---- follow-ups on a number whose close() failed ---- */

static void followup(int fd, const char *kind, const char *call, long rc, int err, void *ra) {
    struct mark *m = &marks[fd];
    if (__atomic_fetch_add(&m->followups, 1, __ATOMIC_RELAXED) >= FOLLOWUPS_WRITTEN) return;
    struct line l;
    begin(&l, kind);
    field(&l, "fd"); put_i(&l, fd);
    field(&l, "call"); put(&l, call);
    field(&l, "of"); put_i(&l, m->inj_pid); put(&l, ":"); put_u(&l, m->seq);
    field(&l, "rc"); put_i(&l, rc);
    field(&l, "errno"); put_i(&l, rc < 0 ? err : 0);
    put_site(&l, ra);
    emit(&l);
}

/*
 * A call on a marked number (not close). The thread that took the number
 * again owns it; a use by the thread whose close failed is the bug, and so is
 * any use while the number is free.
 */
static const char *use_kind(int fd, int self) {
    struct mark *m = &marks[fd];
    int reuse = __atomic_load_n(&m->reuse_tid, __ATOMIC_ACQUIRE);
    if (reuse) return self == m->fail_tid && self != reuse ? "use-reused" : NULL;
    if (!fd_open(fd)) return "use-free";
    return self == m->fail_tid ? "use-reused" : NULL;
}

#define USE(fd, call, expr) do {                                                   \
        int fd_ = (fd);                                                             \
        const char *kind_ = NULL;                                                   \
        if (tracked(fd_) && __atomic_load_n(&marks[fd_].seq, __ATOMIC_ACQUIRE)) {   \
            int saved_ = errno;                                                     \
            kind_ = use_kind(fd_, tid());                                           \
            errno = saved_;                                                         \
        }                                                                           \
        rc_ = (expr);                                                               \
        int err_ = errno;                                                           \
        if (kind_) followup(fd_, kind_, call, (long)rc_, err_, __builtin_return_address(0)); \
        note_result(fd_, (long)rc_);                                                \
        errno = err_;                                                               \
    } while (0)

/* A call returned a descriptor: if it took a number whose close failed, that number is reused. */
static void created(int fd, const char *call, void *ra) {
    if (!tracked(fd)) return;
    reset_seen[fd] = 0;
    struct mark *m = &marks[fd];
    if (!__atomic_load_n(&m->seq, __ATOMIC_ACQUIRE)) return;
    int self = tid();
    int none = 0;
    if (!__atomic_compare_exchange_n(&m->reuse_tid, &none, self, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) return;
    int saved = errno;
    /* Taken again by the thread whose close failed: what it does next with the number is its own business. */
    int own = self == m->fail_tid;
    struct line l;
    begin(&l, "reuse");
    field(&l, "fd"); put_i(&l, fd);
    field(&l, "call"); put(&l, call);
    field(&l, "of"); put_i(&l, m->inj_pid); put(&l, ":"); put_u(&l, m->seq);
    if (own) { field(&l, "own"); put(&l, "1"); }
    put_site(&l, ra);
    emit(&l);
    if (own) __atomic_store_n(&m->seq, 0, __ATOMIC_RELEASE);
    errno = saved;
}

static void note_tcp(int fd, const char *call, uint64_t *counter) {
    int saved = errno;
    if (!is_tcp(fd)) { errno = saved; return; }
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
    if (!__atomic_exchange_n(&tcp_logged, 1, __ATOMIC_RELAXED)) {
        struct line l;
        begin(&l, "tcp");
        field(&l, "call"); put(&l, call);
        emit(&l);
    }
    errno = saved;
}

/* ---- close ---- */

static int inject(int fd, const char *call, void *ra, int raced) {
    RESOLVE(close)(fd);
    uint64_t seq = __atomic_add_fetch(&n_seq, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&n_injected, 1, __ATOMIC_RELAXED);
    if (tracked(fd)) {
        struct mark *m = &marks[fd];
        m->inj_pid = getpid();
        m->fail_tid = tid();
        __atomic_store_n(&m->reuse_tid, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&m->followups, 0, __ATOMIC_RELAXED);
        reset_seen[fd] = 0;
        __atomic_store_n(&m->seq, seq, __ATOMIC_RELEASE);
    } else {
        __atomic_add_fetch(&n_untracked, 1, __ATOMIC_RELAXED);
    }
    struct line l;
    begin(&l, "inject");
    field(&l, "fd"); put_i(&l, fd);
    field(&l, "call"); put(&l, call);
    field(&l, "seq"); put_u(&l, seq);
    field(&l, "errno"); put_i(&l, inject_errno);
    if (raced) { field(&l, "raced"); put(&l, "1"); }
    put_site(&l, ra);
    emit(&l);
    errno = inject_errno;
    return -1;
}

/*
 * A close() of a number whose close failed: a retry, unless the number now
 * belongs to whoever closes it (then 0: an ordinary close, which may be
 * injected in turn). Returns 1 with *rc set when it was a retry.
 */
static int close_marked(int fd, const char *call, void *ra, int *rc) {
    struct mark *m = &marks[fd];
    int self = tid();
    int reuse = __atomic_load_n(&m->reuse_tid, __ATOMIC_ACQUIRE);
    const char *kind;
    if (reuse) kind = self == m->fail_tid && self != reuse ? "close-reused" : NULL;
    else if (!fd_open(fd)) kind = "close-free";
    else kind = self == m->fail_tid ? "close-reused" : NULL;
    if (!kind) {
        __atomic_store_n(&m->seq, 0, __ATOMIC_RELEASE);
        return 0;
    }
    *rc = RESOLVE(close)(fd);
    int err = errno;
    followup(fd, kind, call, *rc, err, ra);
    __atomic_store_n(&m->seq, 0, __ATOMIC_RELEASE);
    errno = err;
    return 1;
}

/* This close sends the RST (SO_LINGER {1,0}): it is the resetting side, never the one that races a reset. */
static int sends_reset(int fd) {
    struct linger lg;
    socklen_t len = sizeof lg;
    return RESOLVE(getsockopt)(fd, SOL_SOCKET, SO_LINGER, &lg, &len) == 0 && lg.l_onoff && lg.l_linger == 0;
}

static int close_common(int fd, const char *call, void *ra) {
    __atomic_add_fetch(&n_closes, 1, __ATOMIC_RELAXED);
    if (fd == event_fd && fd >= 0) return 0; /* our own file: the program did not open it */
    if (!active) return RESOLVE(close)(fd);
    int rc;
    if (tracked(fd) && __atomic_load_n(&marks[fd].seq, __ATOMIC_ACQUIRE) && close_marked(fd, call, ra, &rc)) return rc;
    int saved = errno;
    if (!is_tcp(fd)) {
        errno = saved;
        return RESOLVE(close)(fd);
    }
    __atomic_add_fetch(&n_tcp_closes, 1, __ATOMIC_RELAXED);
    if (mode == RACE) {
        /*
         * Emulation of the race, not the race: FreeBSD's window is the time the
         * closing thread holds the socket while another core processes the RST.
         * Here the close waits race_ns while the socket is still connected, then
         * looks again: a reset that landed in the wait is one that raced the close.
         */
        int state = tcp_state(fd);
        if ((state == TCP_ESTABLISHED || state == TCP_CLOSE_WAIT) && !sends_reset(fd)) {
            __atomic_add_fetch(&n_windows, 1, __ATOMIC_RELAXED);
            struct timespec ts = { race_ns / 1000000000L, race_ns % 1000000000L };
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
            if (reset_by_peer(fd)) {
                __atomic_add_fetch(&n_eligible, 1, __ATOMIC_RELAXED);
                return inject(fd, call, ra, 1);
            }
        }
        errno = saved;
        return RESOLVE(close)(fd);
    }
    if (!reset_by_peer(fd)) {
        if (tracked(fd)) reset_seen[fd] = 0;
        errno = saved;
        return RESOLVE(close)(fd);
    }
    if (!decide(__atomic_add_fetch(&n_eligible, 1, __ATOMIC_RELAXED))) {
        if (tracked(fd)) reset_seen[fd] = 0;
        errno = saved;
        return RESOLVE(close)(fd);
    }
    return inject(fd, call, ra, 0);
}

int close(int fd) { return close_common(fd, "close", __builtin_return_address(0)); }

/* libuv (Node) closes with syscall(SYS_close, fd): a preload library sees that only here. */
long syscall(long number, ...) {
    va_list ap;
    long a[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_close) {
        __atomic_add_fetch(&n_syscall_closes, 1, __ATOMIC_RELAXED);
        return close_common((int)a[0], "syscall(SYS_close)", __builtin_return_address(0));
    }
    return RESOLVE(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- calls followed on a number whose close failed ---- */

ssize_t read(int fd, void *b, size_t n) { ssize_t rc_; USE(fd, "read", RESOLVE(read)(fd, b, n)); return rc_; }
ssize_t write(int fd, const void *b, size_t n) { ssize_t rc_; USE(fd, "write", RESOLVE(write)(fd, b, n)); return rc_; }
ssize_t readv(int fd, const struct iovec *v, int n) { ssize_t rc_; USE(fd, "readv", RESOLVE(readv)(fd, v, n)); return rc_; }
ssize_t writev(int fd, const struct iovec *v, int n) { ssize_t rc_; USE(fd, "writev", RESOLVE(writev)(fd, v, n)); return rc_; }
ssize_t pread(int fd, void *b, size_t n, off_t o) { ssize_t rc_; USE(fd, "pread", RESOLVE(pread)(fd, b, n, o)); return rc_; }
ssize_t pwrite(int fd, const void *b, size_t n, off_t o) { ssize_t rc_; USE(fd, "pwrite", RESOLVE(pwrite)(fd, b, n, o)); return rc_; }
ssize_t send(int fd, const void *b, size_t n, int f) { ssize_t rc_; USE(fd, "send", RESOLVE(send)(fd, b, n, f)); return rc_; }
ssize_t sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t al) {
    ssize_t rc_; USE(fd, "sendto", RESOLVE(sendto)(fd, b, n, f, a, al)); return rc_;
}
ssize_t sendmsg(int fd, const struct msghdr *m, int f) { ssize_t rc_; USE(fd, "sendmsg", RESOLVE(sendmsg)(fd, m, f)); return rc_; }
ssize_t recv(int fd, void *b, size_t n, int f) { ssize_t rc_; USE(fd, "recv", RESOLVE(recv)(fd, b, n, f)); return rc_; }
ssize_t recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *al) {
    ssize_t rc_; USE(fd, "recvfrom", RESOLVE(recvfrom)(fd, b, n, f, a, al)); return rc_;
}
ssize_t recvmsg(int fd, struct msghdr *m, int f) { ssize_t rc_; USE(fd, "recvmsg", RESOLVE(recvmsg)(fd, m, f)); return rc_; }
int shutdown(int fd, int how) { int rc_; USE(fd, "shutdown", RESOLVE(shutdown)(fd, how)); return rc_; }
int setsockopt(int fd, int lv, int name, const void *v, socklen_t len) {
    int rc_; USE(fd, "setsockopt", RESOLVE(setsockopt)(fd, lv, name, v, len)); return rc_;
}
int getsockopt(int fd, int lv, int name, void *v, socklen_t *len) {
    int rc_;
    USE(fd, "getsockopt", RESOLVE(getsockopt)(fd, lv, name, v, len));
    /* libuv learns of a reset from SO_ERROR, which reading clears. */
    if (rc_ == 0 && lv == SOL_SOCKET && name == SO_ERROR && v && *(int *)v == ECONNRESET && tracked(fd)) reset_seen[fd] = 1;
    return rc_;
}
int getpeername(int fd, struct sockaddr *a, socklen_t *al) { int rc_; USE(fd, "getpeername", RESOLVE(getpeername)(fd, a, al)); return rc_; }
int getsockname(int fd, struct sockaddr *a, socklen_t *al) { int rc_; USE(fd, "getsockname", RESOLVE(getsockname)(fd, a, al)); return rc_; }
int epoll_ctl(int ep, int op, int fd, void *ev) { int rc_; USE(fd, "epoll_ctl", RESOLVE(epoll_ctl)(ep, op, fd, ev)); return rc_; }
int ioctl(int fd, unsigned long req, ...) {
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int rc_;
    USE(fd, "ioctl", RESOLVE(ioctl)(fd, req, arg));
    return rc_;
}

static int is_dupfd(int cmd) { return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC; }

#define FCNTL_BODY(name)                                                    \
    va_list ap;                                                             \
    va_start(ap, cmd);                                                      \
    void *arg = va_arg(ap, void *);                                         \
    va_end(ap);                                                             \
    int rc_;                                                                \
    USE(fd, #name, RESOLVE(name)(fd, cmd, arg));                            \
    if (rc_ >= 0 && is_dupfd(cmd)) created(rc_, #name, __builtin_return_address(0)); \
    return rc_;

int fcntl(int fd, int cmd, ...) { FCNTL_BODY(fcntl) }
int fcntl64(int fd, int cmd, ...) {
    if (!RESOLVE(fcntl64)) real_fcntl64 = real_fcntl ? real_fcntl : RESOLVE(fcntl);
    FCNTL_BODY(fcntl64)
}

/* ---- calls that hand out numbers: a reuse of a released number shows here ---- */

#define NEW_FD(call, expr) do {                                              \
        rc_ = (expr);                                                         \
        if (rc_ >= 0) { int e_ = errno; created(rc_, call, __builtin_return_address(0)); errno = e_; } \
    } while (0)

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}
int open(const char *p, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    int rc_; NEW_FD("open", RESOLVE(open)(p, flags, m)); return rc_;
}
int open64(const char *p, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    int rc_; NEW_FD("open64", RESOLVE(open64)(p, flags, m)); return rc_;
}
int openat(int d, const char *p, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    int rc_; NEW_FD("openat", RESOLVE(openat)(d, p, flags, m)); return rc_;
}
int openat64(int d, const char *p, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = mode_arg(flags, ap); va_end(ap);
    int rc_; NEW_FD("openat64", RESOLVE(openat64)(d, p, flags, m)); return rc_;
}
int socket(int d, int t, int p) { int rc_; NEW_FD("socket", RESOLVE(socket)(d, t, p)); return rc_; }
int accept(int fd, struct sockaddr *a, socklen_t *al) {
    int rc_;
    USE(fd, "accept", RESOLVE(accept)(fd, a, al));
    if (rc_ >= 0) { created(rc_, "accept", __builtin_return_address(0)); note_tcp(rc_, "accept", &n_accepts); }
    return rc_;
}
int accept4(int fd, struct sockaddr *a, socklen_t *al, int f) {
    int rc_;
    USE(fd, "accept4", RESOLVE(accept4)(fd, a, al, f));
    if (rc_ >= 0) { created(rc_, "accept4", __builtin_return_address(0)); note_tcp(rc_, "accept4", &n_accepts); }
    return rc_;
}
int connect(int fd, const struct sockaddr *a, socklen_t al) {
    int rc_;
    USE(fd, "connect", RESOLVE(connect)(fd, a, al));
    if (a && (a->sa_family == AF_INET || a->sa_family == AF_INET6)) note_tcp(fd, "connect", &n_connects);
    return rc_;
}
int dup(int fd) { int rc_; USE(fd, "dup", RESOLVE(dup)(fd)); if (rc_ >= 0) created(rc_, "dup", __builtin_return_address(0)); return rc_; }
int dup2(int fd, int to) { int rc_; USE(fd, "dup2", RESOLVE(dup2)(fd, to)); if (rc_ >= 0) created(rc_, "dup2", __builtin_return_address(0)); return rc_; }
int dup3(int fd, int to, int f) { int rc_; USE(fd, "dup3", RESOLVE(dup3)(fd, to, f)); if (rc_ >= 0) created(rc_, "dup3", __builtin_return_address(0)); return rc_; }
int socketpair(int d, int t, int p, int sv[2]) {
    int rc = RESOLVE(socketpair)(d, t, p, sv);
    if (rc == 0) { int e = errno; created(sv[0], "socketpair", __builtin_return_address(0)); created(sv[1], "socketpair", __builtin_return_address(0)); errno = e; }
    return rc;
}
int pipe(int fds[2]) {
    int rc = RESOLVE(pipe)(fds);
    if (rc == 0) { int e = errno; created(fds[0], "pipe", __builtin_return_address(0)); created(fds[1], "pipe", __builtin_return_address(0)); errno = e; }
    return rc;
}
int pipe2(int fds[2], int f) {
    int rc = RESOLVE(pipe2)(fds, f);
    if (rc == 0) { int e = errno; created(fds[0], "pipe2", __builtin_return_address(0)); created(fds[1], "pipe2", __builtin_return_address(0)); errno = e; }
    return rc;
}

/* ---- children: where the injection goes on, and where it cannot ---- */

/* The dynamic loader honours LD_PRELOAD only if the new environment still names this library. */
static int env_preloads(char *const envp[]) {
    if (!envp) return 0;
    for (char *const *e = envp; *e; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) == 0 && self_path[0] && strstr(*e + 11, self_path)) return 1;
    }
    return 0;
}

static void note_exec(const char *call, const char *path, char *const envp[], void *ra) {
    int saved = errno;
    struct line l;
    begin(&l, "exec");
    field(&l, "call"); put(&l, call);
    field(&l, "preload"); put(&l, env_preloads(envp) ? "1" : "0");
    put_site(&l, ra);
    field(&l, "path"); put(&l, path ? path : "");
    emit(&l);
    errno = saved;
}

int execve(const char *p, char *const argv[], char *const envp[]) {
    note_exec("execve", p, envp, __builtin_return_address(0));
    return RESOLVE(execve)(p, argv, envp);
}
int execvp(const char *p, char *const argv[]) {
    note_exec("execvp", p, environ, __builtin_return_address(0));
    return RESOLVE(execvp)(p, argv);
}
int execvpe(const char *p, char *const argv[], char *const envp[]) {
    note_exec("execvpe", p, envp, __builtin_return_address(0));
    return RESOLVE(execvpe)(p, argv, envp);
}

/* ---- process start and end ---- */

static void forked_child(void) {
    n_closes = n_tcp_closes = n_eligible = n_injected = n_connects = n_accepts = n_syscall_closes = 0;
    n_windows = n_untracked = 0;
    tcp_logged = 0;
    /* n_seq goes on: a child's injections are told apart from its parent's by pid. */
    struct line l;
    begin(&l, "fork");
    field(&l, "ppid"); put_i(&l, getppid());
    emit(&l);
}

static int parse_mode(const char *m) {
    char *end;
    if (!m || !*m) return 1;
    if (strncmp(m, "every:", 6) == 0) {
        every = strtoull(m + 6, &end, 10);
        return every > 0 && *end == 0;
    }
    if (strncmp(m, "prob:", 5) == 0) {
        double p = strtod(m + 5, &end);
        if (*end != ':' || !(p > 0 && p <= 1)) return 0;
        prob_state = strtoull(end + 1, &end, 10) * 0x9e3779b97f4a7c15ULL + 1;
        prob_threshold = p >= 1 ? UINT64_MAX : (uint64_t)(p * 18446744073709551616.0);
        mode = PROBABILITY;
        return *end == 0;
    }
    if (strncmp(m, "race:", 5) == 0) {
        race_ns = strtol(m + 5, &end, 10);
        mode = RACE;
        return race_ns > 0 && *end == 0;
    }
    return 0;
}

__attribute__((constructor)) static void inject_init(void) {
    const char *path = getenv("CLOSE_STRESS_INJECT_EVENTS");
    if (!path || strlen(path) >= sizeof events_path) return;
    strcpy(events_path, path);
    Dl_info self;
    if (dladdr((void *)inject_init, &self) && self.dli_fname && strlen(self.dli_fname) < sizeof self_path) {
        strcpy(self_path, self.dli_fname);
    }
    open_events();
    int ok = parse_mode(getenv("CLOSE_STRESS_INJECT_MODE"));
    const char *e = getenv("CLOSE_STRESS_INJECT_ERRNO");
    if (e && *e) inject_errno = atoi(e);
    pthread_atfork(NULL, NULL, forked_child);
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    struct line l;
    begin(&l, ok ? "start" : "refused");
    field(&l, "ppid"); put_i(&l, getppid());
    field(&l, "exe"); put(&l, exe);
    emit(&l);
    active = ok;
}

__attribute__((destructor)) static void inject_fini(void) {
    if (event_fd < 0) return;
    struct line l;
    begin(&l, "exit");
    field(&l, "closes"); put_u(&l, n_closes);
    field(&l, "syscall_closes"); put_u(&l, n_syscall_closes);
    field(&l, "tcp_closes"); put_u(&l, n_tcp_closes);
    field(&l, "eligible"); put_u(&l, n_eligible);
    field(&l, "injected"); put_u(&l, n_injected);
    field(&l, "untracked"); put_u(&l, n_untracked);
    field(&l, "windows"); put_u(&l, n_windows);
    field(&l, "connects"); put_u(&l, n_connects);
    field(&l, "accepts"); put_u(&l, n_accepts);
    emit(&l);
}
#else
/* Only Linux is supported: elsewhere the library interposes nothing and `close-stress inject` refuses to run. */
typedef int close_stress_inject_unsupported;
#endif
