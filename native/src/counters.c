/*
 * The kernel's own TCP counters, read before and after a step so that a
 * report can show that the RSTs were really sent. They are machine-wide:
 * other traffic on the host moves them too.
 */
#include "core.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__FreeBSD__) || defined(__APPLE__)
/* tcp_var.h is a kernel header that user programs may read for struct
 * tcpstat; it needs these first (sys/queue.h above all). */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/sysctl.h>
#if defined(__APPLE__)
#include <sys/socketvar.h>
#include <net/route.h>
#include <netinet/in.h>
#include <netinet/in_systm.h>
#include <netinet/ip.h>
#include <netinet/in_pcb.h>
#include <netinet/ip_var.h>
#include <netinet/tcp.h>
#include <netinet/tcp_timer.h>
#endif
#include <netinet/tcp_var.h>
#endif

/*
 * FreeBSD's struct tcpstat is an array of uint64_t whose order changed
 * between releases, so each field we read has a slot per layout. Slots are
 * the field's position in struct tcpstat of:
 *   13: the 13.5 sysroot's usr/include/netinet/tcp_var.h (__FreeBSD_version
 *       1305000; 106 fields + _pad[7] = 113 slots, 904 bytes);
 *   14: 14.0 inserted tcps_progdrops after tcps_keepdrops, so every field
 *       from tcps_sndtotal on is one slot later; stable/14 fills _pad, the
 *       size stays 984 bytes (123 slots);
 *   15: the fields below keep 14's slots; 15-CURRENT at 1500030 was still
 *       984 bytes, 15.0 returns 1000 (tcps_sc_spurcookie and
 *       tcps_sc_failcookie after tcps_sc_recvcookie, beyond every slot here).
 * Where each was read is in README.md ("Kernel counters on FreeBSD").
 * macOS (XNU) keeps a struct tcpstat of u_int32_t in an order of its own;
 * d9 and d18 are each field's slot there, read in bsd/netinet/tcp_var.h of
 * apple-oss-distributions/xnu: d9 for xnu-1228 to xnu-4570 (Darwin 9-17,
 * macOS 10.5-10.13), d18 from xnu-4903 (Darwin 18, macOS 10.14, which
 * inserted tcps_synchallenge and tcps_rstchallenge before tcps_minmssdrops)
 * to xnu-11417.101.15 (Darwin 24, macOS 15).
 * Neither BSD counts RSTs alone: tcps_sndctrl counts every segment sent with
 * SYN, FIN or RST and no data, so it is reported as what it is.
 */
#define CS_TCPSTAT_FIELDS(X)                                                                    \
    X(tcps_connattempt, 0, 0, 0, 0, "connect()s started (SYN sent)")                                  \
    X(tcps_accepts, 1, 1, 1, 1, "connections accepted by a listener")                                 \
    X(tcps_connects, 2, 2, 2, 2, "connections established (both ends count)")                         \
    X(tcps_drops, 3, 3, 3, 3, "established connections dropped: an RST sent by SO_LINGER {1,0} close or received from the peer") \
    X(tcps_conndrops, 4, 4, 4, 4, "embryonic (pre-ESTABLISHED) connections dropped")                  \
    X(tcps_closed, 6, 6, 5, 5, "connections closed (tcp_close() calls), drops included")              \
    X(tcps_sndtotal, 16, 17, 15, 15, "segments sent")                                                   \
    X(tcps_sndctrl, 26, 27, 24, 24, "control segments sent: SYN, FIN and RST together (no RST-only counter exists)") \
    X(tcps_rcvtotal, 27, 28, 25, 25, "segments received")                                               \
    X(tcps_rcvbadsum, 30, 31, 28, 28, "segments received with a bad checksum")                          \
    X(tcps_rcvbadoff, 31, 32, 29, 29, "segments received with a bad data offset")                       \
    X(tcps_rcvafterclose, 42, 43, 40, 40, "segments received after the socket was closed (answered with RST)") \
    X(tcps_listendrop, 62, 63, 60, 60, "connections dropped because a listen queue was full")           \
    X(tcps_badrst, 63, 64, 63, 65, "RSTs received and ignored (in window, wrong sequence)")

static const struct tcpstat_field {
    const char *name;
    const char *meaning;
    unsigned char slot13, slot14;
} tcpstat_fields[] = {
#define ROW(f, s13, s14, d9, d18, m) {#f, m, s13, s14},
    CS_TCPSTAT_FIELDS(ROW)
#undef ROW
};

/* Lengths the sysctl returns per major version; anything else is a layout
 * this table does not know, and no field is read. */
static const struct tcpstat_layout {
    int major;
    int use14; /* slots: 0 = 13's, 1 = 14's (15 keeps them) */
    size_t bytes[2];
} tcpstat_layouts[] = {
    {13, 0, {904, 0}},
    {14, 1, {984, 0}},
    {15, 1, {984, 1000}},
};

