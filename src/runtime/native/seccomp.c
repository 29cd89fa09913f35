/*
 * The container's seccomp filter, loaded with libseccomp from a rules file that bale's TypeScript
 * side resolved for this container (src/runtime/seccomp.ts: docker's profile, this container's
 * capabilities, this machine's arch and kernel). One rule per line, fields separated by one tab:
 *
 *   default  ACTION                       what every call not named below gets (first line)
 *   arch     NAME                         an architecture the filter also covers (x86, x32, ...;
 *                                         libseccomp's names); none means the native one only
 *   syscall  NAME  ACTION  [COND]...      one libseccomp rule; its conditions are ANDed
 *
 *   ACTION  allow | errno:N | kill_thread | kill_process | trap | log | trace:N
 *   COND    INDEX:OP:VALUE:VALUE2         argument INDEX (0-5); OP ne lt le eq ge gt masked_eq;
 *                                         masked_eq means (arg & VALUE) == VALUE2
 *
 * Lines starting with '#' and empty lines are ignored. A system call this libseccomp does not know
 * is skipped (as docker does: profiles name calls newer than the library), and so is a rule whose
 * action is the default's. The filter does not set no_new_privs: the caller still holds
 * CAP_SYS_ADMIN when it loads it, and setuid programs must keep working as they do under docker.
 *
 * Compiling the rules costs libseccomp ~20 ms, on every run. So the compiled program (what
 * seccomp_export_bpf gives, exactly what seccomp_load would have loaded) is kept in a cache file
 * bale names after the rules' sha256, in the store (cache/seccomp/). A cache file is used only if
 * it is a regular file owned by this (root) user and writable by nobody else, and its header says
 * it holds this very rules text (its FNV-1a hash), compiled by this libseccomp at this kernel API
 * level, with a checksum over header and program that matches. Anything else is a miss: the rules
 * are compiled and the file rewritten (a new file renamed over it; failing to write is no error).
 * Either way the filter is loaded from the program in memory, the one path every run takes.
 *
 *   cache file   struct cache_head, then head.len struct sock_filter instructions
 */
#define _GNU_SOURCE
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FIELDS 6 /* conditions: one per argument at most */

static int parse_action(const char *s, uint32_t *act) {
  char *end;
  if (!strcmp(s, "allow")) *act = SCMP_ACT_ALLOW;
  else if (!strcmp(s, "kill_thread")) *act = SCMP_ACT_KILL;
  else if (!strcmp(s, "kill_process")) *act = SCMP_ACT_KILL_PROCESS;
  else if (!strcmp(s, "trap")) *act = SCMP_ACT_TRAP;
  else if (!strcmp(s, "log")) *act = SCMP_ACT_LOG;
  else if (!strncmp(s, "errno:", 6)) {
    unsigned long n = strtoul(s + 6, &end, 10);
    if (*end || n > 4095) return -1;
    *act = SCMP_ACT_ERRNO((uint16_t)n);
  } else if (!strncmp(s, "trace:", 6)) {
    unsigned long n = strtoul(s + 6, &end, 10);
    if (*end || n > 65535) return -1;
    *act = SCMP_ACT_TRACE((uint16_t)n);
  } else return -1;
  return 0;
}

static int parse_cond(char *s, struct scmp_arg_cmp *c) {
  static const struct { const char *name; enum scmp_compare op; } ops[] = {
      {"ne", SCMP_CMP_NE}, {"lt", SCMP_CMP_LT}, {"le", SCMP_CMP_LE}, {"eq", SCMP_CMP_EQ},
      {"ge", SCMP_CMP_GE}, {"gt", SCMP_CMP_GT}, {"masked_eq", SCMP_CMP_MASKED_EQ}};
  char *f[4], *save = NULL;
  int n = 0;
  for (char *t = strtok_r(s, ":", &save); t && n < 4; t = strtok_r(NULL, ":", &save)) f[n++] = t;
  if (n != 4) return -1;
  char *end;
  unsigned long idx = strtoul(f[0], &end, 10);
  if (*end || idx > 5) return -1;
  c->arg = (unsigned)idx;
  c->op = 0;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (!strcmp(f[1], ops[i].name)) c->op = ops[i].op;
  if (!c->op) return -1;
  c->datum_a = strtoull(f[2], &end, 10);
  if (*end) return -1;
  c->datum_b = strtoull(f[3], &end, 10);
  return *end ? -1 : 0;
}

