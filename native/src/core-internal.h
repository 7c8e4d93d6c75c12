/*
 * The trial loop's own steps (core.c), for the two-host loop (remote.c): one
 * definition of how a call is tallied, a setup failure backed off, a victim
 * close timed and its descriptor checked. Not part of the front ends' API.
 */
#ifndef CLOSE_STRESS_CORE_INTERNAL_H
#define CLOSE_STRESS_CORE_INTERNAL_H

#include <sys/types.h>
#include <sys/socket.h>

#include "core.h"

int cs_claim_trial(struct cs_step_shared *step, uint64_t *trial);
int cs_stop_requested(struct cs_step_shared *step);
void cs_spin_ns(int64_t ns);
void cs_spin_or_yield(unsigned *spins);
int cs_new_socket(int family);
int cs_accept_cloexec(int lfd, struct sockaddr_storage *peer, socklen_t *plen);
/* 0 when a connection waits, EINTR when the step is stopping, else an errno. */
int cs_wait_for_connection(int lfd, struct cs_step_shared *step, int timeout_ms);
/* Tallies a setup failure (err < 0: no errno), closes fd1/fd2 when >= 0, backs off; returns -1. */
int cs_fail_setup(struct cs_lane_counters *c, int stage, int err, int fd1, int fd2);
void cs_other_close(struct cs_lane_counters *c, int fd);
void cs_reset_close(struct cs_lane_counters *c, int fd);
void cs_record_skew(struct cs_lane_counters *c, int64_t skew);
void cs_record_cpu(uint64_t *mask);
/* The victim close, timed from t0 (0: from now), its descriptor checked after a failure; counts the trial done. */
void cs_victim_close(struct cs_lane_counters *c, int fd, dev_t dev, ino_t ino, uint64_t t0);
/* Runs this trial's probe (one of `probes`, in turn) on fd; returns the probe bit run, 0 for none. */
unsigned cs_run_probe_turn(struct cs_lane_counters *c, unsigned probes, uint64_t turn, int fd);

#endif
