/*
 * LD_PRELOAD shim: gives Linux's close(2) FreeBSD's behaviour from PR
 * kern/159179, so the tool's tally can be checked against a known count.
 *
 * A close() on a TCP socket whose peer reset it (state CLOSE, pending
 * ECONNRESET) returns -1 with ECONNRESET. CLOSE_SHIM_MODE says what happens
 * to the descriptor, which is what the tool's released-descriptor check reports:
 *   release (default)  really closed, as FreeBSD does
 *   keep               left open: a retry is needed and must succeed
 *   reuse              closed, then the number is taken by /dev/null at once
 * CLOSE_SHIM_INJECT_EVERY=N injects only at every Nth close of a reset socket
 * (the others really close and return 0), for sparse hits.
 * CLOSE_SHIM_FAIL_CONNECT_EVERY=N makes every Nth TCP connect() fail with
 * EADDRNOTAVAIL (1: all of them), to exercise setup-failure accounting.
 * CLOSE_SHIM_NO_LINGER=1 makes setsockopt(SO_LINGER) succeed without doing
 * anything: closes then send a FIN, no RST (the injection silently fails).
 * CLOSE_SHIM_ZERO_STAT=1 makes fstat() of a socket report st_dev = st_ino = 0,
 * as FreeBSD's soo_stat() does, so a socket's identity cannot be proven.
 * CLOSE_SHIM_ACCEPT_EAGAIN_EVERY=N makes every Nth accept()/accept4() wait
 * CLOSE_SHIM_ACCEPT_EAGAIN_US microseconds (default 1000) and fail with EAGAIN
 * without taking the connection, as on a kernel whose loopback queues it
 * asynchronously (FreeBSD): the caller must poll and accept again.
 * Each process appends the number it injected to CLOSE_SHIM_COUNT_FILE at
 * exit (a wrapper such as timeout(1) inherits LD_PRELOAD too: sum the lines).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int (*real_close)(int);
static unsigned long long injected;
static int mode; /* 0 release, 1 keep, 2 reuse */
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static unsigned long connects, fail_every;
static int no_linger, zero_stat;
static unsigned long resets_seen, inject_every;
static unsigned long accepts, accept_eagain_every, accept_eagain_us = 1000;

__attribute__((constructor)) static void shim_init(void) {
    real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    const char *m = getenv("CLOSE_SHIM_MODE");
    real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    const char *every = getenv("CLOSE_SHIM_FAIL_CONNECT_EVERY");
    if (every) fail_every = strtoul(every, NULL, 10);
    const char *inject = getenv("CLOSE_SHIM_INJECT_EVERY");
    if (inject) inject_every = strtoul(inject, NULL, 10);
    no_linger = getenv("CLOSE_SHIM_NO_LINGER") != NULL;
    zero_stat = getenv("CLOSE_SHIM_ZERO_STAT") != NULL;
    const char *eagain = getenv("CLOSE_SHIM_ACCEPT_EAGAIN_EVERY");
    if (eagain) accept_eagain_every = strtoul(eagain, NULL, 10);
    const char *eagain_us = getenv("CLOSE_SHIM_ACCEPT_EAGAIN_US");
    if (eagain_us) accept_eagain_us = strtoul(eagain_us, NULL, 10);
    if (m && strcmp(m, "keep") == 0) mode = 1;
    else if (m && strcmp(m, "reuse") == 0) mode = 2;
}

__attribute__((destructor)) static void shim_report(void) {
    const char *path = getenv("CLOSE_SHIM_COUNT_FILE");
    if (!path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "%llu\n", __atomic_load_n(&injected, __ATOMIC_SEQ_CST));
    fclose(f);
}

static int reset_by_peer(int fd) {
    int type = 0, domain = 0, soerr = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return 0;
    len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return 0;
    if (domain != AF_INET && domain != AF_INET6) return 0;
    struct tcp_info ti;
    len = sizeof ti;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || ti.tcpi_state != TCP_CLOSE) return 0;
    /* Reading SO_ERROR consumes it: a second close of a kept descriptor is real. */
    len = sizeof soerr;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == ECONNRESET;
}

int close(int fd) {
    if (!real_close) real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    if (!reset_by_peer(fd)) return real_close(fd);
    if (inject_every > 1 && __atomic_add_fetch(&resets_seen, 1, __ATOMIC_SEQ_CST) % inject_every != 0) return real_close(fd);
    __atomic_add_fetch(&injected, 1, __ATOMIC_SEQ_CST);
    if (mode != 1) real_close(fd);
    if (mode == 2) {
        int other = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (other >= 0 && other != fd) { dup2(other, fd); real_close(other); }
    }
    errno = ECONNRESET;
    return -1;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (fail_every && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
        __atomic_add_fetch(&connects, 1, __ATOMIC_SEQ_CST) % fail_every == 0) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    return real_connect(fd, addr, len);
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len) {
    static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
    if (!real_setsockopt) real_setsockopt = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
    if (no_linger && level == SOL_SOCKET && name == SO_LINGER) return 0;
    return real_setsockopt(fd, level, name, value, len);
}

/* glibc exports both names; code built with 64-bit file offsets calls fstat64. */
int fstat(int fd, struct stat *st) {
    static int (*real)(int, struct stat *);
    if (!real) real = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
    int rc = real(fd, st);
    if (rc == 0 && zero_stat && S_ISSOCK(st->st_mode)) { st->st_dev = 0; st->st_ino = 0; }
    return rc;
}

int fstat64(int fd, struct stat64 *st) {
    static int (*real)(int, struct stat64 *);
    if (!real) real = (int (*)(int, struct stat64 *))dlsym(RTLD_NEXT, "fstat64");
    int rc = real(fd, st);
    if (rc == 0 && zero_stat && S_ISSOCK(st->st_mode)) { st->st_dev = 0; st->st_ino = 0; }
    return rc;
}

/* 1 when this accept must pretend the connection is not queued yet. */
static int accept_not_yet(void) {
    if (!accept_eagain_every || __atomic_add_fetch(&accepts, 1, __ATOMIC_SEQ_CST) % accept_eagain_every != 0) return 0;
    usleep((useconds_t)accept_eagain_us);
    errno = EAGAIN;
    return 1;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    return accept_not_yet() ? -1 : real(fd, addr, len);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    return accept_not_yet() ? -1 : real(fd, addr, len, flags);
}
