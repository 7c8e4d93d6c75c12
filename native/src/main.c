/*
 * close-stress-core: the C core's second front end, for machines without
 * Node (a freshly built test kernel in a VM). It plans steps the way the CLI
 * does (src/options.ts, src/plan.ts), pins one pthread per lane, runs
 * cs_run_lane, and writes the CLI's journal (JSONL) so that `close-stress
 * report` reads it unchanged. Each step line is a StepTally (src/tally.ts)
 * built field by field; calls and stages come from the core's name tables,
 * so new probes appear without touching this file.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#if defined(__FreeBSD__) || defined(__APPLE__)
#include <sys/sysctl.h>
#endif

#ifndef CS_TOOL_VERSION
#define CS_TOOL_VERSION "0.1.0"
#endif
#define TOOL "close-stress-core"
#define MAX_CORES CS_MAX_LANES /* src/options.ts MAX_CORES */
#define SAFE_LIMIT 9007199254740991ull /* 2^53 - 1: totals stay exact in JSON */
#define LANE_STAGE_COUNT (CS_LANE_THREAD + 1)

static const char *const race_names[] = {"same-thread", "cross-thread"};
static const char *const side_names[] = {"server", "client"};

struct options {
    int cores[MAX_CORES];
    int steps;
    uint64_t iterations;
    int race;       /* enum cs_race */
    int reset_side; /* enum cs_side */
    int family;     /* 4 or 6 */
    unsigned probes;     /* CS_PROBE_BIT()s */
    int skew_set;        /* --skew given: one fixed skew for every step */
    int64_t skew_ns;
    const char *journal; /* NULL: stdout */
    int force;
};

#define MAX_SKEW_NS 1000000 /* src/options.ts MAX_SKEW_NS */

/* ---- refusals: one line, exit 2 (src/errors.ts UsageError) --------------- */

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
        "Races a TCP peer's RST against close(2) on loopback and tallies every close() result by\n"
        "errno, per core count (FreeBSD PR kern/159179). The core of close-stress without Node:\n"
        "writes the same journal (JSONL) that `close-stress report` reads.\n"
        "\n"
        "Options:\n"
        "  --cores <spec>        core counts: N sweeps 1,2,4,...,N; a list (2,8,16) runs exactly those\n"
        "                        (default: allowed CPUs)\n"
        "  --no-sweep            with --cores N, run N alone\n"
        "  --iterations <n>      trials per step: 1e6, 1000000 or 1_000_000 (default: 100000)\n"
        "  --race <shape>        same-thread or cross-thread (default: same-thread)\n"
        "  --reset-side <side>   server or client: which end sends the RST (default: server)\n"
        "  --family <4|6>        IPv4 (127.0.0.1) or IPv6 (::1) loopback (default: 4)\n"
        "  --probe <list>        also run these on the victim after the RST, before its close:\n"
        "                        shutdown,send,recv,sockerror,accept or all\n"
        "  --skew <duration>     cross-thread: delay the victim (300ns; negative delays the\n"
        "                        resetter). Sweeps and auto search run in close-stress (Node).\n"
        "  --journal <file>      write the JSONL journal here (default: stdout; - is stdout)\n"
        "  --force               overwrite an existing --journal file\n"
        "  -V, --version         print the version\n"
        "  -h, --help            print this help\n"
        "\n"
        "Exit status: 0 completed, 1 failed, 2 bad usage, 130/143 stopped by SIGINT/SIGTERM\n"
        "(the steps finished so far are in the journal either way).\n");
}

/* `1000000`, `1_000_000` or `1e6` (src/options.ts parseCount), checked exactly. */
static uint64_t parse_count(const char *text, const char *what) {
    const char *b = text, *e = text + strlen(text);
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;

    char digits[64];
    int nd = 0, frac = 0, scientific = 0, ok = 1;
    long exp = 0;
    const char *p = b;
    /* [0-9]+ then either (_[0-9]+)* or (.[0-9]+)?[eE]+?[0-9]+ */
    if (p == e || !isdigit((unsigned char)*p)) ok = 0;
    for (; ok && p < e && isdigit((unsigned char)*p); p++)
        if (nd < (int)sizeof digits) digits[nd++] = *p; else ok = 0;
    if (ok && p < e && *p == '_') {
        while (ok && p < e && *p == '_') {
            p++;
            if (p == e || !isdigit((unsigned char)*p)) ok = 0;
            for (; ok && p < e && isdigit((unsigned char)*p); p++)
                if (nd < (int)sizeof digits) digits[nd++] = *p; else ok = 0;
        }
    } else if (ok && p < e) {
        if (*p == '.') {
            p++;
            if (p == e || !isdigit((unsigned char)*p)) ok = 0;
            for (; ok && p < e && isdigit((unsigned char)*p); p++, frac++)
                if (nd < (int)sizeof digits) digits[nd++] = *p; else ok = 0;
        }
        if (ok && p < e && (*p == 'e' || *p == 'E')) {
            scientific = 1;
            p++;
            if (p < e && *p == '+') p++;
            if (p == e || !isdigit((unsigned char)*p)) ok = 0;
            for (; ok && p < e && isdigit((unsigned char)*p); p++)
                if (exp < 100000) exp = exp * 10 + (*p - '0');
        }
        if (!scientific) ok = 0;
    }
    if (!ok || p != e)
        usage_error("%s takes a positive integer (1000000, 1_000_000 or 1e6), not '%s'", what, text);

    long shift = exp - frac;
    for (; shift < 0; shift++, nd--)
        if (digits[nd - 1] != '0') usage_error("%s takes a positive integer, not '%s'", what, text);
    uint64_t v = 0;
    int big = 0;
    for (int i = 0; i < nd && !big; i++) {
        if (v > (SAFE_LIMIT - (uint64_t)(digits[i] - '0')) / 10) big = 1;
        else v = v * 10 + (uint64_t)(digits[i] - '0');
    }
    for (; shift > 0 && v != 0 && !big; shift--) {
        if (v > SAFE_LIMIT / 10) big = 1;
        else v *= 10;
    }
    if (!big && v == 0) usage_error("%s takes a positive integer, not '%s'", what, text);
    if (big) usage_error("%s must be below 2^53 (9007199254740992), not '%s'", what, text);
    return v;
}

