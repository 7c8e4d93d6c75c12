/*
 * The step's shared memory as both N-API front ends take it (binding.c's
 * runLanes, binding-remote.c's runRemoteLane): one BigUint64Array over the
 * SharedArrayBuffer, and byte offsets of a step header and of lane counters
 * inside it. One check, so the two cannot drift on what memory a lane may touch.
 */
#ifndef CLOSE_STRESS_BINDING_MEMORY_H
#define CLOSE_STRESS_BINDING_MEMORY_H

#include <stddef.h>

#include <node_api.h>

/* The array's first byte and its length in bytes; NULL with a JS TypeError
 * pending when the value is not a BigUint64Array. */
static inline char *cs_napi_shared_memory(napi_env env, napi_value array, size_t *bytes) {
    napi_typedarray_type type;
    size_t length, byte_offset;
    void *data;
    napi_value ab;
    if (napi_get_typedarray_info(env, array, &type, &length, &data, &ab, &byte_offset) != napi_ok ||
        type != napi_biguint64_array) {
        napi_throw_type_error(env, NULL, "memory must be a BigUint64Array");
        return NULL;
    }
    *bytes = length * 8;
    return data;
}

/* A structure of `size` bytes at byte `offset` lies inside the memory, 8-aligned. */
static inline int cs_offset_fits(size_t offset, size_t size, size_t bytes) {
    return offset % 8 == 0 && offset <= bytes && size <= bytes - offset;
}

#endif