/* Add one `syscall` line's rule; 1 if skipped, 0 if added, -1 on error (message in err). */
static int add_rule(scmp_filter_ctx ctx, uint32_t def, char **f, int n, char *err, size_t errlen) {
  uint32_t act;
  if (n < 3 || n > MAX_FIELDS + 3 || parse_action(f[2], &act) != 0) {
    snprintf(err, errlen, "seccomp rules: bad rule for %s", n > 1 ? f[1] : "?");
    return -1;
  }
  int nr = seccomp_syscall_resolve_name(f[1]);
  if (nr == __NR_SCMP_ERROR || act == def) return 1;
  struct scmp_arg_cmp conds[MAX_FIELDS];
  for (int i = 3; i < n; i++) {
    if (parse_cond(f[i], &conds[i - 3]) != 0) {
      snprintf(err, errlen, "seccomp rules: bad condition for %s", f[1]);
      return -1;
    }
  }
  int rc = seccomp_rule_add_array(ctx, act, nr, (unsigned)(n - 3), conds);
  if (rc != 0 && rc != -EEXIST) {
    snprintf(err, errlen, "seccomp rule for %s: %s", f[1], strerror(-rc));
    return -1;
  }
  return 0;
}

/* Compile the rules text with libseccomp; the context, or NULL with a message in err. */
static scmp_filter_ctx compile(char *text, char *err, size_t errlen) {
  scmp_filter_ctx ctx = NULL;
  uint32_t def = 0;
  char *save_line = NULL;
  for (char *line = strtok_r(text, "\n", &save_line); line; line = strtok_r(NULL, "\n", &save_line)) {
    if (!*line || *line == '#') continue;
    char *f[MAX_FIELDS + 4], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(line, "\t", &save); t && n < MAX_FIELDS + 4; t = strtok_r(NULL, "\t", &save)) f[n++] = t;
    if (n == 0) continue;
    if (!ctx) {
      if (n != 2 || strcmp(f[0], "default") || parse_action(f[1], &def) != 0 || !(ctx = seccomp_init(def))) {
        snprintf(err, errlen, "seccomp rules: the first line must be a valid 'default' line");
        return NULL;
      }
      /* libseccomp sets no_new_privs on load unless told not to */
      if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0) {
        snprintf(err, errlen, "seccomp: cannot leave no_new_privs off");
        goto fail;
      }
    } else if (!strcmp(f[0], "arch") && n == 2) {
      uint32_t a = seccomp_arch_resolve_name(f[1]);
      int r = a ? seccomp_arch_add(ctx, a) : -EINVAL;
      if (r != 0 && r != -EEXIST) {
        snprintf(err, errlen, "seccomp: architecture %s: %s", f[1], a ? strerror(-r) : "unknown");
        goto fail;
      }
    } else if (!strcmp(f[0], "syscall")) {
      if (add_rule(ctx, def, f, n, err, errlen) < 0) goto fail;
    } else {
      snprintf(err, errlen, "seccomp rules: unknown line '%s'", f[0]);
      goto fail;
    }
  }
  if (!ctx) snprintf(err, errlen, "seccomp rules: empty");
  return ctx;
fail:
  seccomp_release(ctx);
  return NULL;
}

/* ---- the cache of compiled programs ------------------------------------------------------ */

#define CACHE_MAGIC "BALEBPF1"

struct cache_head {
  char magic[8];
  uint32_t lib_version; /* libseccomp major << 16 | minor << 8 | micro */
  uint32_t api;         /* seccomp_api_get(): the kernel features libseccomp compiled for */
  uint64_t rules_hash;  /* FNV-1a of the rules text */
  uint32_t len;         /* instructions that follow */
  uint32_t zero;
  uint64_t sum;         /* FNV-1a of everything before this field, then of the program */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}
#define FNV_START 0xcbf29ce484222325ULL

static void fill_head(struct cache_head *h, uint64_t rules_hash, const struct sock_filter *prog, uint32_t len) {
  const struct scmp_version *v = seccomp_version();
  memset(h, 0, sizeof *h);
  memcpy(h->magic, CACHE_MAGIC, 8);
  h->lib_version = v ? (v->major << 16 | v->minor << 8 | v->micro) : 0;
  h->api = seccomp_api_get();
  h->rules_hash = rules_hash;
  h->len = len;
  h->sum = fnv(fnv(FNV_START, h, offsetof(struct cache_head, sum)), prog, len * sizeof *prog);
}