/* src/options.ts parseCores: N sweeps 1,2,4,...,N unless --no-sweep; a list is exact. */
static void parse_cores(const char *text, int sweep_on, struct options *o) {
    char *copy = strdup(text);
    if (!copy) usage_error("out of memory");
    int n = 0;
    /* strtok would skip empty parts; the CLI refuses them, so split by hand. */
    for (char *part = copy, *next; part; part = next) {
        next = strchr(part, ',');
        if (next) *next++ = '\0';
        uint64_t c = parse_count(part, "--cores");
        if (c > MAX_CORES) usage_error("--cores takes at most %d per step, not %llu", MAX_CORES, (unsigned long long)c);
        for (int i = 0; i < n; i++)
            if (o->cores[i] == (int)c) usage_error("--cores lists a core count twice: '%s'", text);
        if (n == MAX_CORES) usage_error("--cores lists more than %d steps", MAX_CORES);
        o->cores[n++] = (int)c;
    }
    free(copy);
    if (n == 1 && sweep_on) {
        int top = o->cores[0];
        n = 0;
        for (int k = 1; k < top; k *= 2) o->cores[n++] = k;
        o->cores[n++] = top;
    }
    o->steps = n;
}

static int parse_choice(const char *text, const char *flag, const char *const *choices, int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(text, choices[i]) == 0) return i;
    if (count == 2) usage_error("%s takes %s or %s, not '%s'", flag, choices[0], choices[1], text);
    usage_error("%s takes one of its listed values, not '%s'", flag, text);
    return -1;
}

