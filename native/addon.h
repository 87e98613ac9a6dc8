#ifndef EH_ADDON_H
#define EH_ADDON_H

#include <node_api.h>

/* mapShared(fd: number, length: number): ArrayBuffer (shm.c) */
napi_value eh_map_shared(napi_env env, napi_callback_info info);
/* reduce(dtype, op, dst, srcs, divisor, copyTo): void (reduce_napi.c) */
napi_value eh_reduce_js(napi_env env, napi_callback_info info);

#endif
