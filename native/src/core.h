/*
 * close-stress core: the trial loop and the shared-memory layout it writes.
 *
 * The loop is front-end agnostic: the N-API binding (binding.c) and any other
 * front end hand it a zeroed counters block and read the same block back.
 * Counters are 64-bit words written by exactly one thread each (relaxed
 * stores), so a reader on another thread can poll progress without locks.
 */
#ifndef CLOSE_STRESS_CORE_H
#define CLOSE_STRESS_CORE_H

#include <stddef.h>
#include <stdint.h>

/* errno values index the outcome tables directly; larger ones share the last slot. */
#define CS_ERRNO_SLOTS 256
#define CS_CPU_MASK_WORDS 16 /* 1024 CPUs */
#define CS_MAX_LANES 1024

/* Syscalls whose results are tallied. Slot 0 of each row counts successes. */
enum cs_call {
    CS_CALL_VICTIM_CLOSE = 0, /* the close(2) the race is about */
    CS_CALL_RESET_CLOSE,      /* the SO_LINGER {1,0} close that sends the RST */
    CS_CALL_ACCEPT_CLOSE,     /* the accept probe's close of the connection it accepted */
    CS_CALL_OTHER_CLOSE,      /* every other close: strangers, setup cleanup, the accept probe's
                                 resetting client, a retained victim, the listener */
    CS_CALL_SHUTDOWN,         /* probes: on the victim, after the RST, before its close */
    CS_CALL_SEND,
    CS_CALL_RECV,
    CS_CALL_SOCKERROR,        /* the pending error getsockopt(SO_ERROR) reports, not the call's */
    CS_CALL_ACCEPT,           /* accept race: the client resets before the server accepts */
    CS_CALL_COUNT
};

/* Probe bits of cs_lane_config.probes: bit i enables call CS_CALL_SHUTDOWN + i. */
#define CS_PROBE_BIT(call) (1u << ((call) - CS_CALL_SHUTDOWN))
#define CS_PROBE_ALL (CS_PROBE_BIT(CS_CALL_COUNT) - 1u)

/* Victim close() durations, log-linear: exact below 16 ns, then 16 buckets
 * per power of two, up to 2^48 ns. Cheap to update, mergeable by addition. */
#define CS_LAT_SUB_BITS 4
#define CS_LAT_BUCKETS (16 + 44 * 16)

/* Achieved skew (victim start - resetter start): 10 ns buckets over +-10 us,
 * where race windows lie; beyond that, by magnitude in the latency buckets
 * (one row per sign, see skew_far), so that a 50 us or 1 ms skew is measured,
 * never clamped to the edge of the fine range. Linear bucket b covers
 * [b * 10, b * 10 + 10) ns for b in [-CS_SKEW_HALF, CS_SKEW_HALF]. */
#define CS_SKEW_BUCKET_NS 10
#define CS_SKEW_HALF 1000
#define CS_SKEW_BUCKETS (2 * CS_SKEW_HALF + 1)

/* Per-trial setup stages; a failure in one ends that trial (never the run). */
enum cs_stage {
    CS_STAGE_SOCKET = 0,
    CS_STAGE_CONNECT,
    CS_STAGE_ACCEPT,
    CS_STAGE_PEERCHECK, /* getsockname failed, or too many strangers in a row */
    CS_STAGE_LINGER,
    CS_STAGE_COUNT
};

enum cs_race { CS_RACE_SAME_THREAD = 0, CS_RACE_CROSS_THREAD = 1 };
enum cs_side { CS_RESET_SERVER = 0, CS_RESET_CLIENT = 1 };

/* One per step, shared by its lanes: work is claimed, not pre-split, so slow
 * (oversubscribed) lanes do less and the step still runs exactly `limit` trials. */
struct cs_step_shared {
    uint64_t claimed;  /* trials handed out so far (may pass limit by the lane count) */
    uint64_t limit;    /* trials this step should run */
    uint64_t stop;     /* set by the front end to end the step early (signal, deadline) */
    uint64_t ready;    /* lanes that finished their own setup: the start gate */
    uint64_t lanes;    /* lanes in the step */
    uint64_t pad[3];   /* keep the hot `claimed` word off the lanes' lines */
};