/* src/options.ts parseProbes: names from the core's own table, kept in its order. */
static unsigned parse_probes(const char *text) {
    char list[128] = "";
    for (int c = CS_CALL_SHUTDOWN; c < CS_CALL_COUNT; c++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", c > CS_CALL_SHUTDOWN ? ", " : "", cs_call_names[c]);
    char *copy = strdup(text);
    if (!copy) usage_error("out of memory");
    unsigned bits = 0;
    int parts = 0;
    for (char *part = copy, *next; part; part = next, parts++) {
        next = strchr(part, ',');
        if (next) *next++ = '\0';
        while (isspace((unsigned char)*part)) part++;
        for (char *end = part + strlen(part); end > part && isspace((unsigned char)end[-1]);) *--end = '\0';
        if (strcmp(part, "all") == 0 && parts == 0 && !next) { free(copy); return CS_PROBE_ALL; }
        int found = -1;
        for (int c = CS_CALL_SHUTDOWN; c < CS_CALL_COUNT; c++)
            if (strcmp(part, cs_call_names[c]) == 0) found = c;
        if (found < 0) usage_error("--probe takes a list of %s or all, not '%s'", list, part);
        if (bits & CS_PROBE_BIT(found)) usage_error("--probe lists a probe twice: '%s'", text);
        bits |= CS_PROBE_BIT(found);
    }
    free(copy);
    return bits;
}

/* src/options.ts parseNs: `300ns`, `-2us`, `1.5us`, `0`, in whole nanoseconds. */
static int64_t parse_ns(const char *text, const char *flag) {
    const char *b = text, *e = text + strlen(text);
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    int negative = b < e && *b == '-';
    const char *num = b + negative, *p = num;
    while (p < e && isdigit((unsigned char)*p)) p++;
    int ok = p > num;
    if (ok && p < e && *p == '.') {
        const char *frac = ++p;
        while (p < e && isdigit((unsigned char)*p)) p++;
        ok = p > frac;
    }
    double unit = 0;
    size_t rest = (size_t)(e - p);
    if (!ok) unit = 0;
    else if (rest == 2 && strncmp(p, "ns", 2) == 0) unit = 1;
    else if (rest == 2 && strncmp(p, "us", 2) == 0) unit = 1e3;
    else if (rest == 3 && strncmp(p, "\xc2\xb5s", 3) == 0) unit = 1e3; /* µs */
    else if (rest == 2 && strncmp(p, "ms", 2) == 0) unit = 1e6;
    else if (rest == 0 && p - num == 1 && *num == '0') unit = 1;
    if (unit == 0) usage_error("%s takes a duration with a unit (300ns, -2us, 1.5us), not '%s'", flag, text);
    double value = strtod(num, NULL) * unit;
    int64_t ns = value > 2.0 * MAX_SKEW_NS ? 2 * MAX_SKEW_NS : (int64_t)(value + 0.5);
    if (ns > MAX_SKEW_NS) usage_error("%s takes at most 1ms either way, not '%s'", flag, text);
    return negative ? -ns : ns;
}

static void parse_args(int argc, char **argv, int allowed, struct options *o) {
    const char *cores = NULL, *iterations = "100000", *race = "same-thread";
    const char *side = "server", *family = "4", *probes = NULL, *skew = NULL;
    int sweep_on = 1;
    const struct { const char *flag, *spec; const char **slot; } valued[] = {
        {"--cores", "--cores <spec>", &cores},
        {"--iterations", "--iterations <n>", &iterations},
        {"--race", "--race <shape>", &race},
        {"--reset-side", "--reset-side <side>", &side},
        {"--family", "--family <4|6>", &family},
        {"--probe", "--probe <list>", &probes},
        {"--skew", "--skew <spec>", &skew},
        {"--journal", "--journal <file>", &o->journal},
    };

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) { help(); exit(0); }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) { puts(CS_TOOL_VERSION); exit(0); }
        if (strcmp(arg, "--no-sweep") == 0) { sweep_on = 0; continue; }
        if (strcmp(arg, "--force") == 0) { o->force = 1; continue; }
        int matched = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0] && !matched; k++) {
            size_t len = strlen(valued[k].flag);
            if (strncmp(arg, valued[k].flag, len) != 0) continue;
            if (arg[len] == '=') *valued[k].slot = arg + len + 1;
            else if (arg[len] != '\0') continue;
            else if (i + 1 < argc) *valued[k].slot = argv[++i];
            else usage_error("option '%s' argument missing", valued[k].spec);
            matched = 1;
        }
        if (matched) continue;
        if (arg[0] == '-') usage_error("unknown option '%s'", arg);
        usage_error("too many arguments: '%s' (" TOOL " takes options only)", arg);
    }

    char fallback[16];
    snprintf(fallback, sizeof fallback, "%d", allowed);
    parse_cores(cores ? cores : fallback, sweep_on, o);
    o->iterations = parse_count(iterations, "--iterations");
    o->race = parse_choice(race, "--race", race_names, 2);
    o->reset_side = parse_choice(side, "--reset-side", side_names, 2);
    static const char *const families[] = {"4", "6"};
    o->family = parse_choice(family, "--family", families, 2) == 0 ? 4 : 6;
    if (skew) {
        if (strcmp(skew, "auto") == 0 || strchr(skew, ':'))
            usage_error("--skew %s: " TOOL " runs one fixed skew; sweeps and auto run in close-stress (Node)", skew);
        o->skew_ns = parse_ns(skew, "--skew");
        o->skew_set = 1;
        if (o->race != CS_RACE_CROSS_THREAD)
            usage_error("--skew needs --race cross-thread: only two threads have a skew between them");
    }
    if (probes) o->probes = parse_probes(probes);
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
        size_t cap = j->cap ? j->cap : 4096;
        while (j->len + n + 1 > cap) cap *= 2;
        char *p = realloc(j->p, cap);
        if (!p) out_of_memory();
        j->p = p;
        j->cap = cap;
    }
    memcpy(j->p + j->len, s, n);
    j->len += n;
    j->p[j->len] = '\0';
}

#define JLIT(j, literal) jraw((j), (literal), sizeof(literal) - 1)

static void jf(struct json *j, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) { jraw(j, small, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) out_of_memory();
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    jraw(j, big, (size_t)n);
    free(big);
}

/* A JSON string; bytes >= 0x80 pass through (uname and CPU names are UTF-8 or ASCII). */
static void jstr(struct json *j, const char *s) {
    JLIT(j, "\"");
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { char esc[2] = {'\\', (char)c}; jraw(j, esc, 2); }
        else if (c < 0x20) jf(j, "\\u%04x", c);
        else jraw(j, (const char *)&c, 1);
    }
    JLIT(j, "\"");
}

static void jkey(struct json *j, int *first, const char *key) {
    if (!*first) JLIT(j, ",");
    *first = 0;
    jstr(j, key);
    JLIT(j, ":");
}

static void jcount(struct json *j, uint64_t v) {
    jf(j, "%llu", (unsigned long long)v);
}

static int journal_fd = 1;

