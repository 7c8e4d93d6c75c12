/*
 * N-API front end of the core. JS owns the memory (a SharedArrayBuffer seen
 * through a BigUint64Array) so that the main thread can read live progress
 * while a worker thread is blocked inside runLanes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <node_api.h>

#include "binding-memory.h"
#include "core.h"

#define CHECK(env, call)                                                     \
    do {                                                                     \
        if ((call) != napi_ok) {                                             \
            napi_throw_error((env), "ERR_CLOSE_STRESS_NAPI", #call " failed"); \
            return NULL;                                                     \
        }                                                                    \
    } while (0)

static napi_value num(napi_env env, double v) {
    napi_value out;
    napi_create_double(env, v, &out);
    return out;
}

static void set(napi_env env, napi_value obj, const char *key, napi_value v) {
    napi_set_named_property(env, obj, key, v);
}

static napi_value str(napi_env env, const char *s) {
    napi_value out;
    napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
    return out;
}

static napi_value names_array(napi_env env, const char *const *names, unsigned n) {
    napi_value arr;
    napi_create_array_with_length(env, n, &arr);
    for (unsigned i = 0; i < n; i++) napi_set_element(env, arr, i, str(env, names[i]));
    return arr;
}

/* Byte offsets of every field, so JS never hard-codes the C struct layout
 * (the same table close-stress-core writes into its journal). */
static napi_value layout(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value o, lane;
    CHECK(env, napi_create_object(env, &o));
    CHECK(env, napi_create_object(env, &lane));
    for (const struct cs_layout_entry *f = cs_layout_lane; f->name; f++)
        set(env, lane, f->name, num(env, (double)f->value));
    set(env, o, "lane", lane);
    for (const struct cs_layout_entry *f = cs_layout_scalars; f->name; f++)
        set(env, o, f->name, num(env, (double)f->value));
    set(env, o, "callNames", names_array(env, cs_call_names, CS_CALL_COUNT));
    set(env, o, "stageNames", names_array(env, cs_stage_names, CS_STAGE_COUNT));
    set(env, o, "laneStageNames", names_array(env, cs_lane_stage_names, CS_LANE_STAGE_COUNT));
    napi_value lows;
    CHECK(env, napi_create_array_with_length(env, CS_LAT_BUCKETS, &lows));
    for (unsigned b = 0; b < CS_LAT_BUCKETS; b++)
        napi_set_element(env, lows, b, num(env, (double)cs_latency_bucket_low(b)));
    set(env, o, "latencyBucketLows", lows);
    return o;
}

/* planLanes(lanes, crossThread, allowedCpus, canPin): [{cpu, resetCpu}] by cs_plan_lanes. */
static napi_value plan_lanes(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    uint32_t lanes = 0, count = 0;
    bool cross = false, can_pin = false, is_array = false;
    if (argc < 4 || napi_get_value_uint32(env, argv[0], &lanes) != napi_ok || lanes > CS_MAX_LANES ||
        napi_get_value_bool(env, argv[1], &cross) != napi_ok || napi_is_array(env, argv[2], &is_array) != napi_ok ||
        !is_array || napi_get_array_length(env, argv[2], &count) != napi_ok || count > CS_CPU_MASK_WORDS * 64 ||
        napi_get_value_bool(env, argv[3], &can_pin) != napi_ok) {
        napi_throw_type_error(env, NULL, "planLanes(lanes <= 1024, crossThread, allowedCpus[], canPin)");
        return NULL;
    }
    int allowed[CS_CPU_MASK_WORDS * 64], cpu[CS_MAX_LANES], reset_cpu[CS_MAX_LANES];
    for (uint32_t i = 0; i < count; i++) {
        napi_value v;
        CHECK(env, napi_get_element(env, argv[2], i, &v));
        CHECK(env, napi_get_value_int32(env, v, &allowed[i]));
    }
    cs_plan_lanes((int)lanes, cross, allowed, (int)count, can_pin, cpu, reset_cpu);
    napi_value out;
    CHECK(env, napi_create_array_with_length(env, lanes, &out));
    for (uint32_t i = 0; i < lanes; i++) {
        napi_value lane;
        CHECK(env, napi_create_object(env, &lane));
        set(env, lane, "cpu", num(env, cpu[i]));
        set(env, lane, "resetCpu", num(env, reset_cpu[i]));
        napi_set_element(env, out, i, lane);
    }
    return out;
}

