/*
 * flock(2) for Node, which has none: one function, `flock(fd, operation)`, returning 0 or the
 * errno (EWOULDBLOCK when LOCK_NB finds the lock held). util/lock.ts calls it with LOCK_NB only,
 * so the event loop never blocks; it waits for a busy lock with util-linux flock as before.
 *
 * Built by src/runtime/native/build.mjs against the running Node's own headers (node_api.h, the
 * ABI-stable Node-API) into dist/native/flock.node. No node-gyp: one C file, one cc call.
 */
#include <errno.h>
#include <node_api.h>
#include <sys/file.h>

static napi_value do_flock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t fd = -1, op = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &op) != napi_ok) {
    napi_throw_type_error(env, NULL, "flock(fd, operation): two integers");
    return NULL;
  }
  int rc;
  do rc = flock(fd, op);
  while (rc != 0 && errno == EINTR);
  napi_create_int32(env, rc == 0 ? 0 : errno, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn, n;
  napi_create_function(env, "flock", NAPI_AUTO_LENGTH, do_flock, NULL, &fn);
  napi_set_named_property(env, exports, "flock", fn);
  static const struct { const char *name; int value; } consts[] = {
      {"LOCK_SH", LOCK_SH}, {"LOCK_EX", LOCK_EX}, {"LOCK_NB", LOCK_NB}, {"LOCK_UN", LOCK_UN}, {"EWOULDBLOCK", EWOULDBLOCK}};
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    napi_create_int32(env, consts[i].value, &n);
    napi_set_named_property(env, exports, consts[i].name, n);
  }
  return exports;
}