/* One line, then fsync: a journal cut off by a crash keeps every line it shows. */
static void write_line(struct json *j) {
    JLIT(j, "\n");
    size_t off = 0;
    while (off < j->len) {
        ssize_t n = write(journal_fd, j->p + off, j->len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const char *name = cs_errno_name(errno);
            fprintf(stderr, TOOL ": error: cannot write the journal: %s\n", name ? name : strerror(errno));
            exit(1);
        }
        off += (size_t)n;
    }
    /* Pipes and terminals cannot be synced; files must be. */
    if (fsync(journal_fd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EROFS
#ifdef EOPNOTSUPP
        && errno != EOPNOTSUPP
#endif
    ) {
        const char *name = cs_errno_name(errno);
        fprintf(stderr, TOOL ": error: cannot sync the journal: %s\n", name ? name : strerror(errno));
        exit(1);
    }
    j->len = 0;
}

static void iso_now(char *buf, size_t n) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t w = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + w, n - w, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* ---- environment (src/env.ts captureEnvironment, minus Node) ------------- */

static const char *node_arch(void) {
#if defined(__x86_64__)
    return "x64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "ia32";
#elif defined(__arm__)
    return "arm";
#elif defined(__powerpc64__)
    return "ppc64";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#else
    return "unknown";
#endif
}

static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
#if defined(__linux__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *v = strchr(line, ':');
        if (!v) continue;
        for (v++; isspace((unsigned char)*v); v++) {}
        v[strcspn(v, "\n")] = '\0';
        snprintf(buf, n, "%s", v);
        break;
    }
    fclose(f);
#elif defined(__FreeBSD__) || defined(__APPLE__)
#if defined(__APPLE__)
    const char *name = "machdep.cpu.brand_string";
#else
    const char *name = "hw.model";
#endif
    size_t len = n;
    if (sysctlbyname(name, buf, &len, NULL, 0) != 0) snprintf(buf, n, "unknown");
    else buf[n - 1] = '\0';
#endif
}

static uint64_t memory_bytes(void) {
#if defined(__APPLE__)
    uint64_t v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.memsize", &v, &len, NULL, 0) == 0 ? v : 0;
#elif defined(__FreeBSD__)
    unsigned long v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.physmem", &v, &len, NULL, 0) == 0 ? (uint64_t)v : 0;
#else
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
#endif
}

static void write_environment(struct json *j, const int *allowed, int m) {
    struct utsname u;
    if (uname(&u) != 0) memset(&u, 0, sizeof u);
    char model[256], host[256] = "";
    cpu_model(model, sizeof model);
    gethostname(host, sizeof host - 1);
    long online = sysconf(_SC_NPROCESSORS_ONLN);

    JLIT(j, "{\"os\":{\"type\":");
    jstr(j, u.sysname);
    JLIT(j, ",\"platform\":");
    jstr(j, cs_os_name());
    JLIT(j, ",\"release\":");
    jstr(j, u.release);
    JLIT(j, ",\"version\":");
    jstr(j, u.version);
    JLIT(j, ",\"arch\":");
    jstr(j, node_arch());
    JLIT(j, "},\"cpu\":{\"model\":");
    jstr(j, model);
    jf(j, ",\"online\":%ld,\"allowed\":[", online > 0 ? online : (long)m);
    for (int i = 0; i < m; i++) jf(j, i ? ",%d" : "%d", allowed[i]);
    jf(j, "],\"canPin\":%s},\"memoryBytes\":", cs_os_can_pin() ? "true" : "false");
    jcount(j, memory_bytes());
    JLIT(j, ",\"hostname\":");
    jstr(j, host);
    JLIT(j, ",\"tool\":{\"name\":\"" TOOL "\",\"version\":\"" CS_TOOL_VERSION "\"}}");
}

static void write_probe_names(struct json *j, unsigned probes) {
    int first = 1;
    for (int c = CS_CALL_SHUTDOWN; c < CS_CALL_COUNT; c++) {
        if (!(probes & CS_PROBE_BIT(c))) continue;
        if (!first) JLIT(j, ",");
        first = 0;
        jstr(j, cs_call_names[c]);
    }
}

static void write_run_header(struct json *j, const struct options *o, const int *allowed, int m) {
    char now[40];
    iso_now(now, sizeof now);
    jf(j, "{\"type\":\"run\",\"schema\":\"close-stress/journal\",\"schemaVersion\":1,"
          "\"tool\":{\"name\":\"" TOOL "\",\"version\":\"" CS_TOOL_VERSION "\"},\"options\":{\"cores\":[");
    for (int i = 0; i < o->steps; i++) jf(j, i ? ",%d" : "%d", o->cores[i]);
    /* quiet and logLevel describe this program as it is: no progress bars, no log. */
    jf(j, "],\"iterations\":%llu,\"race\":\"%s\",\"resetSide\":\"%s\",\"family\":%d,\"probes\":[",
       (unsigned long long)o->iterations, race_names[o->race], side_names[o->reset_side], o->family);
    write_probe_names(j, o->probes);
    if (o->skew_set) jf(j, "],\"skew\":{\"kind\":\"fixed\",\"ns\":%lld}", (long long)o->skew_ns);
    else jf(j, "],\"skew\":{\"kind\":\"none\"}");
    jf(j, ",\"force\":%s,\"quiet\":true,\"logLevel\":\"silent\"},", o->force ? "true" : "false");
    jf(j, "\"race\":{\"shape\":\"%s\",\"resetSide\":\"%s\",\"victim\":\"%s\"},\"environment\":",
       race_names[o->race], side_names[o->reset_side],
       o->reset_side == CS_RESET_SERVER ? "client" : "server");
    write_environment(j, allowed, m);
    jf(j, ",\"startedAt\":\"%s\"}", now);
    write_line(j);
}

