/*
 * TEST-ONLY LD_PRELOAD double: EMULATES FreeBSD's close(2) decision from PR
 * kern/159179 on top of Linux's real timing. Not FreeBSD: a model of it.
 *
 * FreeBSD's soclose() checks SS_ISCONNECTED without the connection's lock,
 * calls sodisconnect(), and tcp_usr_disconnect() then finds the connection
 * dropped if the peer's RST was processed meanwhile, returning ECONNRESET
 * after the descriptor is already gone. Here: at close() entry, if the TCP
 * socket is still ESTABLISHED (the unlocked check), spin for an emulated
 * lock window of CLOSE_DOUBLE_WINDOW_NS (default 2000) ns, read TCP_INFO
 * again, and if the RST landed in between (state CLOSE), really close the
 * descriptor and return -1 with ECONNRESET. Where Linux processes the RST
 * inside the resetting close, the victim never sees ESTABLISHED and nothing
 * happens; with RPS on lo (--netns) the RST arrives later, as on FreeBSD.
 * Each process appends its count of emulated failures to
 * CLOSE_DOUBLE_COUNT_FILE at exit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int (*real_close)(int);
static long window_ns = 2000;
static unsigned long long failed;

__attribute__((constructor)) static void init(void) {
    real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    const char *w = getenv("CLOSE_DOUBLE_WINDOW_NS");
    if (w) window_ns = strtol(w, NULL, 10);
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("CLOSE_DOUBLE_COUNT_FILE");
    if (!path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, "%llu\n", __atomic_load_n(&failed, __ATOMIC_SEQ_CST));
    fclose(f);
}

static int tcp_state(int fd) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    int type = 0;
    socklen_t tlen = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM) return -1;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return -1;
    return ti.tcpi_state;
}

static unsigned long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int close(int fd) {
    if (!real_close) real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    if (tcp_state(fd) != TCP_ESTABLISHED) return real_close(fd);
    unsigned long long until = now_ns() + (unsigned long long)window_ns;
    while (now_ns() < until) __asm__ __volatile__("" ::: "memory");
    if (tcp_state(fd) != TCP_CLOSE) return real_close(fd);
    __atomic_add_fetch(&failed, 1, __ATOMIC_SEQ_CST);
    real_close(fd);
    errno = ECONNRESET;
    return -1;
}
