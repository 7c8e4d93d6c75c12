/*
 * The two-host trial loop: this process's side of each trial (see remote.h).
 * Per trial, the victim sends "ready" once its connection is up and spins for
 * "go"; the resetter waits for "ready", sends "go" and makes its SO_LINGER
 * {1,0} close, which puts the RST on the wire right behind the byte. Every
 * wait is bounded by the stop word and cfg->wait_ms, so a peer that goes away
 * never holds a lane. Only syscalls and counter stores; no allocation.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "remote.h"
#include "core-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket (cs_new_socket) */
#endif

/* As core.c: single-writer counters, read concurrently by the front end. */
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define BUMP(p) __atomic_store_n((p), *(p) + 1, __ATOMIC_RELAXED)

#define READY_BYTE 'r'
#define GO_BYTE 'g'
/* The victim polls busily this many times before sleeping in poll(2): the
 * go byte's arrival is the clock its close is timed from, and a wake-up from
 * poll would add tens of microseconds; a bounded spin keeps an
 * oversubscribed machine (both sides on one host) from starving the peer. */
#define SPINS_BEFORE_POLL 2000
#define POLL_SLICE_MS 100
/* No trial, a stop: nothing is tallied (as core.c's PAIR_STOPPED). */
#define STOPPED (-3)

static int to_addr(int family, const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (void *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof *a;
        return inet_pton(AF_INET6, addr, &a->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a = (void *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *len = sizeof *a;
    return inet_pton(AF_INET, addr, &a->sin_addr) == 1 ? 0 : -1;
}

/* The host only: the controller's lanes connect from ports of their own. */
static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

int cs_remote_listen(int family, const char *addr, int *port) {
    struct sockaddr_storage ss;
    socklen_t len;
    if (to_addr(family, addr, 0, &ss, &len) != 0) return -EINVAL;
    int fd = cs_new_socket(family);
    if (fd < 0) return -errno;
    int flags;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0 ||
        (flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        goto fail;
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) goto fail;
    *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
fail:;
    int err = errno;
    close(fd);
    return -err;
}

static uint64_t deadline_after(int64_t ms) {
    return cs_os_now_ns() + (uint64_t)(ms > 0 ? ms : 1) * 1000000ull;
}

/* Sleeps in poll(2) for `events` at most one slice, never past the deadline:
 * 0 to look again, EINTR when the step stops, ETIMEDOUT past the deadline. */
static int wait_slice(int fd, short events, struct cs_step_shared *step, uint64_t deadline) {
    if (cs_stop_requested(step)) return EINTR;
    uint64_t now = cs_os_now_ns();
    if (now >= deadline) return ETIMEDOUT;
    uint64_t left_ms = (deadline - now) / 1000000ull + 1;
    struct pollfd p = {.fd = fd, .events = events};
    poll(&p, 1, left_ms < POLL_SLICE_MS ? (int)left_ms : POLL_SLICE_MS);
    return 0;
}

/* The peer's one byte: 0 with *seen_ns when it arrived, else EINTR (stop),
 * ETIMEDOUT, EPIPE (the peer closed first), EPROTO (another byte) or recv's errno. */
static int await_byte(int fd, char want, int spin, int64_t wait_ms, struct cs_step_shared *step, uint64_t *seen_ns) {
    uint64_t deadline = deadline_after(wait_ms);
    unsigned spins = spin ? 0 : SPINS_BEFORE_POLL;
    for (;;) {
        char b;
        ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
        if (n == 1) {
            *seen_ns = cs_os_now_ns();
            return b == want ? 0 : EPROTO;
        }
        if (n == 0) return EPIPE;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return errno;
        if (spins < SPINS_BEFORE_POLL) {
            spins++;
            continue;
        }
        int why = wait_slice(fd, POLLIN, step, deadline);
        if (why) return why;
    }
}

/* A connection to the peer's lane listener, bounded like every wait: the fd,
 * -1 (*stage, *err set) or STOPPED. Left blocking, as the local loop's are. */
static int connect_peer(const struct cs_remote_config *cfg, const struct sockaddr_storage *to, socklen_t len,
                        struct cs_step_shared *step, int *stage, int *err) {
    int fd = cs_new_socket(cfg->family);
    *stage = CS_STAGE_SOCKET;
    if (fd < 0) { *err = errno; return -1; }
    *stage = CS_STAGE_CONNECT;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) goto fail;
    if (connect(fd, (const struct sockaddr *)to, len) != 0) {
        if (errno != EINPROGRESS) goto fail;
        uint64_t deadline = deadline_after(cfg->wait_ms);
        for (;;) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 0) > 0) break;
            int why = wait_slice(fd, POLLOUT, step, deadline);
            if (why == EINTR) { close(fd); return STOPPED; }
            if (why) { errno = why; goto fail; }
        }
        int pending = 0;
        socklen_t plen = sizeof pending;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &plen) != 0) goto fail;
        if (pending != 0) { errno = pending; goto fail; }
    }
    if (fcntl(fd, F_SETFL, flags) != 0) goto fail;
    return fd;
fail:
    *err = errno;
    *stage = CS_STAGE_CONNECT;
    close(fd); /* tallied by the caller as the failed stage, not as a close */
    return -1;
}

/* The next connection from the controller's host: the fd, -1 (*err) or
 * STOPPED. Anyone else who connects is counted as a stranger and dropped. */