/* ---- tally (src/tally.ts tallyStep) -------------------------------------- */

/* src/tally.ts errnoName: names from this OS's headers, never a built-in table. */
static const char *errno_key(int e, char *buf, size_t n) {
    if (e == 0) return "none";
    const char *name = cs_errno_name(e);
    if (name) return name;
    if (e == CS_ERRNO_SLOTS - 1) snprintf(buf, n, "E>=%d", e);
    else snprintf(buf, n, "errno %d", e);
    return buf;
}

static void write_cpu_list(struct json *j, const uint64_t *mask) {
    int first = 1;
    JLIT(j, "[");
    for (int c = 0; c < CS_CPU_MASK_WORDS * 64; c++) {
        if (!((mask[c / 64] >> (c % 64)) & 1)) continue;
        jf(j, first ? "%d" : ",%d", c);
        first = 0;
    }
    JLIT(j, "]");
}

/* Errors of one row, slot 0 excluded when it counts successes. */
static uint64_t write_errors(struct json *j, const uint64_t *row, int from) {
    uint64_t total = 0;
    int first = 1;
    char buf[32];
    JLIT(j, "{");
    for (int e = from; e < CS_ERRNO_SLOTS; e++) {
        if (!row[e]) continue;
        jkey(j, &first, errno_key(e, buf, sizeof buf));
        jcount(j, row[e]);
        total += row[e];
    }
    JLIT(j, "}");
    return total;
}

/* StepTally.calls: the victim close, the resetting close, and the probes that ran.
 * Returns the victim close() calls made. */
static uint64_t write_calls(struct json *j, const struct options *o,
                            uint64_t calls[CS_CALL_COUNT][CS_ERRNO_SLOTS]) {
    uint64_t close_attempts = 0;
    int first = 1;
    JLIT(j, "{");
    for (int k = 0; k < CS_CALL_COUNT; k++) {
        /* Probes that did not run are absent, not zero (src/tally.ts). */
        if (k >= CS_CALL_SHUTDOWN && !(o->probes & CS_PROBE_BIT(k))) continue;
        jkey(j, &first, cs_call_names[k]);
        JLIT(j, "{\"ok\":");
        jcount(j, calls[k][0]);
        JLIT(j, ",\"errors\":");
        uint64_t errors = write_errors(j, calls[k], 1);
        JLIT(j, "}");
        if (k == CS_CALL_VICTIM_CLOSE) close_attempts = calls[k][0] + errors;
    }
    JLIT(j, "}");
    return close_attempts;
}

/* Histogram (contract: sparse [lower bound ns, count], ascending). */
static void write_histogram(struct json *j, const uint64_t *buckets) {
    int first = 1;
    JLIT(j, "{\"unit\":\"ns\",\"scheme\":\"log-linear-16\",\"counts\":[");
    for (unsigned b = 0; b < CS_LAT_BUCKETS; b++) {
        if (!buckets[b]) continue;
        jf(j, "%s[%llu,%llu]", first ? "" : ",", (unsigned long long)cs_latency_bucket_low(b),
           (unsigned long long)buckets[b]);
        first = 0;
    }
    JLIT(j, "]}");
}

struct skew_stats {
    uint64_t samples;
    int64_t median_ns, p10_ns, p90_ns;
};

/* src/tally.ts skewStats: quantiles from the 10 ns buckets. */
static void skew_stats(const uint64_t *counts, struct skew_stats *out) {
    out->samples = 0;
    for (int i = 0; i < CS_SKEW_BUCKETS; i++) out->samples += counts[i];
    if (!out->samples) return;
    const double qs[3] = {0.5, 0.1, 0.9};
    int64_t *at[3] = {&out->median_ns, &out->p10_ns, &out->p90_ns};
    for (int q = 0; q < 3; q++) {
        uint64_t seen = 0;
        *at[q] = (int64_t)CS_SKEW_HALF * CS_SKEW_BUCKET_NS;
        for (int i = 0; i < CS_SKEW_BUCKETS; i++) {
            seen += counts[i];
            if ((double)seen >= qs[q] * (double)out->samples) {
                *at[q] = (int64_t)(i - CS_SKEW_HALF) * CS_SKEW_BUCKET_NS;
                break;
            }
        }
    }
}

static void write_skew_stats(struct json *j, const struct skew_stats *st) {
    jf(j, "{\"samples\":%llu,\"medianNs\":%lld,\"p10Ns\":%lld,\"p90Ns\":%lld}",
       (unsigned long long)st->samples, (long long)st->median_ns, (long long)st->p10_ns, (long long)st->p90_ns);
}

struct kernel_read {
    int n; /* < 0: unreadable */
    const char *source;
    struct cs_tcp_counter list[CS_TCP_COUNTERS_MAX];
};

