/*
 * Two hosts (close-stress serve / --peer): one side of each trial per
 * process. The connection comes from a listener (serve) or is made to the
 * peer's (the controller); the role says which end resets and which is the
 * victim. No clock is shared: the resetter sends one byte ("go") right
 * before its resetting close, and the victim times its close from that
 * byte's arrival, so the skew is measured on one clock only.
 */
#ifndef CLOSE_STRESS_REMOTE_H
#define CLOSE_STRESS_REMOTE_H

#include <stdint.h>

#include "core.h"

enum cs_remote_role { CS_REMOTE_RESETTER = 0, CS_REMOTE_VICTIM = 1 };

struct cs_remote_config {
    int family;
    int role;              /* enum cs_remote_role */
    int cpu;               /* -1: do not pin */
    unsigned probes;       /* victim only; CS_PROBE_BIT()s, the accept probe excluded */
    int64_t skew_ns;       /* > 0 delays the victim after the go byte, < 0 the resetting close after sending it */
    int64_t wait_ms;       /* the most one trial waits for the peer (connect, a byte) */
    int listen_fd;         /* >= 0: accept each trial's connection here (serve); the lane closes it */
    const char *accept_from; /* ... and only from this numeric address: others are strangers */
    const char *peer_addr; /* listen_fd < 0: connect to this numeric address ... */
    int peer_port;         /* ... and port */
};

/* A non-blocking close-on-exec listener on addr (numeric, of family), port
 * chosen by the kernel: the fd, or -errno; *port set. */
int cs_remote_listen(int family, const char *addr, int *port);

/* Runs one lane's side until the step's limit or stop. 0, or -1 when the
 * lane could not start (lane_stage / lane_errno). */
int cs_run_remote_lane(const struct cs_remote_config *cfg, struct cs_step_shared *step,
                       struct cs_lane_counters *c);

#endif
