#ifndef EH_REDUCE_H
#define EH_REDUCE_H

#include <stddef.h>
#include <stdint.h>

/* Dtype codes: the wire's (src/collective/dtypes.ts DTYPES). */
enum { EH_F32 = 0, EH_F64 = 1, EH_I32 = 2 };
/* Reduce op codes: avg is sum with a divisor. */
enum { EH_SUM = 0, EH_MAX = 1, EH_MIN = 2 };

size_t eh_element_size(int dtype);

/*
 * dst = dst (op) srcs[0] (op) srcs[1] ..., element-wise, in that order; then, when divisor > 0,
 * dst /= divisor; then, when copy_to is not NULL, a copy of the result there. Block by block so
 * that every pass over a block runs in cache. Returns -1 for an unknown dtype or op.
 */
int eh_reduce(int dtype, int op, void* dst, const void* const* srcs, size_t nsrcs, size_t count, double divisor, void* copy_to);

#endif
