/*
 * Which lane runs on which CPU, for every front end (the binding's planLanes
 * for src/plan/plan.ts, close-stress-core directly): written once, here.
 */
#include "core.h"

void cs_plan_lanes(int lanes, int cross_thread, const int *allowed, int allowed_count, int can_pin,
                   int *cpu, int *reset_cpu) {
    /* The resetter on the next CPU: the RST and the victim close then start on
     * two CPUs whenever the machine has two, which is the race being measured. */
    for (int i = 0; i < lanes; i++) {
        int pin = can_pin && allowed_count > 0;
        cpu[i] = pin ? allowed[i % allowed_count] : -1;
        reset_cpu[i] = pin && cross_thread ? allowed[(i + 1) % allowed_count] : -1;
    }
}