static void read_kernel(struct kernel_read *k) {
    k->n = cs_tcp_counters(k->list, CS_TCP_COUNTERS_MAX, &k->source);
}

struct step_outcome {
    uint64_t trials, close_attempts;
    int failed_lane; /* -1: none */
};

struct lane_job {
    struct cs_lane_config cfg;
    struct cs_step_shared *step;
    struct cs_lane_counters *counters;
};

static struct step_outcome write_step(struct json *j, const struct options *o, int cores,
                                      const struct lane_job *jobs, const struct cs_lane_counters *lanes,
                                      int m, int interrupted, const struct kernel_read *before,
                                      const struct kernel_read *after) {
    static uint64_t calls[CS_CALL_COUNT][CS_ERRNO_SLOTS], setup[CS_STAGE_COUNT][CS_ERRNO_SLOTS];
    static uint64_t probe_setup[CS_ERRNO_SLOTS], latency[2][CS_LAT_BUCKETS], skew[CS_SKEW_BUCKETS];
    memset(calls, 0, sizeof calls);
    memset(setup, 0, sizeof setup);
    memset(probe_setup, 0, sizeof probe_setup);
    memset(latency, 0, sizeof latency);
    memset(skew, 0, sizeof skew);
    uint64_t trials = 0, strangers = 0, released = 0, retained = 0, reused = 0, start = UINT64_MAX, end = 0;
    struct step_outcome out = {0, 0, -1};
    for (int i = 0; i < cores; i++) {
        const struct cs_lane_counters *c = &lanes[i];
        trials += c->done;
        strangers += c->strangers;
        released += c->fd_released;
        retained += c->fd_retained;
        reused += c->fd_reused;
        for (int k = 0; k < CS_CALL_COUNT; k++)
            for (int e = 0; e < CS_ERRNO_SLOTS; e++) calls[k][e] += c->calls[k][e];
        for (int s = 0; s < CS_STAGE_COUNT; s++)
            for (int e = 0; e < CS_ERRNO_SLOTS; e++) setup[s][e] += c->setup[s][e];
        for (int e = 0; e < CS_ERRNO_SLOTS; e++) probe_setup[e] += c->probe_setup[e];
        for (int k = 0; k < 2; k++)
            for (int b = 0; b < CS_LAT_BUCKETS; b++) latency[k][b] += c->close_latency[k][b];
        for (int b = 0; b < CS_SKEW_BUCKETS; b++) skew[b] += c->skew[b];
        if (c->start_ns > 0 && c->start_ns < start) start = c->start_ns;
        if (c->end_ns > end) end = c->end_ns;
        if (c->lane_stage != 0 && out.failed_lane < 0) out.failed_lane = i;
    }
    int threads = o->race == CS_RACE_CROSS_THREAD ? 2 * cores : cores;
    /* This front end has one placement: lane i on the i-th allowed CPU. */
    jf(j, "{\"type\":\"step\",\"step\":{\"cores\":%d,\"threads\":%d,\"oversubscribed\":%s,\"placement\":\"linear\",\"trials\":",
       cores, threads, threads > m ? "true" : "false");
    jcount(j, trials);
    JLIT(j, ",\"elapsedNs\":");
    jcount(j, end > start ? end - start : 0);

    JLIT(j, ",\"calls\":");
    out.close_attempts = write_calls(j, o, calls);
    JLIT(j, ",\"setupFailures\":{");
    int first = 1;
    uint64_t setup_failed = 0;
    for (int s = 0; s < CS_STAGE_COUNT; s++) {
        int any = 0;
        for (int e = 0; e < CS_ERRNO_SLOTS && !any; e++) any = setup[s][e] != 0;
        if (!any) continue;
        jkey(j, &first, cs_stage_names[s]);
        setup_failed += write_errors(j, setup[s], 0);
    }
    JLIT(j, "},\"setupFailed\":");
    jcount(j, setup_failed);
    JLIT(j, ",\"strangers\":");
    jcount(j, strangers);
    jf(j, ",\"victimFd\":{\"released\":%llu,\"retained\":%llu,\"reused\":%llu},\"lanes\":[",
       (unsigned long long)released, (unsigned long long)retained, (unsigned long long)reused);
    for (int i = 0; i < cores; i++) {
        const struct cs_lane_counters *c = &lanes[i];
        jf(j, "%s{\"cpu\":%d,\"resetCpu\":%d,\"pinned\":%s,\"trials\":", i ? "," : "", jobs[i].cfg.cpu,
           jobs[i].cfg.reset_cpu, c->pinned == 1 ? "true" : "false");
        jcount(j, c->done);
        JLIT(j, ",\"cpusSeen\":");
        write_cpu_list(j, c->victim_cpus);
        JLIT(j, ",\"resetCpusSeen\":");
        write_cpu_list(j, c->reset_cpus);
        if (c->lane_stage != 0) {
            char stage[32], buf[32];
            if (c->lane_stage < LANE_STAGE_COUNT) snprintf(stage, sizeof stage, "%s", cs_lane_stage_names[c->lane_stage]);
            else snprintf(stage, sizeof stage, "stage %llu", (unsigned long long)c->lane_stage);
            JLIT(j, ",\"failure\":{\"stage\":");
            jstr(j, stage);
            JLIT(j, ",\"errno\":");
            int e = c->lane_errno < CS_ERRNO_SLOTS ? (int)c->lane_errno : CS_ERRNO_SLOTS - 1;
            jstr(j, errno_key(e, buf, sizeof buf));
            JLIT(j, "}");
        }
        JLIT(j, "}");
    }
    jf(j, "],\"interrupted\":%s,\"probes\":[", interrupted ? "true" : "false");
    write_probe_names(j, o->probes);
    JLIT(j, "],\"probeSetupFailures\":");
    write_errors(j, probe_setup, 0);
    JLIT(j, ",\"latency\":{\"close\":{\"ok\":");
    write_histogram(j, latency[0]);
    JLIT(j, ",\"error\":");
    write_histogram(j, latency[1]);
    JLIT(j, "}}");
    struct skew_stats achieved = {0};
    if (threads > cores) {
        skew_stats(skew, &achieved);
        if (achieved.samples > 0) {
            JLIT(j, ",\"achievedSkew\":");
            write_skew_stats(j, &achieved);
        }
    }
    if (o->skew_set) {
        /* src/skew.ts point(): the asked skew, what was achieved, and the outcomes. */
        jf(j, ",\"skew\":{\"mode\":\"fixed\",\"points\":[{\"askedNs\":%lld,\"achievedMedianNs\":%lld,\"achieved\":",
           (long long)o->skew_ns, (long long)achieved.median_ns);
        write_skew_stats(j, &achieved);
        JLIT(j, ",\"trials\":");
        jcount(j, trials);
        JLIT(j, ",\"calls\":");
        write_calls(j, o, calls);
        JLIT(j, "}]}");
    }
    if (before->n >= 0 && after->n >= 0) {
        JLIT(j, ",\"kernel\":{\"source\":");
        jstr(j, after->source);
        JLIT(j, ",\"scope\":\"machine\",\"deltas\":{");
        first = 1;
        for (int a = 0; a < after->n; a++)
            for (int b = 0; b < before->n; b++) {
                if (strcmp(after->list[a].name, before->list[b].name) != 0) continue;
                jkey(j, &first, after->list[a].name);
                jf(j, "%lld", (long long)(after->list[a].value - before->list[b].value));
                break;
            }
        JLIT(j, "}}");
    }
    JLIT(j, "}}");
    write_line(j);
    out.trials = trials;
    return out;
}

