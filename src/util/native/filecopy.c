/*
 * Copying a file's bytes into another file at a given position without passing them through
 * JavaScript, for export -o (layer/pack.ts's file ranges, written by store/outputs.ts):
 * `copy(inFd, outFd, outPos, len, callback)` copies bytes 0..len of inFd to outFd at outPos on
 * libuv's thread pool and calls back with (errno or 0, bytes copied, strerror's text). Fewer than
 * len bytes copied with errno 0 means inFd ended early (the file shrank).
 *
 * copy_file_range(2) moves the bytes inside the kernel (one copy from page cache to page cache, or
 * none where the file system shares extents); where it cannot (another file system type, a kernel
 * without it) a pread/pwrite loop on the same thread does the copy. Neither file's offset moves.
 *
 * Built by src/runtime/native/build.mjs against the running Node's own headers (node_api.h) into
 * dist/native/filecopy.node, as flock.node is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FALLBACK_BUF (256 * 1024)

struct job {
  napi_async_work work;
  napi_ref callback;
  int in, out;
  int64_t pos, len, done;
  int err;
};

/* The pread/pwrite copy of what copy_file_range left, from job->done on. */
static void copy_by_hand(struct job *j) {
  char *buf = malloc(FALLBACK_BUF);
  if (!buf) {
    j->err = ENOMEM;
    return;
  }
  while (j->done < j->len) {
    size_t want = j->len - j->done < FALLBACK_BUF ? (size_t)(j->len - j->done) : FALLBACK_BUF;
    ssize_t r = pread(j->in, buf, want, j->done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r < 0) j->err = errno;
      break;
    }
    for (ssize_t w = 0; w < r;) {
      ssize_t n = pwrite(j->out, buf + w, r - w, j->pos + j->done + w);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        j->err = errno;
        free(buf);
        return;
      }
      w += n;
    }
    j->done += r;
  }
  free(buf);
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct job *j = data;
  while (j->done < j->len) {
    loff_t in_off = j->done, out_off = j->pos + j->done;
    ssize_t n = copy_file_range(j->in, &in_off, j->out, &out_off, (size_t)(j->len - j->done), 0);
    if (n > 0) {
      j->done += n;
      continue;
    }
    if (n == 0) return; /* the end of inFd */
    if (errno == EINTR) continue;
    if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) break;
    j->err = errno;
    return;
  }
  if (j->done < j->len) copy_by_hand(j);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct job *j = data;
  napi_value cb, global, argv[3];
  napi_get_reference_value(env, j->callback, &cb);
  napi_get_global(env, &global);
  int err = status == napi_ok ? j->err : ECANCELED;
  napi_create_int32(env, err, &argv[0]);
  napi_create_int64(env, j->done, &argv[1]);
  napi_create_string_utf8(env, err ? strerror(err) : "", NAPI_AUTO_LENGTH, &argv[2]);
  napi_delete_reference(env, j->callback);
  napi_delete_async_work(env, j->work);
  free(j);
  napi_call_function(env, global, cb, 3, argv, NULL);
}

static napi_value do_copy(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], name;
  int32_t in, out;
  int64_t pos, len;
  napi_valuetype cbType = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5 ||
      napi_get_value_int32(env, argv[0], &in) != napi_ok || napi_get_value_int32(env, argv[1], &out) != napi_ok ||
      napi_get_value_int64(env, argv[2], &pos) != napi_ok || napi_get_value_int64(env, argv[3], &len) != napi_ok ||
      napi_typeof(env, argv[4], &cbType) != napi_ok || cbType != napi_function || pos < 0 || len < 0) {
    napi_throw_type_error(env, NULL, "copy(inFd, outFd, outPos, len, callback)");
    return NULL;
  }
  struct job *j = calloc(1, sizeof *j);
  if (!j) {
    napi_throw_error(env, NULL, "copy: out of memory");
    return NULL;
  }
  j->in = in, j->out = out, j->pos = pos, j->len = len;
  napi_create_reference(env, argv[4], 1, &j->callback);
  napi_create_string_utf8(env, "bale:filecopy", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "copy", NAPI_AUTO_LENGTH, do_copy, NULL, &fn);
  napi_set_named_property(env, exports, "copy", fn);
  return exports;
}