static int accept_ours(int lfd, const struct sockaddr_storage *from, struct cs_step_shared *step,
                       struct cs_lane_counters *c, int *err) {
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int s = cs_accept_cloexec(lfd, &peer, &plen);
        if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int why = cs_wait_for_connection(lfd, step, -1);
            if (why == EINTR) return STOPPED;
            if (why != 0) { *err = why; return -1; }
            continue;
        }
        if (s < 0) { *err = errno; return -1; }
        if (same_host(&peer, from)) return s;
        BUMP(&c->strangers);
        cs_other_close(c, s);
    }
}

/* 0, or STOPPED (the fd is closed untallied). */
static int resetter_trial(const struct cs_remote_config *cfg, struct cs_step_shared *step,
                          struct cs_lane_counters *c, int fd) {
    cs_record_cpu(c->reset_cpus);
    struct linger lg = {1, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) {
        cs_fail_setup(c, CS_STAGE_LINGER, errno, fd, -1);
        BUMP(&c->done);
        return 0;
    }
    uint64_t seen;
    int why = await_byte(fd, READY_BYTE, 0, cfg->wait_ms, step, &seen);
    if (why == EINTR) { close(fd); return STOPPED; }
    char go = GO_BYTE;
    if (why == 0 && send(fd, &go, 1, MSG_NOSIGNAL) != 1) why = errno;
    if (why != 0) {
        cs_fail_setup(c, CS_STAGE_PEERCHECK, why, fd, -1);
        BUMP(&c->done);
        return 0;
    }
    cs_spin_ns(-cfg->skew_ns);
    cs_reset_close(c, fd);
    BUMP(&c->done);
    return 0;
}

static int victim_trial(const struct cs_remote_config *cfg, struct cs_step_shared *step,
                        struct cs_lane_counters *c, int fd, uint64_t turn) {
    struct stat st;
    char ready = READY_BYTE;
    int why = 0;
    if (fstat(fd, &st) != 0 || send(fd, &ready, 1, MSG_NOSIGNAL) != 1) why = errno;
    uint64_t go_seen = 0;
    if (why == 0) why = await_byte(fd, GO_BYTE, 1, cfg->wait_ms, step, &go_seen);
    if (why == EINTR) { close(fd); return STOPPED; }
    if (why != 0) {
        cs_fail_setup(c, CS_STAGE_PEERCHECK, why, fd, -1);
        BUMP(&c->done);
        return 0;
    }
    cs_spin_ns(cfg->skew_ns);
    uint64_t started = cs_os_now_ns();
    unsigned probed = cfg->probes ? cs_run_probe_turn(c, cfg->probes, turn, fd) : 0;
    cs_victim_close(c, fd, st.st_dev, st.st_ino, probed ? 0 : started);
    /* One clock: from the go byte's arrival, less the resetter's own delay
     * after sending it (the RST leaves that much later). */
    int64_t reset_delay = cfg->skew_ns < 0 ? -cfg->skew_ns : 0;
    cs_record_skew(c, (int64_t)(started - go_seen) - reset_delay);
    return 0;
}

int cs_run_remote_lane(const struct cs_remote_config *cfg, struct cs_step_shared *step,
                       struct cs_lane_counters *c) {
    int pin_err = cs_os_pin_self(cfg->cpu);
    c->pinned = (cfg->cpu >= 0 && pin_err == 0) ? 1 : 0;
    struct sockaddr_storage peer;
    socklen_t peer_len = 0;
    int listening = cfg->listen_fd >= 0;
    const char *addr = listening ? cfg->accept_from : cfg->peer_addr;
    if (!addr || to_addr(cfg->family, addr, listening ? 0 : cfg->peer_port, &peer, &peer_len) != 0) {
        c->lane_stage = listening ? CS_LANE_LISTEN_NAME : CS_LANE_BIND;
        c->lane_errno = EINVAL;
        if (listening) cs_other_close(c, cfg->listen_fd);
        return -1;
    }
    STORE(&c->start_ns, cs_os_now_ns());
    uint64_t turn = 0;
    for (;;) {
        int fd, err = 0, stage = CS_STAGE_ACCEPT;
        if (listening) {
            fd = accept_ours(cfg->listen_fd, &peer, step, c, &err);
            if (fd == STOPPED) break;
            /* Claimed only once a connection came: which of serve's lanes
             * gets how many is the controller's split, not ours; the count
             * stays bounded by the plan's trials all the same. */
            if (!cs_claim_trial(step, &turn)) {
                if (fd >= 0) cs_other_close(c, fd);
                break;
            }
        } else {
            if (!cs_claim_trial(step, &turn)) break;
            fd = connect_peer(cfg, &peer, peer_len, step, &stage, &err);
            if (fd == STOPPED) break;
        }
        if (fd < 0) {
            cs_fail_setup(c, stage, err, -1, -1);
            BUMP(&c->done);
            continue;
        }
        int rc = cfg->role == CS_REMOTE_RESETTER ? resetter_trial(cfg, step, c, fd)
                                                 : (cs_record_cpu(c->victim_cpus), victim_trial(cfg, step, c, fd, turn));
        if (rc == STOPPED) break;
    }
    STORE(&c->end_ns, cs_os_now_ns());
    if (listening) cs_other_close(c, cfg->listen_fd);
    return 0;
}