/* ---- running a step ------------------------------------------------------- */

static volatile sig_atomic_t signal_seen;
static struct cs_step_shared *volatile current_step;

/* Finish the trial in hand, journal the step, stop; a second signal means now. */
static void on_signal(int sig) {
    if (signal_seen) _exit(sig == SIGINT ? 130 : 143);
    signal_seen = sig;
    struct cs_step_shared *step = current_step;
    if (step) __atomic_store_n(&step->stop, 1, __ATOMIC_RELEASE);
}

static void *lane_main(void *arg) {
    struct lane_job *job = arg;
    cs_run_lane(&job->cfg, job->step, job->counters);
    return NULL;
}

/* Lane i on the i-th allowed CPU (wrapping), its resetter on the next one, as
 * src/plan.ts buildPlan does: RST and victim close start on two CPUs. */
static void plan_lanes(const struct options *o, int cores, const int *allowed, int m,
                       struct lane_job *jobs) {
    int pin = cs_os_can_pin();
    for (int i = 0; i < cores; i++) {
        struct cs_lane_config *cfg = &jobs[i].cfg;
        cfg->family = o->family == 6 ? AF_INET6 : AF_INET;
        cfg->race = o->race;
        cfg->reset_side = o->reset_side;
        cfg->cpu = pin ? allowed[i % m] : -1;
        cfg->reset_cpu = o->race == CS_RACE_CROSS_THREAD && pin ? allowed[(i + 1) % m] : -1;
        cfg->probes = o->probes;
        cfg->skew_ns = o->skew_ns;
    }
}

static void run_step(const struct options *o, int cores, const int *allowed, int m,
                     struct cs_step_shared *step, struct cs_lane_counters *lanes,
                     struct lane_job *jobs, pthread_t *threads) {
    memset(step, 0, sizeof *step);
    memset(lanes, 0, sizeof *lanes * (size_t)cores);
    step->limit = o->iterations;
    step->lanes = (uint64_t)cores;
    current_step = step;
    if (signal_seen) __atomic_store_n(&step->stop, 1, __ATOMIC_RELEASE);

    plan_lanes(o, cores, allowed, m, jobs);
    /* Signals go to this thread only: a lane blocked in accept() must not see EINTR. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    char started[MAX_CORES];
    for (int i = 0; i < cores; i++) {
        jobs[i].step = step;
        jobs[i].counters = &lanes[i];
        int err = pthread_create(&threads[i], NULL, lane_main, &jobs[i]);
        started[i] = err == 0;
        if (err != 0) {
            lanes[i].lane_stage = CS_LANE_THREAD;
            lanes[i].lane_errno = (uint64_t)err;
            /* It will never reach the start gate; do not let the others wait for it. */
            __atomic_fetch_add(&step->ready, 1, __ATOMIC_ACQ_REL);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < cores; i++)
        if (started[i]) pthread_join(threads[i], NULL);
    current_step = NULL;
}

