/*
 * N-API front of the two-host loop (remote.c): remoteListen, runRemoteLane,
 * closeFd. Registered by binding.c's module init; kept apart so the local
 * lanes' binding stays as it is.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>

#include "binding-memory.h"
#include "remote.h"

void cs_remote_napi_register(napi_env env, napi_value exports);

static napi_value fail(napi_env env, const char *code, const char *msg) {
    napi_throw_error(env, code, msg);
    return NULL;
}

static int prop(napi_env env, napi_value obj, const char *key, napi_value *v, napi_valuetype *t) {
    return napi_get_named_property(env, obj, key, v) != napi_ok || napi_typeof(env, *v, t) != napi_ok ? -1 : 0;
}

static int get_i32(napi_env env, napi_value obj, const char *key, int *out) {
    napi_value v;
    napi_valuetype t;
    return prop(env, obj, key, &v, &t) || t != napi_number || napi_get_value_int32(env, v, out) != napi_ok ? -1 : 0;
}

static int get_f64(napi_env env, napi_value obj, const char *key, double *out) {
    napi_value v;
    napi_valuetype t;
    return prop(env, obj, key, &v, &t) || t != napi_number || napi_get_value_double(env, v, out) != napi_ok || *out != *out ? -1 : 0;
}

/* Absent or undefined: *out NULL; a string that fits: *out = buf. */
static int get_opt_str(napi_env env, napi_value obj, const char *key, char *buf, size_t size, const char **out) {
    napi_value v;
    napi_valuetype t;
    size_t len = 0;
    *out = NULL;
    if (prop(env, obj, key, &v, &t)) return -1;
    if (t == napi_undefined) return 0;
    if (t != napi_string || napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len + 1 >= size) return -1;
    *out = buf;
    return 0;
}

/* remoteListen(family, addr): {fd, port}; throws with the errno's name. */
static napi_value remote_listen(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], out, v;
    int family = 0;
    char addr[64];
    size_t len = 0;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
        napi_get_value_int32(env, argv[0], &family) != napi_ok ||
        napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &len) != napi_ok || len + 1 >= sizeof addr) {
        napi_throw_type_error(env, NULL, "remoteListen(family, numericAddress)");
        return NULL;
    }
    int port = 0;
    int fd = cs_remote_listen(family, addr, &port);
    if (fd < 0) return fail(env, cs_errno_name(-fd) ? cs_errno_name(-fd) : "EIO", strerror(-fd));
    if (napi_create_object(env, &out) != napi_ok) return NULL;
    napi_create_int32(env, fd, &v);
    napi_set_named_property(env, out, "fd", v);
    napi_create_int32(env, port, &v);
    napi_set_named_property(env, out, "port", v);
    return out;
}

/* closeFd(fd): a listener that no lane took over. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    int fd = -1;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
        napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
        napi_throw_type_error(env, NULL, "closeFd(fd)");
        return NULL;
    }
    close(fd);
    return NULL;
}

/* runRemoteLane(memory, stepOffset, laneOffset, config): blocks until the step ends. */
static napi_value run_remote_lane(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) {
        napi_throw_type_error(env, NULL, "runRemoteLane(memory, stepOffset, laneOffset, config)");
        return NULL;
    }
    size_t bytes;
    char *base = cs_napi_shared_memory(env, argv[0], &bytes);
    if (!base) return NULL;
    uint32_t step_off, lane_off;
    if (napi_get_value_uint32(env, argv[1], &step_off) != napi_ok || napi_get_value_uint32(env, argv[2], &lane_off) != napi_ok) {
        napi_throw_type_error(env, NULL, "runRemoteLane: offsets must be integers");
        return NULL;
    }
    if (!cs_offset_fits(step_off, sizeof(struct cs_step_shared), bytes) ||
        !cs_offset_fits(lane_off, sizeof(struct cs_lane_counters), bytes)) {
        napi_throw_range_error(env, NULL, "step or lane offset outside the shared memory");
        return NULL;
    }
    struct cs_remote_config cfg = {.listen_fd = -1};
    int probes = 0;
    double skew = 0, wait_ms = 0;
    char from[64], peer[64];
    if (get_i32(env, argv[3], "family", &cfg.family) || get_i32(env, argv[3], "role", &cfg.role) ||
        get_i32(env, argv[3], "cpu", &cfg.cpu) || get_i32(env, argv[3], "probes", &probes) ||
        get_f64(env, argv[3], "skewNs", &skew) || get_f64(env, argv[3], "waitMs", &wait_ms) ||
        get_opt_str(env, argv[3], "acceptFrom", from, sizeof from, &cfg.accept_from) ||
        get_opt_str(env, argv[3], "peerAddr", peer, sizeof peer, &cfg.peer_addr) ||
        (cfg.role != CS_REMOTE_RESETTER && cfg.role != CS_REMOTE_VICTIM) || probes < 0 ||
        ((unsigned)probes & ~(CS_PROBE_ALL & ~CS_PROBE_BIT(CS_CALL_ACCEPT))) || skew > 1e12 || skew < -1e12 ||
        wait_ms < 1 || wait_ms > 3600e3) {
        napi_throw_type_error(env, NULL, "config needs family, role (0 resetter, 1 victim), cpu, probes (no accept), skewNs, waitMs (1..3600000), acceptFrom or peerAddr");
        return NULL;
    }
    if (cfg.accept_from) {
        if (get_i32(env, argv[3], "listenFd", &cfg.listen_fd) || cfg.listen_fd < 0) {
            napi_throw_type_error(env, NULL, "config with acceptFrom needs listenFd");
            return NULL;
        }
    } else if (!cfg.peer_addr || get_i32(env, argv[3], "peerPort", &cfg.peer_port) || cfg.peer_port < 1 || cfg.peer_port > 65535) {
        napi_throw_type_error(env, NULL, "config needs peerAddr and peerPort (1..65535), or acceptFrom and listenFd");
        return NULL;
    }
    cfg.probes = (unsigned)probes;
    cfg.skew_ns = (int64_t)skew;
    cfg.wait_ms = (int64_t)wait_ms;
    int rc = cs_run_remote_lane(&cfg, (struct cs_step_shared *)(base + step_off),
                                (struct cs_lane_counters *)(base + lane_off));
    napi_value out;
    napi_get_boolean(env, rc == 0, &out);
    return out;
}

void cs_remote_napi_register(napi_env env, napi_value exports) {
    napi_property_descriptor props[] = {
        {"remoteListen", NULL, remote_listen, NULL, NULL, NULL, napi_default, NULL},
        {"runRemoteLane", NULL, run_remote_lane, NULL, NULL, NULL, napi_default, NULL},
        {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
