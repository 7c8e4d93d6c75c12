/*
 * Feeds cs_freebsd_tcpstat_decode() (native/src/counters.c) a synthetic
 * net.inet.tcp.stats buffer: slot i (uint64_t) holds 1000000 + i, so the test
 * can tell from each decoded value which slot it was read from.
 *
 *   tcpstat-decode OSRELDATE LENGTH   ->  {"ok":true,"counters":{...}} or {"ok":false,"why":"..."}
 *
 * With `darwin MAJOR LENGTH` it feeds cs_darwin_tcpstat_decode() instead, and
 * slot i is a uint32_t holding 1000000 + i, as macOS's struct tcpstat has.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

int main(int argc, char **argv) {
    int darwin = argc == 4 && strcmp(argv[1], "darwin") == 0;
    if (argc != 3 && !darwin) {
        fprintf(stderr, "usage: tcpstat-decode OSRELDATE LENGTH | darwin MAJOR LENGTH\n");
        return 2;
    }
    int version = atoi(argv[darwin ? 2 : 1]);
    size_t len = (size_t)strtoul(argv[darwin ? 3 : 2], NULL, 10);
    static uint64_t words[512];
    static uint32_t words32[1024];
    if (len > sizeof words) return 2;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) words[i] = 1000000 + i;
    for (size_t i = 0; i < sizeof words32 / sizeof words32[0]; i++) words32[i] = 1000000 + (uint32_t)i;
    struct cs_tcp_counter out[CS_TCP_COUNTERS_MAX];
    char why[200];
    int n = darwin ? cs_darwin_tcpstat_decode(version, words32, len, out, CS_TCP_COUNTERS_MAX, why, sizeof why)
                   : cs_freebsd_tcpstat_decode(version, words, len, out, CS_TCP_COUNTERS_MAX, why, sizeof why);
    if (n < 0) {
        printf("{\"ok\":false,\"why\":\"%s\"}\n", why);
        return 0;
    }
    printf("{\"ok\":true,\"counters\":{");
    for (int i = 0; i < n; i++) printf("%s\"%s\":%llu", i ? "," : "", out[i].name, (unsigned long long)out[i].value);
    printf("}}\n");
    return 0;
}
