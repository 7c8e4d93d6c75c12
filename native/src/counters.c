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
    *source = "/proc/net/snmp Tcp + /proc/net/netstat TcpExt";
    int n = read_pairs("/proc/net/snmp", out, 0, max);
    if (n < 0) return n;
    int m = read_pairs("/proc/net/netstat", out, n, max);
    return m < 0 ? n : m; /* TcpExt is a bonus: some containers hide it */
}

#elif defined(__FreeBSD__) || defined(__APPLE__)

/* The same fields exist on both BSDs (uint64_t on FreeBSD, u_int32_t on
 * macOS), so the table keeps each field's offset and size and reads either.
 * Neither kernel counts RSTs alone: tcps_sndctrl counts every segment sent
 * with SYN, FIN or RST and no data: it also counts each connection's SYN and
 * any FIN, so it is reported as what it is ("control segments"), never as RSTs.
 * tcps_drops (tcp_drop(), which an SO_LINGER {1,0} close calls) is the closer
 * count of RSTs sent, though it also counts RSTs received. */
#define FIELD(f, m) {#f, m, offsetof(struct tcpstat, f), sizeof(((struct tcpstat *)0)->f)}
static const struct field {
    const char *name;
    const char *meaning;
    size_t offset;
    size_t size;
} fields[] = {
    FIELD(tcps_connattempt, "connect()s started (SYN sent)"),
    FIELD(tcps_accepts, "connections accepted by a listener"),
    FIELD(tcps_connects, "connections established (both ends count)"),
    FIELD(tcps_drops, "established connections dropped: an RST sent by SO_LINGER {1,0} close or received from the peer"),
    FIELD(tcps_conndrops, "embryonic (pre-ESTABLISHED) connections dropped"),
    FIELD(tcps_closed, "connections closed, drops included"),
    FIELD(tcps_sndtotal, "segments sent"),
    FIELD(tcps_sndctrl, "control segments sent: SYN, FIN and RST together (no RST-only counter exists)"),
    FIELD(tcps_rcvtotal, "segments received"),
    FIELD(tcps_rcvbadsum, "segments received with a bad checksum"),
    FIELD(tcps_rcvbadoff, "segments received with a bad data offset"),
    FIELD(tcps_rcvafterclose, "segments received after the socket was closed (answered with RST)"),
    FIELD(tcps_badrst, "RSTs received and ignored (in window, wrong sequence)"),
    FIELD(tcps_listendrop, "connections dropped because a listen queue was full"),
};
#undef FIELD

int cs_tcp_counters(struct cs_tcp_counter *out, int max, const char **source) {
    *source = "sysctl net.inet.tcp.stats (struct tcpstat)";
    /* Room for a newer kernel's longer struct: sysctl fails with ENOMEM when
     * the buffer is short, and the fields we read keep their offsets. */
    union {
        struct tcpstat st;
        unsigned char bytes[sizeof(struct tcpstat) + 4096];
        uint64_t align;
    } buf;
    size_t len = sizeof buf;
    if (sysctlbyname("net.inet.tcp.stats", &buf, &len, NULL, 0) != 0) return -errno;
    int n = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && n < max; i++) {
        const struct field *f = &fields[i];
        if (f->offset + f->size > len) continue; /* an older kernel's shorter struct */
        uint64_t v = 0;
        if (f->size == sizeof(uint64_t)) {
            uint64_t x;
            memcpy(&x, buf.bytes + f->offset, sizeof x);
            v = x;
        } else {
            uint32_t x;
            memcpy(&x, buf.bytes + f->offset, sizeof x);
            v = x;
        }
        out[n].name = f->name;
        out[n].meaning = f->meaning;
        out[n].value = v;
        n++;
    }
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
