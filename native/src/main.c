/*
 * close-stress-core: the C core without Node, for a machine that has only a
 * C compiler (a freshly built test kernel in a VM). What it still does:
 *
 *  - parses the few options it runs: core counts (an exact list), lanes per
 *    core, trials per step, race shape, reset side, address family, probes,
 *    one fixed skew, the journal file. Sweeps, repeats, durations and
 *    verdicts are close-stress's;
 *  - per step, places the lanes with cs_plan_lanes (the rule the CLI's plan
 *    uses too), runs them as pinned threads by cs_run_lanes (lanes.c, what
 *    the CLI's workers call too), and reads the kernel's TCP counters before
 *    and after;
 *  - writes what was measured, raw, as an fsynced JSONL journal: the options,
 *    the environment and this OS's errno names, the memory layout with its
 *    version (cs_layout_*), then per step the lanes' CPUs, the non-zero 64-bit
 *    words of the step's memory exactly as the binding's SharedArrayBuffer
 *    holds them, and the kernel counters before and after.
 *
 * It tallies nothing: `close-stress report JOURNAL` (and compare, --html)
 * reads the words through the same tally code as a live run (src/result/journal.ts,
 * src/tally/tally.ts). Its one judgement is the exit status: a step in which a lane
 * could not start, or no trial got past its setup, ends the run with 1.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>


#ifndef CS_TOOL_VERSION
#define CS_TOOL_VERSION "0.1.0"
#endif
#define TOOL "close-stress-core"
#define MAX_SKEW_NS 1000000 /* what the CLI accepts (src/options/options.ts MAX_SKEW_NS) */
#define JLIT(j, literal) jraw((j), (literal), sizeof(literal) - 1)
#define SAFE_LIMIT 9007199254740991ull /* 2^53 - 1: the journal's numbers stay exact in JSON */

static const char *const race_names[] = {"same-thread", "cross-thread"};
static const char *const side_names[] = {"server", "client"};

struct options {
    int cores[CS_MAX_LANES];
    int steps;
    int lanes_per_core; /* K lanes pinned to each CPU of a step; the step is still N cores */
    uint64_t iterations;
    int race, reset_side, family;
    unsigned probes;
    int skew_set;
    int64_t skew_ns;
    const char *journal; /* NULL: stdout */
    int force;
};

/* ---- options: one line and exit 2 for anything else ---------------------- */

static void usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs(TOOL ": error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void help(void) {
    printf(
        "Usage: " TOOL " [options]\n"
        "\n"
        "Races a TCP peer's RST against close(2) on loopback (FreeBSD PR kern/159179) and journals\n"
        "the raw counters; `close-stress report JOURNAL` tallies and judges them.\n"
        "\n"
        "Options:\n"
        "  --cores <list>        core counts, one step each, exactly these: 1,2,4 (default: allowed CPUs)\n"
        "  --lanes-per-core <k>  K lanes pinned to each CPU of a step: N cores run N*K lanes (default: 1)\n"
        "  --iterations <n>      trials per step: 100000 or 1e5 (default: 100000)\n"
        "  --race <shape>        same-thread or cross-thread (default: same-thread)\n"
        "  --reset-side <side>   server or client: which end sends the RST (default: server)\n"
        "  --family <4|6>        IPv4 (127.0.0.1) or IPv6 (::1) loopback (default: 4)\n"
        "  --probe <list>        also run on the victim after the RST: shutdown,send,recv,sockerror,accept or all\n"
        "  --skew <n>ns|<n>us    delay the victim close (cross-thread: negative delays the resetter;\n"
        "                        same-thread: a spin between the resetting and the victim close, >= 0)\n"
        "  --journal <file>      write the journal here (default: stdout)\n"
        "  --force               overwrite an existing --journal file\n"
        "  -V, --version         print the version\n"
        "  -h, --help            print this help\n"
        "\n"
        "Exit status: 0 completed, 1 failed, 2 bad usage, 130/143 stopped by SIGINT/SIGTERM\n"
        "(the steps finished so far are in the journal either way).\n");
}