/* One per lane (one thread, plus its resetter thread in cross-thread runs). */
struct cs_lane_counters {
    uint64_t done;          /* finished trials: victim close results + setup failures */
    uint64_t start_ns;      /* monotonic clock when the lane passed the start gate */
    uint64_t end_ns;
    uint64_t strangers;     /* accepted connections that were not our own client */
    uint64_t fd_released;   /* victim close failed and the descriptor was gone anyway */
    uint64_t fd_retained;   /* victim close failed and the descriptor was still ours */
    uint64_t fd_reused;     /* victim close failed; the number already named another file */
    uint64_t lane_errno;    /* lane-level failure (listener setup, pinning): its errno */
    uint64_t lane_stage;    /* ... and where: 1 listener socket, 2 bind, 3 listen, 4 getsockname, 5 pin, 6 thread */
    uint64_t pinned;        /* 1 when the lane's threads were pinned */
    uint64_t victim_cpus[CS_CPU_MASK_WORDS]; /* CPUs the victim thread was seen on */
    uint64_t reset_cpus[CS_CPU_MASK_WORDS];  /* CPUs the resetter thread was seen on */
    uint64_t calls[CS_CALL_COUNT][CS_ERRNO_SLOTS];  /* [call][0] = success, [call][errno] */
    uint64_t setup[CS_STAGE_COUNT][CS_ERRNO_SLOTS]; /* [stage][errno]; errno 0 = no errno */
    uint64_t probe_setup[CS_ERRNO_SLOTS];           /* the accept probe's own connection failed */
    uint64_t close_latency[2][CS_LAT_BUCKETS];      /* victim close: [0] returned 0, [1] failed */
    uint64_t close_first_error_ns[CS_ERRNO_SLOTS];  /* victim close: monotonic ns of the first failure, per errno */
    uint64_t skew[CS_SKEW_BUCKETS];                 /* achieved skew: victim start - resetting close start */
    uint64_t skew_far[2][CS_LAT_BUCKETS];           /* ... beyond the fine range: [0] below, [1] above, by |skew| */
};

enum cs_lane_stage {
    CS_LANE_OK = 0,
    CS_LANE_LISTEN_SOCKET,
    CS_LANE_BIND,
    CS_LANE_LISTEN,
    CS_LANE_LISTEN_NAME,
    CS_LANE_PIN,
    CS_LANE_THREAD,
    CS_LANE_NETNS, /* entering the listener's or the clients' network namespace */
    CS_LANE_SPAWN, /* the lane's own thread could not be created (lanes.c) */
    CS_LANE_STAGE_COUNT
};

/* The layout above as a reader sees it: one step block then one block per
 * lane, 64-bit words. Bump the version whenever a field of cs_step_shared or
 * cs_lane_counters moves, grows or changes meaning: journals written by
 * close-stress-core carry the raw words and this number, and readers refuse
 * a version they do not know instead of tallying words under wrong names. */
#define CS_LAYOUT_VERSION 2

struct cs_layout_entry {
    const char *name;
    uint64_t value;
};
/* Both NULL-terminated (layout.c). Lane fields: name -> byte offset in
 * cs_lane_counters. Scalars: version, block sizes, step field offsets, table
 * sizes, under the names src/core/native.ts Layout gives them. */
extern const struct cs_layout_entry cs_layout_lane[];
extern const struct cs_layout_entry cs_layout_scalars[];

/* Names the front ends print for each row; JS keeps the same order (src/core/native.ts). */
extern const char *const cs_call_names[CS_CALL_COUNT];
extern const char *const cs_stage_names[CS_STAGE_COUNT];
extern const char *const cs_lane_stage_names[CS_LANE_STAGE_COUNT];

struct cs_lane_config {
    int family;     /* AF_INET or AF_INET6 */
    int race;       /* enum cs_race */
    int reset_side; /* enum cs_side */
    int cpu;        /* CPU for the victim (calling) thread; -1: do not pin */
    int reset_cpu;  /* CPU for the resetter thread in cross-thread runs; -1: do not pin */
    unsigned probes; /* CS_PROBE_BIT()s */
    int64_t skew_ns; /* > 0 delays the victim; cross-thread: < 0 delays the resetter */
    /* --path veth: the listener is made in listen_netns bound to listen_addr,
     * then the lane thread moves to client_netns, where every per-trial
     * socket() lands. NULL: loopback in the caller's namespace. */
    const char *listen_netns;
    const char *client_netns;
    const char *listen_addr; /* numeric, of `family` */
};

/* The plan's one rule (plan.c): lane i's victim on the i-th allowed CPU,
 * wrapping; its resetter (cross-thread) on the next one; -1 where the OS
 * cannot pin or no CPU is known. Fills cpu[0..lanes) and reset_cpu[0..lanes). */
void cs_plan_lanes(int lanes, int cross_thread, const int *allowed, int allowed_count, int can_pin,
                   int *cpu, int *reset_cpu);

/* Lower bound in ns of a latency bucket (front ends print and merge by it). */
uint64_t cs_latency_bucket_low(unsigned bucket);

