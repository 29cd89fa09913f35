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
 */
#define _GNU_SOURCE
#include "seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int bale_seccomp_load(const char *rules_file, char *err, size_t errlen) {
  FILE *in = fopen(rules_file, "r");
  if (!in) {
    snprintf(err, errlen, "seccomp rules %s: %s", rules_file, strerror(errno));
    return -1;
  }
  scmp_filter_ctx ctx = NULL;
  uint32_t def = 0;
  int rc = -1;
  char line[4096];
  while (fgets(line, sizeof line, in)) {
    line[strcspn(line, "\n")] = 0;
    if (!*line || *line == '#') continue;
    char *f[MAX_FIELDS + 4], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(line, "\t", &save); t && n < MAX_FIELDS + 4; t = strtok_r(NULL, "\t", &save)) f[n++] = t;
    if (n == 0) continue;
    if (!ctx) {
      if (n != 2 || strcmp(f[0], "default") || parse_action(f[1], &def) != 0 || !(ctx = seccomp_init(def))) {
        snprintf(err, errlen, "seccomp rules: the first line must be a valid 'default' line");
        goto out;
      }
      /* libseccomp sets no_new_privs on load unless told not to */
      if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0) {
        snprintf(err, errlen, "seccomp: cannot leave no_new_privs off");
        goto out;
      }
    } else if (!strcmp(f[0], "arch") && n == 2) {
      uint32_t a = seccomp_arch_resolve_name(f[1]);
      int r = a ? seccomp_arch_add(ctx, a) : -EINVAL;
      if (r != 0 && r != -EEXIST) {
        snprintf(err, errlen, "seccomp: architecture %s: %s", f[1], a ? strerror(-r) : "unknown");
        goto out;
      }
    } else if (!strcmp(f[0], "syscall")) {
      if (add_rule(ctx, def, f, n, err, errlen) < 0) goto out;
    } else {
      snprintf(err, errlen, "seccomp rules: unknown line '%s'", f[0]);
      goto out;
    }
  }
  if (!ctx) {
    snprintf(err, errlen, "seccomp rules %s: empty", rules_file);
    goto out;
  }
  rc = seccomp_load(ctx);
  if (rc != 0) snprintf(err, errlen, "seccomp: loading the filter: %s", strerror(-rc));
  rc = rc ? -1 : 0;
out:
  if (ctx) seccomp_release(ctx);
  fclose(in);
  return rc;
}