/* Digits, or digits then e and digits (1e6); 1 to 2^53 - 1. */
static uint64_t parse_count(const char *text, const char *flag) {
    const char *p = text;
    uint64_t v = 0;
    int big = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (SAFE_LIMIT - (uint64_t)(*p - '0')) / 10) big = 1;
        else v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p > text && (*p == 'e' || *p == 'E') && isdigit((unsigned char)p[1])) {
        int exp = 0;
        for (p++; isdigit((unsigned char)*p); p++) exp = exp < 100 ? exp * 10 + (*p - '0') : exp;
        for (; exp > 0 && v != 0; exp--) {
            if (v > SAFE_LIMIT / 10) big = 1;
            else v *= 10;
        }
    }
    if (p == text || *p != '\0' || (v == 0 && !big))
        usage_error("%s takes a positive integer (100000 or 1e5), not '%s'", flag, text);
    if (big) usage_error("%s must be below 2^53, not '%s'", flag, text);
    return v;
}

static void parse_cores(const char *text, struct options *o) {
    char copy[8192];
    if (snprintf(copy, sizeof copy, "%s", text) >= (int)sizeof copy) usage_error("--cores list too long");
    /* strtok would skip empty parts (2,,4); split by hand so they are refused. */
    for (char *part = copy, *next; part; part = next) {
        next = strchr(part, ',');
        if (next) *next++ = '\0';
        uint64_t c = parse_count(part, "--cores");
        if (c > CS_MAX_LANES) usage_error("--cores takes at most %d per step, not %s", CS_MAX_LANES, part);
        for (int i = 0; i < o->steps; i++)
            if (o->cores[i] == (int)c) usage_error("--cores lists a core count twice: '%s'", text);
        if (o->steps == CS_MAX_LANES) usage_error("--cores lists more than %d steps", CS_MAX_LANES);
        o->cores[o->steps++] = (int)c;
    }
}

static int parse_choice(const char *text, const char *flag, const char *a, const char *b) {
    if (strcmp(text, a) == 0) return 0;
    if (strcmp(text, b) == 0) return 1;
    usage_error("%s takes %s or %s, not '%s'", flag, a, b, text);
    return -1;
}

/* Probe names from the core's own table (cs_call_names), or all. */
static unsigned parse_probes(const char *text) {
    if (strcmp(text, "all") == 0) return CS_PROBE_ALL;
    unsigned bits = 0;
    for (const char *p = text;; p++) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int c = CS_CALL_SHUTDOWN; c < CS_CALL_COUNT; c++)
            if (strlen(cs_call_names[c]) == n && strncmp(p, cs_call_names[c], n) == 0) found = c;
        if (found < 0) usage_error("--probe takes a list of shutdown, send, recv, sockerror, accept or all, not '%.*s'", (int)n, p);
        if (bits & CS_PROBE_BIT(found)) usage_error("--probe lists a probe twice: '%s'", text);
        bits |= CS_PROBE_BIT(found);
        p += n;
        if (!*p) break;
    }
    return bits;
}

static int64_t parse_skew(const char *text) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    int64_t unit = strcmp(end, "ns") == 0 || (*end == '\0' && v == 0) ? 1 : strcmp(end, "us") == 0 ? 1000 : 0;
    if (end == text || !isdigit((unsigned char)end[-1]) || unit == 0 || errno)
        usage_error("--skew takes whole nanoseconds or microseconds (300ns, -2us), not '%s'", text);
    if (v > MAX_SKEW_NS / unit || v < -MAX_SKEW_NS / unit) usage_error("--skew takes at most 1ms either way, not '%s'", text);
    return (int64_t)v * unit;
}

