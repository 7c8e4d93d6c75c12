/*
 * The shared memory's layout as data, so that no front end spells out the C
 * structs: the binding hands it to JS (src/core/native.ts Layout), close-stress-core
 * writes it into its journal header next to the raw words.
 */
#include "core.h"

#include <stddef.h>

#define LANE(f) {#f, offsetof(struct cs_lane_counters, f)}
const struct cs_layout_entry cs_layout_lane[] = {
    LANE(done), LANE(start_ns), LANE(end_ns), LANE(strangers), LANE(fd_released),
    LANE(fd_retained), LANE(fd_reused), LANE(lane_errno), LANE(lane_stage), LANE(pinned),
    LANE(victim_cpus), LANE(reset_cpus), LANE(calls), LANE(setup), LANE(probe_setup),
    LANE(close_latency), LANE(skew), LANE(skew_far), LANE(close_first_error_ns), {NULL, 0},
};
#undef LANE

const struct cs_layout_entry cs_layout_scalars[] = {
    {"version", CS_LAYOUT_VERSION},
    {"laneBytes", sizeof(struct cs_lane_counters)},
    {"stepBytes", sizeof(struct cs_step_shared)},
    {"stepClaimed", offsetof(struct cs_step_shared, claimed)},
    {"stepLimit", offsetof(struct cs_step_shared, limit)},
    {"stepStop", offsetof(struct cs_step_shared, stop)},
    {"stepLanes", offsetof(struct cs_step_shared, lanes)},
    {"errnoSlots", CS_ERRNO_SLOTS},
    {"cpuMaskWords", CS_CPU_MASK_WORDS},
    {"maxLanes", CS_MAX_LANES},
    {"callCount", CS_CALL_COUNT},
    {"stageCount", CS_STAGE_COUNT},
    {"firstProbe", CS_CALL_SHUTDOWN},
    {"latencyBuckets", CS_LAT_BUCKETS},
    {"skewBuckets", CS_SKEW_BUCKETS},
    {"skewBucketNs", CS_SKEW_BUCKET_NS},
    {"skewHalf", CS_SKEW_HALF},
    {NULL, 0},
};