static napi_value platform(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value o, cpus, names, b;
    CHECK(env, napi_create_object(env, &o));
    set(env, o, "os", str(env, cs_os_name()));
    CHECK(env, napi_get_boolean(env, cs_os_can_pin(), &b));
    set(env, o, "canPin", b);

    static int list[CS_CPU_MASK_WORDS * 64];
    int n = cs_os_allowed_cpus(list, CS_CPU_MASK_WORDS * 64);
    if (n < 0) {
        napi_throw_error(env, cs_errno_name(-n), "cannot read the allowed CPU set");
        return NULL;
    }
    CHECK(env, napi_create_array_with_length(env, (size_t)n, &cpus));
    for (int i = 0; i < n; i++) napi_set_element(env, cpus, (uint32_t)i, num(env, list[i]));
    set(env, o, "allowedCpus", cpus);
    int reldate = cs_kernel_reldate();
    if (reldate > 0) set(env, o, "osreldate", num(env, reldate));

    /* errno number -> name, as this OS numbers them. */
    CHECK(env, napi_create_object(env, &names));
    for (int e = 1; e < CS_ERRNO_SLOTS; e++) {
        const char *name = cs_errno_name(e);
        if (name) {
            char key[8];
            snprintf(key, sizeof key, "%d", e);
            set(env, names, key, str(env, name));
        }
    }
    set(env, o, "errnoNames", names);
    set(env, o, "AF_INET", num(env, AF_INET));
    set(env, o, "AF_INET6", num(env, AF_INET6));
    return o;
}

static int get_int(napi_env env, napi_value obj, const char *key, int *out) {
    napi_value v;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok) return -1;
    return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

/* 0 with *out NULL when the key is absent or undefined, 0 with *out = buf
 * for a string that fits, -1 otherwise. */
static int get_str(napi_env env, napi_value obj, const char *key, char *buf, size_t size, const char **out) {
    napi_value v;
    napi_valuetype t;
    size_t len = 0;
    *out = NULL;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok) return -1;
    if (t == napi_undefined) return 0;
    if (t != napi_string || napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len + 1 >= size) return -1;
    *out = buf;
    return 0;
}

/* A lane config from JS. The netns strings land in `strings`, which must
 * outlive the lane (cfg points into it). */
struct lane_strings {
    char listen_ns[256], client_ns[256], listen_addr[64];
};

static int read_config(napi_env env, napi_value obj, struct cs_lane_config *cfg, struct lane_strings *strings) {
    memset(cfg, 0, sizeof *cfg);
    if (get_int(env, obj, "family", &cfg->family) || get_int(env, obj, "race", &cfg->race) ||
        get_int(env, obj, "resetSide", &cfg->reset_side) || get_int(env, obj, "cpu", &cfg->cpu) ||
        get_int(env, obj, "resetCpu", &cfg->reset_cpu)) {
        napi_throw_type_error(env, NULL, "config needs family, race, resetSide, cpu, resetCpu");
        return -1;
    }
    int probes = 0;
    double skew = 0;
    napi_value v;
    if (get_int(env, obj, "probes", &probes) || probes < 0 || (unsigned)probes > CS_PROBE_ALL ||
        napi_get_named_property(env, obj, "skewNs", &v) != napi_ok ||
        napi_get_value_double(env, v, &skew) != napi_ok || skew != skew || skew > 1e12 || skew < -1e12) {
        napi_throw_type_error(env, NULL, "config needs probes (bit set) and skewNs (ns, |skew| <= 1e12)");
        return -1;
    }
    /* Optional strings (--path veth): absent or undefined leaves them NULL. */
    if (get_str(env, obj, "listenNetns", strings->listen_ns, sizeof strings->listen_ns, &cfg->listen_netns) ||
        get_str(env, obj, "clientNetns", strings->client_ns, sizeof strings->client_ns, &cfg->client_netns) ||
        get_str(env, obj, "listenAddr", strings->listen_addr, sizeof strings->listen_addr, &cfg->listen_addr)) {
        napi_throw_type_error(env, NULL, "config listenNetns, clientNetns, listenAddr must be short strings");
        return -1;
    }
    cfg->probes = (unsigned)probes;
    cfg->skew_ns = (int64_t)skew;
    return 0;
}

