/*
 * A step's lanes as native threads, for every front end: close-stress-core
 * runs all of a step's lanes through here, the binding one group of them per
 * worker thread. A lane then costs a pthread (a stack it barely touches),
 * not a JS worker with its own V8 heap.
 */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

/* A lane's frames are a few sockaddrs deep; the default (8 MiB on Linux) only
 * reserves address space, but 1024 lanes of it is 8 GiB that a strict
 * overcommit policy would count. */
#define LANE_STACK_BYTES (256 * 1024)

static void *lane_main(void *arg) {
    struct cs_lane_job *job = arg;
    cs_os_name_thread("cs-lane");
    /* 256 busy lanes on 2 CPUs left Node's main thread 1/257 of the CPU: a
     * SIGTERM took 40-60 s to reach the handler that sets the stop word. */
    if (job->yield_to_driver) cs_os_lower_priority(CS_LANE_NICE);
    job->rc = cs_run_lane(&job->cfg, job->step, job->counters);
    return NULL;
}

/* Never reaches the start gate itself: pass it for the lane, or the step's
 * other lanes would wait for it forever. */
static void lane_not_started(struct cs_lane_job *job, int err) {
    job->counters->lane_stage = CS_LANE_SPAWN;
    job->counters->lane_errno = (uint64_t)err;
    job->rc = -1;
    __atomic_fetch_add(&job->step->ready, 1, __ATOMIC_ACQ_REL);
}

/* More lane threads in the step than CPUs to run them on. */
static int oversubscribed(const struct cs_lane_job *job) {
    int allowed[CS_CPU_MASK_WORDS * 64];
    int cpus = cs_os_allowed_cpus(allowed, CS_CPU_MASK_WORDS * 64);
    uint64_t threads = job->step->lanes * (job->cfg.race == CS_RACE_CROSS_THREAD ? 2u : 1u);
    return cpus > 0 && threads > (uint64_t)cpus;
}

int cs_run_lanes(struct cs_lane_job *jobs, int n) {
    int yield = n > 0 && oversubscribed(&jobs[0]);
    for (int i = 0; i < n; i++) jobs[i].yield_to_driver = yield;
    pthread_t *threads = calloc(n > 0 ? (size_t)n : 1, sizeof *threads);
    char *started = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!threads || !started) {
        for (int i = 0; i < n; i++) lane_not_started(&jobs[i], ENOMEM);
        free(threads);
        free(started);
        return n;
    }
    pthread_attr_t attr;
    int inited = pthread_attr_init(&attr) == 0;
    int have_attr = inited && pthread_attr_setstacksize(&attr, LANE_STACK_BYTES) == 0;
    /* Lanes take no signals: whoever drives them stops a step through its
     * stop word, and a signal landing on a lane would wake its poll() early
     * (EINTR, which the loop reads as a stop). The threads inherit this mask. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < n; i++) {
        int err = pthread_create(&threads[i], have_attr ? &attr : NULL, lane_main, &jobs[i]);
        started[i] = err == 0;
        if (err != 0) lane_not_started(&jobs[i], err);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (inited) pthread_attr_destroy(&attr);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        if (started[i]) pthread_join(threads[i], NULL);
        failed += jobs[i].rc != 0;
    }
    free(threads);
    free(started);
    return failed;
}
