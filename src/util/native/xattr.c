/*
 * Reading every extended attribute of one file in one call, for the packer (layer/pack.ts), which
 * asks this of every file and directory it packs: `list(path)` gives undefined when the file has
 * none (nearly always), else [name, value, name, value, ...] with each value a Buffer. One
 * llistxattr with a buffer of the largest size a list can have (XATTR_LIST_MAX), no size query
 * first, and no JavaScript array made for the common empty case. `list(fd)` does the same for an
 * open file (flistxattr, fgetxattr): the packer has its regular files open anyway, and a path is
 * looked up again by the kernel at every call.
 *
 * Symlinks are not followed (llistxattr, lgetxattr). A file system without xattrs, or a path that
 * is gone, gives undefined, as a file with none does; an attribute that vanishes between the list
 * and its read is left out. The buffers are per thread, so a worker thread may load it too.
 *
 * Built by src/runtime/native/build.mjs against the running Node's own headers (node_api.h) into
 * dist/native/xattr.node, as flock.node is.
 */
#include <errno.h>
#include <linux/limits.h>
#include <node_api.h>
#include <string.h>
#include <sys/xattr.h>

static _Thread_local char names[XATTR_LIST_MAX];
static _Thread_local char value[XATTR_SIZE_MAX];

static napi_value do_list(napi_env env, napi_callback_info info) {
  size_t argc = 1, len = 0;
  napi_value argv[1], out = NULL;
  napi_valuetype type = napi_undefined;
  char path[PATH_MAX];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_typeof(env, argv[0], &type) != napi_ok ||
      (type == napi_number ? napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0
                           : napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1)) {
    napi_throw_type_error(env, NULL, "list(path | fd): one path shorter than PATH_MAX or a descriptor");
    return NULL;
  }
  ssize_t n;
  do n = fd >= 0 ? flistxattr(fd, names, sizeof names) : llistxattr(path, names, sizeof names);
  while (n < 0 && errno == EINTR);
  if (n <= 0) {
    napi_get_undefined(env, &out);
    return out;
  }
  napi_create_array(env, &out);
  uint32_t k = 0;
  for (char *name = names; name < names + n; name += strlen(name) + 1) {
    ssize_t v;
    do v = fd >= 0 ? fgetxattr(fd, name, value, sizeof value) : lgetxattr(path, name, value, sizeof value);
    while (v < 0 && errno == EINTR);
    if (v < 0) continue;
    napi_value jname, jvalue;
    void *data;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jname);
    napi_create_buffer_copy(env, (size_t)v, value, &data, &jvalue);
    napi_set_element(env, out, k++, jname);
    napi_set_element(env, out, k++, jvalue);
  }
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "list", NAPI_AUTO_LENGTH, do_list, NULL, &fn);
  napi_set_named_property(env, exports, "list", fn);
  return exports;
}