/* runLanes(memory: BigUint64Array, stepOffset, lanes: [{laneOffset, config}]):
 * runs the lanes as pinned threads (cs_run_lanes) and blocks the calling
 * (worker) thread until the step is done or stopped; one boolean per lane,
 * false where it could not start. */
static napi_value run_lanes(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    bool is_array = false;
    uint32_t n = 0;
    if (argc < 3 || napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array ||
        napi_get_array_length(env, argv[2], &n) != napi_ok || n > CS_MAX_LANES) {
        napi_throw_type_error(env, NULL, "runLanes(memory, stepOffset, lanes: [{laneOffset, config}], at most 1024)");
        return NULL;
    }
    size_t bytes;
    char *base = cs_napi_shared_memory(env, argv[0], &bytes);
    if (!base) return NULL;
    uint32_t step_off;
    CHECK(env, napi_get_value_uint32(env, argv[1], &step_off));
    if (!cs_offset_fits(step_off, sizeof(struct cs_step_shared), bytes)) {
        napi_throw_range_error(env, NULL, "step offset outside the shared memory");
        return NULL;
    }
    struct cs_lane_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    struct lane_strings *strings = calloc(n ? n : 1, sizeof *strings);
    if (!jobs || !strings) {
        free(jobs);
        free(strings);
        napi_throw_error(env, "ENOMEM", "runLanes: out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        napi_value lane, v;
        uint32_t lane_off = 0;
        if (napi_get_element(env, argv[2], i, &lane) != napi_ok || napi_get_named_property(env, lane, "laneOffset", &v) != napi_ok ||
            napi_get_value_uint32(env, v, &lane_off) != napi_ok || !cs_offset_fits(lane_off, sizeof(struct cs_lane_counters), bytes)) {
            napi_throw_range_error(env, NULL, "lane offset outside the shared memory");
            goto fail;
        }
        if (napi_get_named_property(env, lane, "config", &v) != napi_ok || read_config(env, v, &jobs[i].cfg, &strings[i]) != 0) goto fail;
        jobs[i].step = (struct cs_step_shared *)(base + step_off);
        jobs[i].counters = (struct cs_lane_counters *)(base + lane_off);
    }
    cs_run_lanes(jobs, (int)n);
    napi_value out;
    if (napi_create_array_with_length(env, n, &out) != napi_ok) goto fail;
    for (uint32_t i = 0; i < n; i++) {
        napi_value ok;
        napi_get_boolean(env, jobs[i].rc == 0, &ok);
        napi_set_element(env, out, i, ok);
    }
    free(jobs);
    free(strings);
    return out;
fail:
    free(jobs);
    free(strings);
    return NULL;
}

/* tcpCounters(): the kernel's machine-wide TCP counters now; callers diff two reads. */
static napi_value tcp_counters(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    struct cs_tcp_counter list[CS_TCP_COUNTERS_MAX];
    const char *source = "";
    /* tcpCounters(procNetDir?): another namespace's /proc/PID/net (--path veth). */
    char dir[256];
    const char *at = NULL;
    if (argc >= 1) {
        napi_value holder;
        CHECK(env, napi_create_object(env, &holder));
        set(env, holder, "dir", argv[0]);
        if (get_str(env, holder, "dir", dir, sizeof dir, &at)) {
            napi_throw_type_error(env, "ERR_CLOSE_STRESS_ARG", "tcpCounters(procNetDir) takes a short string");
            return NULL;
        }
    }
    int n = at ? cs_tcp_counters_at(at, list, CS_TCP_COUNTERS_MAX, &source)
               : cs_tcp_counters(list, CS_TCP_COUNTERS_MAX, &source);
    if (n < 0) {
        char why[320];
        snprintf(why, sizeof why, "cannot read the kernel's TCP counters: %s", source);
        napi_throw_error(env, cs_errno_name(-n), why);
        return NULL;
    }
    napi_value o, counters, meanings;
    CHECK(env, napi_create_object(env, &o));
    CHECK(env, napi_create_object(env, &counters));
    CHECK(env, napi_create_object(env, &meanings));
    for (int i = 0; i < n; i++) {
        set(env, counters, list[i].name, num(env, (double)list[i].value));
        set(env, meanings, list[i].name, str(env, list[i].meaning));
    }
    set(env, o, "source", str(env, source));
    set(env, o, "counters", counters);
    set(env, o, "meanings", meanings);
    return o;
}

/* fdLimit(): the RLIMIT_NOFILE soft and hard limits (Infinity when unlimited),
 * so the plan can fit its lanes under `ulimit -n` instead of failing mid-run. */
static napi_value fd_limit(napi_env env, napi_callback_info info) {
    (void)info;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        napi_throw_error(env, cs_errno_name(errno), "getrlimit(RLIMIT_NOFILE) failed");
        return NULL;
    }
    napi_value o;
    CHECK(env, napi_create_object(env, &o));
    set(env, o, "soft", num(env, rl.rlim_cur == RLIM_INFINITY ? 1.0 / 0.0 : (double)rl.rlim_cur));
    set(env, o, "hard", num(env, rl.rlim_max == RLIM_INFINITY ? 1.0 / 0.0 : (double)rl.rlim_max));
    return o;
}

