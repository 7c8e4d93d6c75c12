/*
 * Feeds cs_freebsd_tcpstat_decode() (native/src/counters.c) a synthetic
 * net.inet.tcp.stats buffer: slot i (uint64_t) holds 1000000 + i, so the test
 * can tell from each decoded value which slot it was read from.
 *
 *   tcpstat-decode OSRELDATE LENGTH   ->  {"ok":true,"counters":{...}} or {"ok":false,"why":"..."}
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: tcpstat-decode OSRELDATE LENGTH\n");
        return 2;
    }
    int osreldate = atoi(argv[1]);
    size_t len = (size_t)strtoul(argv[2], NULL, 10);
    static uint64_t words[512];
    if (len > sizeof words) return 2;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) words[i] = 1000000 + i;
    struct cs_tcp_counter out[CS_TCP_COUNTERS_MAX];
    char why[200];
    int n = cs_freebsd_tcpstat_decode(osreldate, words, len, out, CS_TCP_COUNTERS_MAX, why, sizeof why);
    if (n < 0) {
        printf("{\"ok\":false,\"why\":\"%s\"}\n", why);
        return 0;
    }
    printf("{\"ok\":true,\"counters\":{");
    for (int i = 0; i < n; i++) printf("%s\"%s\":%llu", i ? "," : "", out[i].name, (unsigned long long)out[i].value);
    printf("}}\n");
    return 0;
}