int cs_freebsd_tcpstat_decode(int osreldate, const void *buf, size_t len, struct cs_tcp_counter *out, int max,
                              char *why, size_t why_len) {
    int major = osreldate / 100000;
    const struct tcpstat_layout *l = NULL;
    for (size_t i = 0; i < sizeof tcpstat_layouts / sizeof tcpstat_layouts[0]; i++)
        if (tcpstat_layouts[i].major == major) l = &tcpstat_layouts[i];
    if (!l) {
        snprintf(why, why_len, "no struct tcpstat layout known for FreeBSD %d (kern.osreldate %d; known: 13, 14, 15)",
                 major, osreldate);
        return -ENOTSUP;
    }
    if (len != l->bytes[0] && (l->bytes[1] == 0 || len != l->bytes[1])) {
        if (l->bytes[1])
            snprintf(why, why_len, "%zu bytes from a FreeBSD %d kernel (kern.osreldate %d) match no known layout (%zu or %zu bytes)",
                     len, major, osreldate, l->bytes[0], l->bytes[1]);
        else
            snprintf(why, why_len, "%zu bytes from a FreeBSD %d kernel (kern.osreldate %d) match no known layout (%zu bytes)",
                     len, major, osreldate, l->bytes[0]);
        return -ENOTSUP;
    }
    int n = 0;
    for (size_t i = 0; i < sizeof tcpstat_fields / sizeof tcpstat_fields[0] && n < max; i++) {
        const struct tcpstat_field *f = &tcpstat_fields[i];
        size_t slot = l->use14 ? f->slot14 : f->slot13;
        uint64_t v;
        memcpy(&v, (const unsigned char *)buf + slot * sizeof v, sizeof v);
        out[n].name = f->name;
        out[n].meaning = f->meaning;
        out[n].value = v;
        n++;
    }
    return n;
}

static const struct darwin_field {
    const char *name;
    const char *meaning;
    unsigned char slot9, slot18;
} darwin_fields[] = {
#define DROW(f, s13, s14, d9, d18, m) {#f, m, d9, d18},
    CS_TCPSTAT_FIELDS(DROW)
#undef DROW
};

/* The XNU releases whose struct tcpstat was read (see the table above): a
 * newer Darwin may have moved a field, so it gets no values. */
#define DARWIN_FIRST 9
#define DARWIN_LAST 24

int cs_darwin_tcpstat_decode(int darwin_major, const void *buf, size_t len, struct cs_tcp_counter *out, int max,
                             char *why, size_t why_len) {
    if (darwin_major < DARWIN_FIRST || darwin_major > DARWIN_LAST) {
        snprintf(why, why_len, "no struct tcpstat layout known for Darwin %d (known: %d to %d, xnu-1228 to xnu-11417)",
                 darwin_major, DARWIN_FIRST, DARWIN_LAST);
        return -ENOTSUP;
    }
    int new_layout = darwin_major >= 18;
    size_t need = 0;
    for (size_t i = 0; i < sizeof darwin_fields / sizeof darwin_fields[0]; i++) {
        size_t slot = new_layout ? darwin_fields[i].slot18 : darwin_fields[i].slot9;
        if ((slot + 1) * sizeof(uint32_t) > need) need = (slot + 1) * sizeof(uint32_t);
    }
    /* Every XNU since 10.5 returns far more than this; a shorter buffer is
     * not a struct tcpstat this table knows. */
    if (len < need) {
        snprintf(why, why_len, "%zu bytes from a Darwin %d kernel are fewer than the %zu its struct tcpstat needs here",
                 len, darwin_major, need);
        return -ENOTSUP;
    }
    int n = 0;
    for (size_t i = 0; i < sizeof darwin_fields / sizeof darwin_fields[0] && n < max; i++) {
        const struct darwin_field *f = &darwin_fields[i];
        uint32_t v;
        memcpy(&v, (const unsigned char *)buf + (new_layout ? f->slot18 : f->slot9) * sizeof v, sizeof v);
        out[n].name = f->name;
        out[n].meaning = f->meaning;
        out[n].value = v;
        n++;
    }
    return n;
}

int cs_kernel_reldate(void) {
#if defined(__FreeBSD__)
    int v = 0;
    size_t len = sizeof v;
    if (sysctlbyname("kern.osreldate", &v, &len, NULL, 0) != 0) return 0;
    return v;
#else
    return 0;
#endif
}

#if defined(__FreeBSD__)
/* The build's own headers check the slots of their release; the other
 * releases' slots are checked against synthetic buffers by
 * test/freebsd-counters.test.mjs. */