static void parse_args(int argc, char **argv, int allowed, struct options *o) {
    const char *cores = NULL, *iterations = "100000", *race = "same-thread", *side = "server";
    const char *family = "4", *probes = NULL, *skew = NULL, *per_core = "1";
    const struct { const char *flag; const char **slot; } valued[] = {
        {"--cores", &cores}, {"--lanes-per-core", &per_core}, {"--iterations", &iterations}, {"--race", &race}, {"--reset-side", &side},
        {"--family", &family}, {"--probe", &probes}, {"--skew", &skew}, {"--journal", &o->journal},
    };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) { help(); exit(0); }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) { puts(CS_TOOL_VERSION); exit(0); }
        if (strcmp(arg, "--force") == 0) { o->force = 1; continue; }
        size_t k = 0, n = sizeof valued / sizeof valued[0];
        for (; k < n; k++) {
            size_t len = strlen(valued[k].flag);
            if (strncmp(arg, valued[k].flag, len) != 0 || (arg[len] != '\0' && arg[len] != '=')) continue;
            if (arg[len] == '=') *valued[k].slot = arg + len + 1;
            /* `--journal --force` must not create a file named --force: a flag is not a value. */
            else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) *valued[k].slot = argv[++i];
            else usage_error("%s needs a value (write %s=VALUE for one that starts with --)", valued[k].flag, valued[k].flag);
            break;
        }
        if (k < n) continue;
        if (arg[0] == '-') usage_error("unknown option '%s' (see --help)", arg);
        usage_error("too many arguments: '%s' (" TOOL " takes options only)", arg);
    }
    if (cores) parse_cores(cores, o);
    else o->cores[o->steps++] = allowed;
    o->iterations = parse_count(iterations, "--iterations");
    o->race = parse_choice(race, "--race", race_names[0], race_names[1]);
    o->reset_side = parse_choice(side, "--reset-side", side_names[0], side_names[1]);
    o->family = parse_choice(family, "--family", "4", "6") ? 6 : 4;
    if (probes) o->probes = parse_probes(probes);
    if (skew) {
        o->skew_ns = parse_skew(skew);
        /* On one thread the victim close always follows the resetting close: only a delay of it exists. */
        if (o->race == CS_RACE_SAME_THREAD && o->skew_ns < 0)
            usage_error("--skew below 0 needs --race cross-thread: on one thread the victim close always follows the resetting close");
        o->skew_set = 1;
    }
    uint64_t k = parse_count(per_core, "--lanes-per-core");
    for (int i = 0; i < o->steps; i++)
        if ((uint64_t)o->cores[i] * k > CS_MAX_LANES)
            usage_error("--lanes-per-core %s with --cores %d makes %llu lanes in a step; at most %d", per_core, o->cores[i],
                        (unsigned long long)((uint64_t)o->cores[i] * k), CS_MAX_LANES);
    o->lanes_per_core = (int)k;
    if (o->journal && strcmp(o->journal, "-") == 0) o->journal = NULL;
}

/* ---- JSON lines ----------------------------------------------------------- */

struct json {
    char *p;
    size_t len, cap;
};

static void out_of_memory(void) {
    fputs(TOOL ": error: out of memory\n", stderr);
    exit(1);
}

static void jraw(struct json *j, const char *s, size_t n) {
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 65536;
        while (j->len + n + 1 > cap) cap *= 2;
        char *p = realloc(j->p, cap);
        if (!p) out_of_memory();
        j->p = p;
        j->cap = cap;
    }
    memcpy(j->p + j->len, s, n);
    j->len += n;
}

static void jf(struct json *j, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n > 0) jraw(j, small, (size_t)n < sizeof small ? (size_t)n : sizeof small - 1);
}

/* A JSON string; bytes >= 0x80 pass through (uname and CPU names are UTF-8 or ASCII). */
static void jstr(struct json *j, const char *s) {
    JLIT(j, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') jf(j, "\\%c", c);
        else if (c < 0x20) jf(j, "\\u%04x", c);
        else jraw(j, s, 1);
    }
    JLIT(j, "\"");
}

/* A raw counter: a JSON number while exact, a decimal string beyond 2^53. */
static void jword(struct json *j, uint64_t v) {
    jf(j, v <= SAFE_LIMIT ? "%llu" : "\"%llu\"", (unsigned long long)v);
}