/* sysctl(name): the value's raw bytes as a Buffer, or null where the name is
 * unknown or the OS has no sysctl (Linux). TypeScript decodes them. */
static napi_value sysctl_raw(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], out;
    CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    char name[256];
    size_t name_len = 0;
    if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok) {
        napi_throw_type_error(env, "ERR_CLOSE_STRESS_ARG", "sysctl(name) takes a string");
        return NULL;
    }
    /* Tables such as net.isr.work can grow between the size query and the
     * read: ask again with room to spare until the read fits. */
    for (int attempt = 0; attempt < 4; attempt++) {
        size_t len = 0;
        int rc = cs_os_sysctl(name, NULL, &len);
        if (rc == 0) {
            len += len / 4 + 64;
            void *buf = malloc(len);
            if (!buf) {
                napi_throw_error(env, "ENOMEM", "sysctl: out of memory");
                return NULL;
            }
            rc = cs_os_sysctl(name, buf, &len);
            if (rc == 0) {
                napi_status st = napi_create_buffer_copy(env, len, buf, NULL, &out);
                free(buf);
                CHECK(env, st);
                return out;
            }
            free(buf);
            if (rc == -ENOMEM) continue;
        }
        if (rc == -ENOENT || rc == -ENOSYS || rc == -ENOTDIR || rc == -EOPNOTSUPP) break;
        napi_throw_error(env, cs_errno_name(-rc), "sysctl read failed");
        return NULL;
    }
    CHECK(env, napi_get_null(env, &out));
    return out;
}

void cs_remote_napi_register(napi_env env, napi_value exports); /* binding-remote.c */

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
    napi_property_descriptor props[] = {
        {"layout", NULL, layout, NULL, NULL, NULL, napi_default, NULL},
        {"platform", NULL, platform, NULL, NULL, NULL, napi_default, NULL},
        {"planLanes", NULL, plan_lanes, NULL, NULL, NULL, napi_default, NULL},
        {"runLanes", NULL, run_lanes, NULL, NULL, NULL, napi_default, NULL},
        {"tcpCounters", NULL, tcp_counters, NULL, NULL, NULL, napi_default, NULL},
        {"fdLimit", NULL, fd_limit, NULL, NULL, NULL, napi_default, NULL},
        {"sysctl", NULL, sysctl_raw, NULL, NULL, NULL, napi_default, NULL},
    };
    if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok)
        return NULL;
    cs_remote_napi_register(env, exports);
    return exports;
}