#if __FreeBSD_version >= 1300000 && __FreeBSD_version < 1400000
#define CHECK_SLOT(f, s13, s14, d9, d18, m) _Static_assert(offsetof(struct tcpstat, f) == (s13) * 8, #f " is not in 13's slot");
_Static_assert(sizeof(struct tcpstat) == 904, "13's struct tcpstat is not 904 bytes");
#elif __FreeBSD_version >= 1400000 && __FreeBSD_version < 1600000
#define CHECK_SLOT(f, s13, s14, d9, d18, m) _Static_assert(offsetof(struct tcpstat, f) == (s14) * 8, #f " is not in 14's slot");
#endif
#ifdef CHECK_SLOT
CS_TCPSTAT_FIELDS(CHECK_SLOT)
#undef CHECK_SLOT
#endif
#endif

#if defined(__linux__)

/* Which rows of /proc/net/snmp ("Tcp:") and /proc/net/netstat ("TcpExt:") we
 * keep. Meanings from the kernel's include/uapi/linux/snmp.h and RFC 4022. */
static const struct wanted {
    const char *section;
    const char *name;
    const char *meaning;
} wanted[] = {
    {"Tcp", "ActiveOpens", "connect()s that sent a SYN (CLOSED -> SYN-SENT)"},
    {"Tcp", "PassiveOpens", "SYNs taken by a listener (LISTEN -> SYN-RECEIVED)"},
    {"Tcp", "AttemptFails", "connection attempts that failed before ESTABLISHED"},
    {"Tcp", "EstabResets", "ESTABLISHED or CLOSE-WAIT connections that went straight to CLOSED (RST sent or received)"},
    {"Tcp", "CurrEstab", "connections ESTABLISHED or CLOSE-WAIT now (a gauge: its delta can be negative)"},
    {"Tcp", "InSegs", "segments received"},
    {"Tcp", "OutSegs", "segments sent, retransmissions excluded"},
    {"Tcp", "RetransSegs", "segments retransmitted"},
    {"Tcp", "InErrs", "segments received in error"},
    {"Tcp", "OutRsts", "segments sent with the RST flag"},
    {"TcpExt", "TCPAbortOnData", "connections reset by close() with SO_LINGER {1,0} (the injected RST), or by data arriving after shutdown"},
    {"TcpExt", "TCPAbortOnClose", "connections reset by close() with unread data"},
    {"TcpExt", "TCPAbortOnMemory", "connections reset for lack of memory"},
    {"TcpExt", "TCPAbortOnTimeout", "connections reset after too many retransmissions"},
    {"TcpExt", "TCPAbortOnLinger", "connections reset in FIN-WAIT-2 because TCP_LINGER2 is negative"},
    {"TcpExt", "TCPAbortFailed", "RSTs that could not be sent"},
    {"TcpExt", "ListenOverflows", "SYNs or ACKs dropped because a listen queue was full"},
    {"TcpExt", "ListenDrops", "SYNs dropped at a listener, for any reason"},
};

#define LINE_MAX_BYTES 16384 /* TcpExt is one long line pair */

/* /proc/net/{snmp,netstat} come in pairs of lines: "Sec: names..." then
 * "Sec: values..." in the same order. */
static int read_pairs(const char *path, struct cs_tcp_counter *out, int n, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    char names[LINE_MAX_BYTES], values[LINE_MAX_BYTES];
    while (n < max && fgets(names, sizeof names, f) && fgets(values, sizeof values, f)) {
        char *colon = strchr(names, ':');
        if (!colon || strncmp(names, values, (size_t)(colon - names + 1)) != 0) continue;
        *colon = '\0';
        const char *section = names;
        char *save_n = NULL, *save_v = NULL;
        char *name = strtok_r(colon + 1, " \n", &save_n);
        char *value = strtok_r(strchr(values, ':') + 1, " \n", &save_v);
        for (; name && value && n < max;
             name = strtok_r(NULL, " \n", &save_n), value = strtok_r(NULL, " \n", &save_v)) {
            for (size_t w = 0; w < sizeof wanted / sizeof wanted[0]; w++) {
                if (strcmp(wanted[w].section, section) != 0 || strcmp(wanted[w].name, name) != 0)
                    continue;
                /* CurrEstab is the only signed field; it is never below zero. */
                long long v = strtoll(value, NULL, 10);
                out[n].name = wanted[w].name;
                out[n].meaning = wanted[w].meaning;
                out[n].value = v < 0 ? 0 : (uint64_t)v;
                n++;
                break;
            }
        }
    }
    fclose(f);
    return n;
}

int cs_tcp_counters(struct cs_tcp_counter *out, int max, const char **source) {
    return cs_tcp_counters_at("/proc/net", out, max, source);
}

