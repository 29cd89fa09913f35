/*
 * userns: the one user namespace a normal user's bale runs in, per store.
 *
 * Why one, kept alive: files in the store are owned by ids of the mapping, which any namespace
 * with the same maps reads the same; but joining a running container (exec) or signalling its
 * processes needs the very namespace that owns it. So the first bale makes the namespace with a
 * pause process that only holds it (`bale-init pause`), records its pid in the store, and every
 * later bale joins it, as podman's pause process does.
 *
 * Making it: the pause process unshares and waits on a pipe while its parent, still outside,
 * writes the maps (only a process outside may, and newuidmap/newgidmap check /etc/subuid and
 * /etc/subgid for it); then the parent joins. The pid file is locked while this happens, so two
 * bales starting at once make one namespace.
 */
#define _GNU_SOURCE
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return -1;
}

/* Is pid our own live pause process? (A recorded pid may since belong to anything.) */
static int is_pause(pid_t pid) {
  char p[64], buf[4096];
  struct stat st;
  snprintf(p, sizeof p, "/proc/%d", (int)pid);
  if (stat(p, &st) != 0 || st.st_uid != getuid()) return 0;
  snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  size_t first = strlen(buf);
  if ((ssize_t)first + 1 >= n || strcmp(buf + first + 1, "pause") != 0) return 0;
  const char *base = strrchr(buf, '/');
  return !strcmp(base ? base + 1 : buf, "bale-init");
}

/* Run newuidmap/newgidmap PID MAP...; 0 when it succeeded. */
static int run_map(const char *cmd, pid_t pid, const char *map, char *err, size_t n) {
  char *argv[64], pidstr[16], *copy = strdup(map), *save = NULL;
  int argc = 0;
  snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
  argv[argc++] = (char *)cmd;
  argv[argc++] = pidstr;
  for (char *t = strtok_r(copy, " ", &save); t && argc < 63; t = strtok_r(NULL, " ", &save)) argv[argc++] = t;
  argv[argc] = NULL;
  pid_t c = fork();
  if (c < 0) return free(copy), fail(err, n, "fork: %s", strerror(errno));
  if (c == 0) {
    execvp(cmd, argv);
    _exit(127);
  }
  free(copy);
  int status;
  while (waitpid(c, &status, 0) < 0)
    if (errno != EINTR) return fail(err, n, "waitpid: %s", strerror(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return fail(err, n, "%s not found (Debian package uidmap)", cmd);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail(err, n, "%s %s failed (see its message above)", cmd, map);
  return 0;
}

static int write_proc(pid_t pid, const char *file, const char *text, char *err, size_t n) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/%s", (int)pid, file);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
    int e = errno;
    if (fd >= 0) close(fd);
    return fail(err, n, "writing %s: %s", p, strerror(e));
  }
  close(fd);
  return 0;
}

/* Only the caller's own ids, which an unprivileged process may map itself (setgroups denied first). */
static int single_map(pid_t pid, char *err, size_t n) {
  char m[64];
  if (write_proc(pid, "setgroups", "deny", err, n) != 0) return -1;
  snprintf(m, sizeof m, "0 %u 1\n", (unsigned)getuid());
  if (write_proc(pid, "uid_map", m, err, n) != 0) return -1;
  snprintf(m, sizeof m, "0 %u 1\n", (unsigned)getgid());
  return write_proc(pid, "gid_map", m, err, n);
}

/* Fork the pause process in a new user namespace and map it; its pid, or -1. */
static pid_t make_pause(const char *uidmap, const char *gidmap, char *err, size_t n) {
  int up[2], down[2];
  if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0) return fail(err, n, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) return fail(err, n, "fork: %s", strerror(errno));
  if (pid == 0) {
    setsid();
    int e = unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
    if (write(up[1], &e, sizeof e) != sizeof e || e) _exit(1);
    char c;
    if (read(down[0], &c, 1) != 1) _exit(1);
    execl("/proc/self/exe", "bale-init", "pause", (char *)NULL);
    _exit(1);
  }
  close(up[1]);
  close(down[0]);
  int e = -1, rc = 0;
  if (read(up[0], &e, sizeof e) != sizeof e) rc = fail(err, n, "the user namespace process died");
  else if (e) rc = fail(err, n, "cannot make a user namespace: %s (unprivileged user namespaces are off: sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone)", strerror(e));
  else if (uidmap) rc = run_map("newuidmap", pid, uidmap, err, n) || run_map("newgidmap", pid, gidmap, err, n) ? -1 : 0;
  else rc = single_map(pid, err, n);
  if (rc == 0 && write(down[1], "m", 1) != 1) rc = fail(err, n, "the user namespace process died");
  close(up[0]);
  close(down[1]);
  if (rc != 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
  }
  return pid;
}

int bale_userns_enter(const char *pid_file, const char *uidmap, const char *gidmap, const char *note, char *err, size_t n) {
  int lock = open(pid_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return fail(err, n, "%s: %s", pid_file, strerror(errno));
  if (flock(lock, LOCK_EX) != 0) return close(lock), fail(err, n, "locking %s: %s", pid_file, strerror(errno));
  char buf[32] = {0};
  pid_t pid = pread(lock, buf, sizeof buf - 1, 0) > 0 ? (pid_t)atoi(buf) : 0;
  if (pid <= 0 || !is_pause(pid)) {
    if ((pid = make_pause(uidmap, gidmap, err, n)) < 0) return close(lock), -1;
    if (note) fprintf(stderr, "bale: note: %s\n", note);
    int len = snprintf(buf, sizeof buf, "%d\n", (int)pid);
    if (ftruncate(lock, 0) != 0 || pwrite(lock, buf, (size_t)len, 0) != len) return close(lock), fail(err, n, "writing %s: %s", pid_file, strerror(errno));
  }
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/ns/user", (int)pid);
  int ns = open(p, O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWUSER) != 0) {
    int e = errno;
    close(lock);
    return fail(err, n, "joining the user namespace of process %d: %s", (int)pid, strerror(e));
  }
  close(ns);
  close(lock);
  if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) return fail(err, n, "becoming root in the user namespace: %s", strerror(errno));
  return 0;
}