static void describe_setup_failures(const struct cs_lane_counters *lanes, int cores, char *buf, size_t n) {
    size_t w = 0;
    buf[0] = '\0';
    for (int s = 0; s < CS_STAGE_COUNT; s++)
        for (int e = 0; e < CS_ERRNO_SLOTS; e++) {
            uint64_t sum = 0;
            for (int i = 0; i < cores; i++) sum += lanes[i].setup[s][e];
            if (!sum || w >= n) continue;
            char key[32];
            w += (size_t)snprintf(buf + w, n - w, "%s%s %s x%llu", w ? ", " : "", cs_stage_names[s],
                                  errno_key(e, key, sizeof key), (unsigned long long)sum);
        }
}

static void open_journal(const struct options *o) {
    if (!o->journal) return;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o->force ? O_TRUNC : O_EXCL);
    journal_fd = open(o->journal, flags, 0644);
    if (journal_fd >= 0) return;
    if (errno == EEXIST) usage_error("--journal %s already exists; pass --force to overwrite it", o->journal);
    const char *name = cs_errno_name(errno);
    usage_error("--journal %s: cannot create it (%s)", o->journal, name ? name : strerror(errno));
}

int main(int argc, char **argv) {
    static int allowed[MAX_CORES];
    int m = cs_os_allowed_cpus(allowed, MAX_CORES);
    if (m < 0) {
        const char *name = cs_errno_name(-m);
        fprintf(stderr, TOOL ": error: cannot read the allowed CPU set (%s)\n", name ? name : "?");
        return 1;
    }
    static struct options o;
    parse_args(argc, argv, m, &o);
    open_journal(&o);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed journal pipe is an error to report, not a silent death */

    int most = 0;
    for (int i = 0; i < o.steps; i++) if (o.cores[i] > most) most = o.cores[i];
    struct cs_step_shared *step = NULL;
    struct cs_lane_counters *lanes = NULL;
    if (posix_memalign((void **)&step, 64, sizeof *step) != 0 ||
        posix_memalign((void **)&lanes, 64, sizeof *lanes * (size_t)most) != 0)
        out_of_memory();
    struct lane_job *jobs = calloc((size_t)most, sizeof *jobs);
    pthread_t *threads = calloc((size_t)most, sizeof *threads);
    if (!jobs || !threads) out_of_memory();

    struct json j = {0};
    write_run_header(&j, &o, allowed, m);

    const char *status = "completed";
    char error[1200] = "";
    for (int s = 0; s < o.steps && !signal_seen; s++) {
        int cores = o.cores[s];
        static struct kernel_read before, after;
        read_kernel(&before);
        run_step(&o, cores, allowed, m, step, lanes, jobs, threads);
        read_kernel(&after);
        struct step_outcome r =
            write_step(&j, &o, cores, jobs, lanes, m, signal_seen != 0, &before, &after);
        fprintf(stderr, TOOL ": %d-core step: %llu trials\n", cores, (unsigned long long)r.trials);
        /* src/run.ts checkStep: a step that measured nothing fails the run. */
        if (r.failed_lane >= 0) {
            const struct cs_lane_counters *c = &lanes[r.failed_lane];
            char key[32];
            int e = c->lane_errno < CS_ERRNO_SLOTS ? (int)c->lane_errno : CS_ERRNO_SLOTS - 1;
            snprintf(error, sizeof error, "%d-core step: lane %d (CPU %d) could not start: %s failed with %s",
                     cores, r.failed_lane, jobs[r.failed_lane].cfg.cpu,
                     c->lane_stage < LANE_STAGE_COUNT ? cs_lane_stage_names[c->lane_stage] : "unknown",
                     errno_key(e, key, sizeof key));
        } else if (r.trials > 0 && r.close_attempts == 0) {
            char why[1024];
            describe_setup_failures(lanes, cores, why, sizeof why);
            snprintf(error, sizeof error, "%d-core step: every trial's setup failed (%s)", cores, why);
        }
        if (error[0]) { status = "failed"; break; }
    }
    int exit_code = 0;
    if (error[0]) {
        exit_code = 1;
    } else if (signal_seen) {
        status = "interrupted";
        snprintf(error, sizeof error, "stopped by %s", signal_seen == SIGINT ? "SIGINT" : "SIGTERM");
        exit_code = signal_seen == SIGINT ? 130 : 143;
    }
    char now[40];
    iso_now(now, sizeof now);
    jf(&j, "{\"type\":\"end\",\"status\":\"%s\"", status);
    if (error[0]) {
        JLIT(&j, ",\"error\":");
        jstr(&j, error);
    }
    jf(&j, ",\"finishedAt\":\"%s\"}", now);
    write_line(&j);
    if (error[0]) fprintf(stderr, TOOL ": %s: %s\n", status, error);
    return exit_code;
}