static int read_full(int fd, void *buf, size_t n) {
  for (size_t got = 0; got < n;) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

/* The program cached for these rules, or NULL: missing, not root's alone, or not this filter. */
static struct sock_filter *cache_read(const char *file, uint64_t rules_hash, uint32_t *len) {
  int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  struct cache_head h, want;
  struct sock_filter *prog = NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) ||
      read_full(fd, &h, sizeof h) != 0 || h.len == 0 || h.len > BPF_MAXINSNS ||
      (size_t)st.st_size != sizeof h + h.len * sizeof *prog || !(prog = malloc(h.len * sizeof *prog)) ||
      read_full(fd, prog, h.len * sizeof *prog) != 0)
    goto miss;
  fill_head(&want, rules_hash, prog, h.len);
  if (memcmp(&h, &want, sizeof h) != 0) goto miss;
  close(fd);
  *len = h.len;
  return prog;
miss:
  free(prog);
  close(fd);
  return NULL;
}

/* Write the cache file: a new file beside it, renamed over it. Best effort: a failure only costs a compile next time. */
static void cache_write(const char *file, uint64_t rules_hash, const struct sock_filter *prog, uint32_t len) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.%d.tmp", file, (int)getpid()) >= (int)sizeof tmp) return;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return;
  struct cache_head h;
  fill_head(&h, rules_hash, prog, len);
  int ok = write(fd, &h, sizeof h) == (ssize_t)sizeof h && write(fd, prog, len * sizeof *prog) == (ssize_t)(len * sizeof *prog);
  if (close(fd) != 0) ok = 0;
  if (!ok || rename(tmp, file) != 0) unlink(tmp);
}

/* ---- prepare and install ----------------------------------------------------------------- */

static char *read_text(const char *file, char *err, size_t errlen) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  struct stat st;
  char *text = NULL;
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_size > (16 << 20) || !(text = malloc((size_t)st.st_size + 1)) ||
      read_full(fd, text, (size_t)st.st_size) != 0) {
    snprintf(err, errlen, "seccomp rules %s: %s", file, strerror(errno ? errno : EIO));
    free(text);
    if (fd >= 0) close(fd);
    return NULL;
  }
  close(fd);
  text[st.st_size] = 0;
  return text;
}

/* libseccomp's program for ctx, through a memfd (this libseccomp has no export to memory). */
static struct sock_filter *export(scmp_filter_ctx ctx, uint32_t *len, char *err, size_t errlen) {
  int fd = memfd_create("bale-seccomp", MFD_CLOEXEC);
  struct sock_filter *prog = NULL;
  off_t size;
  int rc = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
  if (rc != 0 || (size = lseek(fd, 0, SEEK_END)) <= 0 || size % (off_t)sizeof *prog || size / (off_t)sizeof *prog > BPF_MAXINSNS ||
      lseek(fd, 0, SEEK_SET) != 0 || !(prog = malloc((size_t)size)) || read_full(fd, prog, (size_t)size) != 0) {
    snprintf(err, errlen, "seccomp: exporting the filter: %s", strerror(rc ? -rc : errno ? errno : EIO));
    free(prog);
    prog = NULL;
  } else *len = (uint32_t)(size / (off_t)sizeof *prog);
  if (fd >= 0) close(fd);
  return prog;
}

int bale_seccomp_prepare(const char *rules_file, const char *cache_file, struct sock_fprog *out, char *err, size_t errlen) {
  char *text = read_text(rules_file, err, errlen);
  if (!text) return -1;
  uint64_t rules_hash = fnv(FNV_START, text, strlen(text));
  uint32_t len = 0;
  struct sock_filter *prog = cache_file ? cache_read(cache_file, rules_hash, &len) : NULL;
  if (!prog) {
    scmp_filter_ctx ctx = compile(text, err, errlen);
    if (ctx) prog = export(ctx, &len, err, errlen);
    seccomp_release(ctx);
    if (prog && cache_file) cache_write(cache_file, rules_hash, prog, len);
  }
  free(text);
  if (!prog) return -1;
  out->filter = prog;
  out->len = (unsigned short)len;
  return 0;
}

int bale_seccomp_install(const struct sock_fprog *prog, char *err, size_t errlen) {
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) == 0) return 0;
  snprintf(err, errlen, "seccomp: loading the filter: %s", strerror(errno));
  return -1;
}