/* Runs one lane to completion (limit reached or stop set). Returns 0, or -1
 * when the lane could not start at all (see lane_stage / lane_errno). */
int cs_run_lane(const struct cs_lane_config *cfg, struct cs_step_shared *step,
                struct cs_lane_counters *out);

/* One lane of a step for cs_run_lanes: its config and counters in, its
 * cs_run_lane result out (-1 also when its thread could not start: then
 * lane_stage says CS_LANE_SPAWN). */
struct cs_lane_job {
    struct cs_lane_config cfg;
    struct cs_step_shared *step;
    struct cs_lane_counters *counters;
    int rc;
    int yield_to_driver; /* set by cs_run_lanes: the step has more threads than CPUs */
};

/* Runs jobs[0..n) as one pinned thread each (lanes.c) and returns when all
 * have finished; the lanes of one step may be split over several calls made
 * at once (the step's start gate counts them all). Where the step has more
 * threads than allowed CPUs, lanes run at nice +CS_LANE_NICE (Linux), so the
 * thread that drives them (signals, the stop word, progress) still gets CPU.
 * Returns how many lanes could not start. */
#define CS_LANE_NICE 10
int cs_run_lanes(struct cs_lane_job *jobs, int n);

/* OS-specific pieces (os.c). */
int cs_os_can_pin(void);
int cs_os_allowed_cpus(int *cpus, int max);   /* count, or -errno */
int cs_os_pin_self(int cpu);                  /* 0 or errno */
int cs_os_current_cpu(void);                  /* -1 when unknown */
uint64_t cs_os_now_ns(void);
const char *cs_os_name(void);
/* Moves the calling thread into the network namespace at `path` (a
 * /proc/PID/ns/net file): 0 or errno; ENOTSUP where the OS has none. */
int cs_os_enter_netns(const char *path);
/* Back to the process's own namespace (the main thread's): 0 or errno. */
int cs_os_leave_netns(void);
/* Raises the calling thread's nice by `by` (lowers its priority): 0 or errno;
 * ENOTSUP where nice is per process (FreeBSD, macOS). */
int cs_os_lower_priority(int by);
/* Names the calling thread ("cs-lane"; at most 15 bytes) where the OS can. */
void cs_os_name_thread(const char *name);
/* The CPU's model name ("unknown" where unreadable) and the machine's memory
 * in bytes (0 where unknown), for close-stress-core's environment record. */
void cs_os_cpu_model(char *buf, size_t n);
uint64_t cs_os_memory_bytes(void);
/* sysctlbyname(3): 0, or -errno (-ENOSYS where the OS has no sysctl). buf NULL
 * asks for the size in *len. */
int cs_os_sysctl(const char *name, void *buf, size_t *len);

/* Machine-wide TCP counters (counters.c): every connection on the host
 * counts, not only ours. `meaning` says what the kernel really counts. */
struct cs_tcp_counter {
    const char *name;    /* the kernel's own name: "OutRsts", "tcps_sndctrl" */
    const char *meaning;
    uint64_t value;
};
#define CS_TCP_COUNTERS_MAX 64
/* Fills up to max counters; returns how many, or -errno when none can be
 * read. *source says where they came from ("/proc/net/snmp ...", "sysctl ..."). */
int cs_tcp_counters(struct cs_tcp_counter *out, int max, const char **source);
/* The same, from another network namespace's /proc/PID/net directory (Linux;
 * -ENOTSUP elsewhere): with --path veth only our own traffic counts there. */
int cs_tcp_counters_at(const char *proc_net, struct cs_tcp_counter *out, int max, const char **source);
/* On failure too, *source says why ("... match no known layout ..."). */

/* FreeBSD's struct tcpstat as the running kernel lays it out, chosen by its
 * kern.osreldate and the sysctl's length: a pure function, compiled on every
 * OS so tests can feed it synthetic buffers. Returns the counters decoded, or
 * -ENOTSUP with `why` saying which version or length matched no layout. */
int cs_freebsd_tcpstat_decode(int osreldate, const void *buf, size_t len, struct cs_tcp_counter *out, int max,
                              char *why, size_t why_len);

/* macOS's struct tcpstat (u_int32_t fields) by the running kernel's Darwin
 * major (kern.osrelease): pure, compiled everywhere, like the FreeBSD one. */
int cs_darwin_tcpstat_decode(int darwin_major, const void *buf, size_t len, struct cs_tcp_counter *out, int max,
                             char *why, size_t why_len);

/* The running kernel's version number where it has one (FreeBSD:
 * kern.osreldate, e.g. 1500068); 0 elsewhere. */
int cs_kernel_reldate(void);

/* errno names as this OS's headers define them (errnames.c). */
const char *cs_errno_name(int err);

#endif