int cs_tcp_counters_at(const char *proc_net, struct cs_tcp_counter *out, int max, const char **source) {
    static __thread char where[320];
    char path[256];
    snprintf(where, sizeof where, "%s/snmp Tcp + %s/netstat TcpExt", proc_net, proc_net);
    *source = where;
    snprintf(path, sizeof path, "%s/snmp", proc_net);
    int n = read_pairs(path, out, 0, max);
    if (n < 0) return n;
    snprintf(path, sizeof path, "%s/netstat", proc_net);
    int m = read_pairs(path, out, n, max);
    return m < 0 ? n : m; /* TcpExt is a bonus: some containers hide it */
}

#elif defined(__FreeBSD__)

/* The running kernel's struct tcpstat, not the one of the headers this was
 * built against: a binary built on 13 and copied into a 15 VM must not read
 * 15's counters one slot off (14.0 inserted tcps_progdrops). */
int cs_tcp_counters(struct cs_tcp_counter *out, int max, const char **source) {
    /* Static: *source must outlive the call; every caller reads the counters
     * from one thread and copies or prints the text before the next read. */
    static char text[256];
    int osreldate = cs_kernel_reldate();
    /* Room for a newer kernel's longer struct: sysctl fails with ENOMEM when
     * the buffer is short, and the length it returns picks the layout. */
    static uint64_t words[512];
    size_t len = sizeof words;
    if (sysctlbyname("net.inet.tcp.stats", words, &len, NULL, 0) != 0) {
        int err = errno;
        snprintf(text, sizeof text, "sysctl net.inet.tcp.stats failed (%s)", cs_errno_name(err) ? cs_errno_name(err) : "?");
        *source = text;
        return -err;
    }
    char why[200];
    int n = cs_freebsd_tcpstat_decode(osreldate, words, len, out, max, why, sizeof why);
    if (n < 0) {
        snprintf(text, sizeof text, "sysctl net.inet.tcp.stats: %s", why);
    } else {
        snprintf(text, sizeof text, "sysctl net.inet.tcp.stats (struct tcpstat of FreeBSD %d, kern.osreldate %d, %zu bytes)",
                 osreldate / 100000, osreldate, len);
    }
    *source = text;
    return n;
}

#elif defined(__APPLE__)

/* The build's SDK header must agree with one of the two layouts above: a Mac
 * build proves the table against Apple's own header. */
#define CHECK_DARWIN(f, s13, s14, d9, d18, m)                                                      \
    _Static_assert(sizeof(((struct tcpstat *)0)->f) == sizeof(uint32_t), #f " is not 32 bits");  \
    _Static_assert(offsetof(struct tcpstat, f) == (d18) * 4 || offsetof(struct tcpstat, f) == (d9) * 4, \
                   #f " is in neither XNU slot of the table");
CS_TCPSTAT_FIELDS(CHECK_DARWIN)
#undef CHECK_DARWIN

/* Like FreeBSD, by the running kernel (kern.osrelease's Darwin major), not
 * the SDK the binary was built with. */
int cs_tcp_counters(struct cs_tcp_counter *out, int max, const char **source) {
    static char text[256];
    char release[32] = "";
    size_t rlen = sizeof release;
    int darwin = sysctlbyname("kern.osrelease", release, &rlen, NULL, 0) == 0 ? atoi(release) : 0;
    static uint32_t words[1024];
    size_t len = sizeof words;
    if (sysctlbyname("net.inet.tcp.stats", words, &len, NULL, 0) != 0) {
        int err = errno;
        snprintf(text, sizeof text, "sysctl net.inet.tcp.stats failed (%s)", cs_errno_name(err) ? cs_errno_name(err) : "?");
        *source = text;
        return -err;
    }
    char why[200];
    int n = cs_darwin_tcpstat_decode(darwin, words, len, out, max, why, sizeof why);
    if (n < 0)
        snprintf(text, sizeof text, "sysctl net.inet.tcp.stats: %s", why);
    else
        snprintf(text, sizeof text, "sysctl net.inet.tcp.stats (struct tcpstat of Darwin %d, %zu bytes)", darwin, len);
    *source = text;
    return n;
}

#else

int cs_tcp_counters(struct cs_tcp_counter *out, int max, const char **source) {
    (void)out;
    (void)max;
    *source = "none (no TCP counters known for this OS)";
    return -ENOTSUP;
}

#endif

#if !defined(__linux__)
/* Only Linux has per-namespace counters under /proc/PID/net. */
int cs_tcp_counters_at(const char *proc_net, struct cs_tcp_counter *out, int max, const char **source) {
    (void)proc_net;
    (void)out;
    (void)max;
    *source = "per-namespace counters exist only on Linux";
    return -ENOTSUP;
}
#endif
