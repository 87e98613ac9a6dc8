/*
 * Element-wise reductions for the collectives, the same arithmetic as the JavaScript loops in
 * src/collective/dtypes.ts, element for element and in the same order, so that a rank without the
 * add-on computes the same bits:
 *   sum    float: a + b in the array's own width (IEEE add, no contraction); int32: wraps mod 2^32
 *   max    float: b when b > a or b is NaN, else a (so NaN propagates, and max(-0, +0) keeps a)
 *   min    the same with <
 *   avg    sum, then the owned part divided by n: float32 in double then rounded (as V8 does),
 *          int32 truncated toward zero
 * and a float result that is NaN is always the canonical quiet NaN (JavaScript leaves a computed
 * NaN's payload to the engine, so both sides fix it instead).
 * Kernels are plain loops the compiler vectorizes (-O3); on x86-64 each has an AVX2 clone picked
 * at load time by the CPU it runs on (target_clones), so the shipped add-on needs only baseline
 * x86-64. On arm64, NEON is baseline and the one version is vectorized with it.
 */
#include "reduce.h"

#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* x when it is a number, else the canonical quiet NaN (selects the compiler vectorizes). */
#define CANON_F32(x) ((x) == (x) ? (x) : __builtin_nanf(""))
#define CANON_F64(x) ((x) == (x) ? (x) : __builtin_nan(""))

/* Elements per block: a block of every source and the accumulator stay in L1 across the passes. */
#define BLOCK_BYTES (8 << 10)

VECTOR_CLONES static void sum_f32(float* restrict a, const float* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float r = a[i] + b[i];
    a[i] = CANON_F32(r);
  }
}
VECTOR_CLONES static void sum_f64(double* restrict a, const double* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double r = a[i] + b[i];
    a[i] = CANON_F64(r);
  }
}
VECTOR_CLONES static void sum_i32(int32_t* restrict a, const int32_t* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = (int32_t)((uint32_t)a[i] + (uint32_t)b[i]);
}
VECTOR_CLONES static void max_f32(float* restrict a, const float* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float x = b[i], y = a[i];
    float r = (x > y || x != x) ? x : y;
    a[i] = CANON_F32(r);
  }
}
VECTOR_CLONES static void max_f64(double* restrict a, const double* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double x = b[i], y = a[i];
    double r = (x > y || x != x) ? x : y;
    a[i] = CANON_F64(r);
  }
}
VECTOR_CLONES static void max_i32(int32_t* restrict a, const int32_t* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = b[i] > a[i] ? b[i] : a[i];
}
VECTOR_CLONES static void min_f32(float* restrict a, const float* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float x = b[i], y = a[i];
    float r = (x < y || x != x) ? x : y;
    a[i] = CANON_F32(r);
  }
}
VECTOR_CLONES static void min_f64(double* restrict a, const double* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double x = b[i], y = a[i];
    double r = (x < y || x != x) ? x : y;
    a[i] = CANON_F64(r);
  }
}
VECTOR_CLONES static void min_i32(int32_t* restrict a, const int32_t* restrict b, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = b[i] < a[i] ? b[i] : a[i];
}
VECTOR_CLONES static void div_f32(float* restrict a, double d, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float r = (float)((double)a[i] / d);
    a[i] = CANON_F32(r);
  }
}
VECTOR_CLONES static void div_f64(double* restrict a, double d, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double r = a[i] / d;
    a[i] = CANON_F64(r);
  }
}
/* |a / d| <= 2^31 for d >= 1, and the double quotient never crosses an integer the exact one does not. */
VECTOR_CLONES static void div_i32(int32_t* restrict a, double d, size_t n) {
  for (size_t i = 0; i < n; i++) a[i] = (int32_t)((double)a[i] / d);
}

typedef void (*combine_fn)(void* restrict, const void* restrict, size_t);
typedef void (*finish_fn)(void* restrict, double, size_t);

static combine_fn combiner(int dtype, int op) {
  static const combine_fn table[3][3] = {
      {(combine_fn)sum_f32, (combine_fn)max_f32, (combine_fn)min_f32},
      {(combine_fn)sum_f64, (combine_fn)max_f64, (combine_fn)min_f64},
      {(combine_fn)sum_i32, (combine_fn)max_i32, (combine_fn)min_i32},
  };
  if (dtype < 0 || dtype > 2 || op < 0 || op > 2) return NULL;
  return table[dtype][op];
}

static finish_fn finisher(int dtype) {
  static const finish_fn table[3] = {(finish_fn)div_f32, (finish_fn)div_f64, (finish_fn)div_i32};
  return dtype >= 0 && dtype <= 2 ? table[dtype] : NULL;
}

size_t eh_element_size(int dtype) {
  return dtype == EH_F64 ? 8 : dtype == EH_F32 || dtype == EH_I32 ? 4 : 0;
}

int eh_reduce(int dtype, int op, void* dst, const void* const* srcs, size_t nsrcs, size_t count, double divisor, void* copy_to) {
  combine_fn combine = combiner(dtype, op);
  finish_fn finish = divisor > 0 ? finisher(dtype) : NULL;
  size_t es = eh_element_size(dtype);
  if (combine == NULL || es == 0) return -1;
  size_t block = BLOCK_BYTES / es;
  char* d = (char*)dst;
  for (size_t b = 0; b < count; b += block) {
    size_t len = count - b < block ? count - b : block;
    size_t off = b * es;
    for (size_t s = 0; s < nsrcs; s++) combine(d + off, (const char*)srcs[s] + off, len);
    if (finish != NULL) finish(d + off, divisor, len);
    if (copy_to != NULL) memcpy((char*)copy_to + off, d + off, len * es);
  }
  return 0;
}
