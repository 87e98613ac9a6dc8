/*
 * mapShared: the one thing Node cannot do by itself for same-host collectives: map a file shared
 * between processes into an ArrayBuffer. Files are opened, sized, filled and unlinked from
 * JavaScript (node:fs); this only maps an open descriptor. The mapping lives as long as the
 * ArrayBuffer: it is unmapped when the buffer is garbage-collected.
 */
#include "addon.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

static void unmap(napi_env env, void* data, void* hint) {
  int64_t ignored;
  munmap(data, (size_t)(uintptr_t)hint);
  napi_adjust_external_memory(env, -(int64_t)(uintptr_t)hint, &ignored);
}

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* mapShared(fd: number, length: number): ArrayBuffer */
napi_value eh_map_shared(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "mapShared(fd, length) needs two numbers");
    return NULL;
  }
  int32_t fd;
  int64_t length;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "mapShared(fd, length) needs two numbers");
    return NULL;
  }
  if (fd < 0 || length <= 0) {
    napi_throw_range_error(env, NULL, "mapShared needs an open descriptor and a positive length");
    return NULL;
  }
  void* p = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return throw_errno(env, "mmap", errno);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, (size_t)length, unmap, (void*)(uintptr_t)length, &ab) != napi_ok) {
    munmap(p, (size_t)length);
    napi_throw_error(env, NULL, "could not wrap the mapping in an ArrayBuffer");
    return NULL;
  }
  /* Tell the collector what it holds, so a replaced segment is unmapped soon rather than at some far-off GC. */
  int64_t ignored;
  napi_adjust_external_memory(env, length, &ignored);
  return ab;
}
