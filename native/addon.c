/*
 * eh_shm: the native add-on of the collectives. It maps shared-memory segments (shm.c) and runs
 * the element-wise reductions vectorized (reduce.c); everything else is TypeScript, and without
 * the add-on the collectives run the same arithmetic in JavaScript.
 */
#include "addon.h"

static void export_fn(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

static napi_value init(napi_env env, napi_value exports) {
  export_fn(env, exports, "mapShared", eh_map_shared);
  export_fn(env, exports, "reduce", eh_reduce_js);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
