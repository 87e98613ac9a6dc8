/*
 * reduce(dtype: number, op: number, dst: TypedArray, srcs: TypedArray[], divisor: number,
 *        copyTo: TypedArray | null): void
 * The JavaScript face of eh_reduce: every array of the dtype's kind and of dst's length, none
 * overlapping dst (or copyTo). Wrong arguments throw; nothing is written then.
 */
#include "addon.h"
#include "reduce.h"

#include <stdio.h>

#define MAX_SOURCES 256

static napi_value fail(napi_env env, const char* msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static const napi_typedarray_type KIND[3] = {napi_float32_array, napi_float64_array, napi_int32_array};

/* The data and length of `v`, when it is a typed array of `dtype`'s kind. */
static int view_of(napi_env env, napi_value v, int dtype, void** data, size_t* length) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == KIND[dtype];
}

static int overlaps(const void* a, const void* b, size_t bytes) {
  const char* x = (const char*)a;
  const char* y = (const char*)b;
  return x < y + bytes && y < x + bytes;
}

napi_value eh_reduce_js(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) return fail(env, "reduce(dtype, op, dst, srcs, divisor, copyTo) needs six arguments");
  int32_t dtype, op;
  double divisor;
  if (napi_get_value_int32(env, argv[0], &dtype) != napi_ok || napi_get_value_int32(env, argv[1], &op) != napi_ok || napi_get_value_double(env, argv[4], &divisor) != napi_ok) {
    return fail(env, "reduce: dtype, op and divisor must be numbers");
  }
  if (dtype < 0 || dtype > 2 || op < 0 || op > 2) return fail(env, "reduce: unknown dtype or op code");
  void* dst;
  size_t count;
  if (!view_of(env, argv[2], dtype, &dst, &count)) return fail(env, "reduce: dst is not a typed array of the dtype");
  size_t bytes = count * eh_element_size(dtype);
  bool is_array;
  uint32_t nsrcs;
  if (napi_is_array(env, argv[3], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[3], &nsrcs) != napi_ok) return fail(env, "reduce: srcs must be an array");
  if (nsrcs > MAX_SOURCES) return fail(env, "reduce: too many sources");
  const void* srcs[MAX_SOURCES];
  for (uint32_t s = 0; s < nsrcs; s++) {
    napi_value el;
    void* data;
    size_t len;
    if (napi_get_element(env, argv[3], s, &el) != napi_ok || !view_of(env, el, dtype, &data, &len) || len != count) return fail(env, "reduce: every source must be a typed array of the dtype and of dst's length");
    if (count > 0 && overlaps(data, dst, bytes)) return fail(env, "reduce: a source overlaps dst");
    srcs[s] = data;
  }
  void* copy_to = NULL;
  napi_valuetype t;
  if (napi_typeof(env, argv[5], &t) != napi_ok) return fail(env, "reduce: bad copyTo");
  if (t != napi_null && t != napi_undefined) {
    size_t len;
    if (!view_of(env, argv[5], dtype, &copy_to, &len) || len != count) return fail(env, "reduce: copyTo must be a typed array of the dtype and of dst's length");
    if (count > 0 && overlaps(copy_to, dst, bytes)) return fail(env, "reduce: copyTo overlaps dst");
  }
  if (count > 0) eh_reduce(dtype, op, dst, srcs, nsrcs, count, divisor, copy_to);
  return NULL;
}