static void jnames(struct json *j, const char *const *names, int n) {
    JLIT(j, "[");
    for (int i = 0; i < n; i++) {
        if (i) JLIT(j, ",");
        jstr(j, names[i]);
    }
    JLIT(j, "]");
}

static int journal_fd = 1;

static void fail_errno(const char *what) {
    const char *name = cs_errno_name(errno);
    fprintf(stderr, TOOL ": error: cannot %s the journal: %s\n", what, name ? name : strerror(errno));
    exit(1);
}

/* One line, then fsync: a journal cut off by a crash keeps every line it shows. */
static void write_line(struct json *j) {
    JLIT(j, "\n");
    for (size_t off = 0; off < j->len;) {
        ssize_t n = write(journal_fd, j->p + off, j->len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail_errno("write");
        off += (size_t)n;
    }
    /* Pipes and terminals cannot be synced; files must be. */
    if (fsync(journal_fd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EROFS
#ifdef EOPNOTSUPP
        && errno != EOPNOTSUPP
#endif
    )
        fail_errno("sync");
    j->len = 0;
}

static void iso_now(struct json *j) {
    struct timespec ts;
    struct tm tm;
    char buf[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t w = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + w, sizeof buf - w, ".%03ldZ", ts.tv_nsec / 1000000);
    jstr(j, buf);
}

/* ---- the run header: options, layout, environment ------------------------ */

static void write_layout(struct json *j) {
    JLIT(j, "{\"lane\":{");
    for (const struct cs_layout_entry *f = cs_layout_lane; f->name; f++)
        jf(j, "%s\"%s\":%llu", f == cs_layout_lane ? "" : ",", f->name, (unsigned long long)f->value);
    JLIT(j, "}");
    for (const struct cs_layout_entry *f = cs_layout_scalars; f->name; f++)
        jf(j, ",\"%s\":%llu", f->name, (unsigned long long)f->value);
    JLIT(j, ",\"callNames\":");
    jnames(j, cs_call_names, CS_CALL_COUNT);
    JLIT(j, ",\"stageNames\":");
    jnames(j, cs_stage_names, CS_STAGE_COUNT);
    JLIT(j, ",\"laneStageNames\":");
    jnames(j, cs_lane_stage_names, CS_LANE_STAGE_COUNT);
    JLIT(j, ",\"latencyBucketLows\":[");
    for (unsigned b = 0; b < CS_LAT_BUCKETS; b++)
        jf(j, b ? ",%llu" : "%llu", (unsigned long long)cs_latency_bucket_low(b));
    JLIT(j, "]}");
}

/* src/env/env.ts Environment as far as C can read it; no Node ran, so no `node`. */
static void write_environment(struct json *j, const int *allowed, int m) {
    struct utsname u;
    if (uname(&u) != 0) memset(&u, 0, sizeof u);
    char model[256], host[256] = "";
    cs_os_cpu_model(model, sizeof model);
    gethostname(host, sizeof host - 1);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    JLIT(j, "{\"os\":{\"type\":");
    jstr(j, u.sysname);
    jf(j, ",\"platform\":\"%s\",\"release\":", cs_os_name());
    jstr(j, u.release);
    JLIT(j, ",\"version\":");
    jstr(j, u.version);
    JLIT(j, ",\"arch\":"); /* the kernel's name (x86_64, amd64), where Node would say x64 */
    jstr(j, u.machine);
    JLIT(j, "},\"cpu\":{\"model\":");
    jstr(j, model);
    jf(j, ",\"online\":%ld,\"allowed\":[", online > 0 ? online : (long)m);
    for (int i = 0; i < m; i++) jf(j, i ? ",%d" : "%d", allowed[i]);
    jf(j, "],\"canPin\":%s},\"memoryBytes\":%llu,\"hostname\":", cs_os_can_pin() ? "true" : "false",
       (unsigned long long)cs_os_memory_bytes());
    jstr(j, host);
    JLIT(j, ",\"tool\":{\"name\":\"" TOOL "\",\"version\":\"" CS_TOOL_VERSION "\"}}");
}

static void write_header(struct json *j, const struct options *o, const int *allowed, int m) {
    JLIT(j, "{\"type\":\"run\",\"schema\":\"close-stress/journal\",\"schemaVersion\":1,\"tool\":{\"name\":\"" TOOL
            "\",\"version\":\"" CS_TOOL_VERSION "\"},\"options\":{\"cores\":[");
    for (int i = 0; i < o->steps; i++) jf(j, i ? ",%d" : "%d", o->cores[i]);
    jf(j, "],\"iterations\":%llu,\"race\":\"%s\",\"resetSide\":\"%s\",\"family\":%d,\"probes\":[",
       (unsigned long long)o->iterations, race_names[o->race], side_names[o->reset_side], o->family);
    for (int c = CS_CALL_SHUTDOWN, first = 1; c < CS_CALL_COUNT; c++) {
        if (!(o->probes & CS_PROBE_BIT(c))) continue;
        if (!first) JLIT(j, ",");
        first = 0;
        jstr(j, cs_call_names[c]);
    }
    if (o->skew_set) jf(j, "],\"skew\":{\"kind\":\"fixed\",\"ns\":%lld}", (long long)o->skew_ns);
    else JLIT(j, "],\"skew\":{\"kind\":\"none\"}");
    /* As the CLI records it: present only when asked for. */
    if (o->lanes_per_core > 1) jf(j, ",\"lanesPerCore\":%d", o->lanes_per_core);
    JLIT(j, "}");
    JLIT(j, ",\"layout\":");
    write_layout(j);
    JLIT(j, ",\"environment\":");
    write_environment(j, allowed, m);
    /* errno numbers differ per OS (ECONNRESET is 104 on Linux, 54 on FreeBSD):
     * the reader names them by this table, not by its own OS's. */
    JLIT(j, ",\"errnoNames\":{");
    for (int e = 1, first = 1; e < CS_ERRNO_SLOTS; e++) {
        const char *name = cs_errno_name(e);
        if (!name) continue;
        jf(j, "%s\"%d\":\"%s\"", first ? "" : ",", e, name);
        first = 0;
    }
    JLIT(j, "},\"startedAt\":");
    iso_now(j);
    JLIT(j, "}");
    write_line(j);
}

/* ---- steps ---------------------------------------------------------------- */

struct kernel_read {
    int n; /* < 0: unreadable */
    const char *source;
    struct cs_tcp_counter list[CS_TCP_COUNTERS_MAX];
};

static void write_counters(struct json *j, const struct kernel_read *k, int meanings) {
    JLIT(j, "{");
    for (int i = 0; i < k->n; i++) {
        jf(j, "%s\"%s\":", i ? "," : "", k->list[i].name);
        if (meanings) jstr(j, k->list[i].meaning);
        else jword(j, k->list[i].value);
    }
    JLIT(j, "}");
}

/* The step's memory as the binding lays it out for JS: the step block, then
 * one counters block per lane; only non-zero words, as [index, value]. */
static void write_step(struct json *j, int cores, int lanes, const int *cpu, const int *reset_cpu, const uint64_t *memory,
                       const struct kernel_read *before, const struct kernel_read *after) {
    size_t words = (sizeof(struct cs_step_shared) + (size_t)lanes * sizeof(struct cs_lane_counters)) / 8;
    jf(j, "{\"type\":\"step-memory\",\"cores\":%d,\"lanes\":[", cores);
    for (int i = 0; i < lanes; i++) jf(j, "%s[%d,%d]", i ? "," : "", cpu[i], reset_cpu[i]);
    jf(j, "],\"words\":%zu,\"nonzero\":[", words);
    for (size_t w = 0, first = 1; w < words; w++) {
        if (!memory[w]) continue;
        jf(j, first ? "[%zu," : ",[%zu,", w);
        jword(j, memory[w]);
        JLIT(j, "]");
        first = 0;
    }
    JLIT(j, "]");
    /* An unreadable counter keeps its reason (a FreeBSD whose struct tcpstat
     * no layout knows): the reader's verdict must say why it is unverified. */
    const struct kernel_read *failed = before->n < 0 ? before : after->n < 0 ? after : NULL;
    if (failed) {
        const char *e = cs_errno_name(-failed->n);
        JLIT(j, ",\"kernel\":{\"unavailable\":");
        char why[400];
        snprintf(why, sizeof why, "%s (%s)", failed->source, e ? e : "?");
        jstr(j, why);
        JLIT(j, "}");
    } else {
        JLIT(j, ",\"kernel\":{\"source\":");
        jstr(j, after->source);
        JLIT(j, ",\"meanings\":");
        write_counters(j, after, 1);
        JLIT(j, ",\"before\":");
        write_counters(j, before, 0);
        JLIT(j, ",\"after\":");
        write_counters(j, after, 0);
        JLIT(j, "}");
    }
    JLIT(j, "}");
    write_line(j);
}

static volatile sig_atomic_t signal_seen;
static struct cs_step_shared *volatile current_step;

/* Finish the trial in hand, journal the step, stop; a second signal means now. */
static void on_signal(int sig) {
    if (signal_seen) _exit(sig == SIGINT ? 130 : 143);
    signal_seen = sig;
    struct cs_step_shared *step = current_step;
    if (step) __atomic_store_n(&step->stop, 1, __ATOMIC_RELEASE);
}

static void run_step(const struct options *o, int lanes_n, const int *cpu, const int *reset_cpu,
                     struct cs_step_shared *step, struct cs_lane_counters *lanes, struct cs_lane_job *jobs) {
    memset(step, 0, sizeof *step);
    memset(lanes, 0, sizeof *lanes * (size_t)lanes_n);
    step->limit = o->iterations;
    step->lanes = (uint64_t)lanes_n;
    current_step = step;
    if (signal_seen) __atomic_store_n(&step->stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < lanes_n; i++) {
        jobs[i] = (struct cs_lane_job){
            .cfg = {.family = o->family == 6 ? AF_INET6 : AF_INET, .race = o->race, .reset_side = o->reset_side,
                    .cpu = cpu[i], .reset_cpu = reset_cpu[i], .probes = o->probes, .skew_ns = o->skew_ns},
            .step = step,
            .counters = &lanes[i],
        };
    }
    /* The lanes take no signals (lanes.c): they reach this thread, whose
     * handler sets the stop word, and a lane blocked in accept() sees no EINTR. */
    cs_run_lanes(jobs, lanes_n);
    current_step = NULL;
}

/* The exit status's one judgement (src/tally/tally.ts stepFailure says it in full). */
static int step_failed(int cores, int lanes_n, const int *cpu, const struct cs_lane_counters *lanes) {
    uint64_t done = 0, closes = 0;
    for (int i = 0; i < lanes_n; i++) {
        const struct cs_lane_counters *c = &lanes[i];
        if (c->lane_stage != 0) {
            const char *e = cs_errno_name((int)c->lane_errno);
            fprintf(stderr, TOOL ": failed: %d-core step: lane %d (CPU %d) could not start: %s failed with %s\n", cores,
                    i, cpu[i], c->lane_stage < CS_LANE_STAGE_COUNT ? cs_lane_stage_names[c->lane_stage] : "?", e ? e : "?");
            return 1;
        }
        done += c->done;
        for (int s = 0; s < CS_ERRNO_SLOTS; s++) closes += c->calls[CS_CALL_VICTIM_CLOSE][s];
    }
    if (done > 0 && closes == 0) {
        fprintf(stderr, TOOL ": failed: %d-core step: every trial's setup failed (close-stress report shows which)\n", cores);
        return 1;
    }
    fprintf(stderr, TOOL ": %d-core step: %llu trials\n", cores, (unsigned long long)done);
    return 0;
}

static void open_journal(const struct options *o) {
    if (!o->journal) return;
    journal_fd = open(o->journal, O_WRONLY | O_CREAT | O_CLOEXEC | (o->force ? O_TRUNC : O_EXCL), 0644);
    if (journal_fd >= 0) return;
    if (errno == EEXIST) usage_error("--journal %s already exists; pass --force to overwrite it", o->journal);
    const char *name = cs_errno_name(errno);
    usage_error("--journal %s: cannot create it (%s)", o->journal, name ? name : strerror(errno));
}

int main(int argc, char **argv) {
    static int allowed[CS_CPU_MASK_WORDS * 64];
    int m = cs_os_allowed_cpus(allowed, CS_CPU_MASK_WORDS * 64);
    if (m < 0) {
        const char *name = cs_errno_name(-m);
        fprintf(stderr, TOOL ": error: cannot read the allowed CPU set (%s)\n", name ? name : "?");
        return 1;
    }
    static struct options o;
    parse_args(argc, argv, m < CS_MAX_LANES ? m : CS_MAX_LANES, &o);
    open_journal(&o);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed journal pipe is an error to report, not a silent death */

    int most = 0;
    for (int i = 0; i < o.steps; i++) most = o.cores[i] > most ? o.cores[i] : most;
    most *= o.lanes_per_core;
    /* One block, step then lanes, as src/core/memory.ts lays out its SharedArrayBuffer. */
    uint64_t *memory = NULL;
    if (posix_memalign((void **)&memory, 64, sizeof(struct cs_step_shared) + sizeof(struct cs_lane_counters) * (size_t)most) != 0)
        out_of_memory();
    struct cs_step_shared *step = (struct cs_step_shared *)memory;
    struct cs_lane_counters *lanes = (struct cs_lane_counters *)(step + 1);
    struct cs_lane_job *jobs = calloc((size_t)most, sizeof *jobs);
    if (!jobs) out_of_memory();
    static int placed_cpu[CS_MAX_LANES], placed_reset[CS_MAX_LANES], cpu[CS_MAX_LANES], reset_cpu[CS_MAX_LANES];

    struct json j = {0};
    write_header(&j, &o, allowed, m);
    const char *status = "completed";
    for (int s = 0; s < o.steps && !signal_seen; s++) {
        int cores = o.cores[s], k = o.lanes_per_core, lanes_n = cores * k;
        static struct kernel_read before, after;
        cs_plan_lanes(cores, o.race == CS_RACE_CROSS_THREAD, allowed, m, cs_os_can_pin(), placed_cpu, placed_reset);
        /* K lanes to a CPU, as src/plan/plan.ts lays them out: each placed lane K times over. */
        for (int i = 0; i < lanes_n; i++) {
            cpu[i] = placed_cpu[i / k];
            reset_cpu[i] = placed_reset[i / k];
        }
        before.n = cs_tcp_counters(before.list, CS_TCP_COUNTERS_MAX, &before.source);
        run_step(&o, lanes_n, cpu, reset_cpu, step, lanes, jobs);
        after.n = cs_tcp_counters(after.list, CS_TCP_COUNTERS_MAX, &after.source);
        write_step(&j, cores, lanes_n, cpu, reset_cpu, memory, &before, &after);
        if (step_failed(cores, lanes_n, cpu, lanes)) { status = "failed"; break; }
    }
    int exit_code = 0;
    if (strcmp(status, "failed") == 0) exit_code = 1;
    else if (signal_seen) {
        status = "interrupted";
        exit_code = signal_seen == SIGINT ? 130 : 143;
    }
    jf(&j, "{\"type\":\"end\",\"status\":\"%s\"", status);
    if (exit_code > 1) jf(&j, ",\"signal\":\"%s\"", signal_seen == SIGINT ? "SIGINT" : "SIGTERM");
    JLIT(&j, ",\"finishedAt\":");
    iso_now(&j);
    JLIT(&j, "}");
    write_line(&j);
    if (exit_code > 1) fprintf(stderr, TOOL ": interrupted: stopped by %s\n", signal_seen == SIGINT ? "SIGINT" : "SIGTERM");
    return exit_code;
}
