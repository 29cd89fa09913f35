/*
 * bale-init: the part of starting a container that must run inside it.
 *
 * Why C: Node cannot unshare (it is multithreaded) and, after pivot_root, the host's binaries are
 * gone, so the steps from making the namespaces to exec (mounts, pivot_root, closing inherited
 * descriptors, seccomp, dropping capabilities, switching user) must happen in one small process
 * that is already loaded. bale (Node) spawns this helper directly with the container's environment.
 *
 *   bale-init run  --layers DIR --overlay OPTS --rootfs DIR --hostname NAME --cwd DIR
 *                  [--ns mnt,uts,ipc,pid,cgroup,net] [--cgroup PROCS]... [--user USER]
 *                  [--net-none | --net-wait] [--tty] [--stdin] [--seccomp FILE [--seccomp-cache FILE]]
 *                  [--mounts FILE] [--read-only]
 *                  [--caps N,N,...] [--no-new-privs] [--privileged] [--pid-fd N] -- ARGS...
 *      Joins the cgroups (writes its pid to each PROCS file), unshares the namespaces and forks the
 *      container's pid 1, which mounts the overlay (from inside DIR, so lowerdirs may be short
 *      relative paths), /proc, a minimal /dev, read-only /sys, the user's mounts, sets the
 *      hostname, brings lo up, pivots, drops privileges and execs. The helper stays outside the
 *      pid namespace: it writes the child's host pid to --pid-fd, forwards signals, relays the
 *      terminal with --tty, and exits with the child's status. With --net-wait (a network namespace
 *      bale connects to the host: -p) the child, lo up, waits before pivoting until bale writes one
 *      byte to --pid-fd, so the command starts with its network in place; at EOF it gives up.
 *   bale-init exec --pid PID --cwd DIR [--cgroup PROCS]... [--user USER] [--tty] [--stdin]
 *                  [--seccomp FILE [--seccomp-cache FILE]] [--caps N,N,...] [--no-new-privs]
 *                  [--privileged] -- ARGS...
 *      Joins the cgroups, namespaces and root of a running container's pid 1, forks, drops
 *      privileges the same way and execs; the parent relays/forwards and exits with its status.
 *   bale-init userns --pid-file FILE [--uidmap MAP --gidmap MAP | --note TEXT] -- CMD...
 *      For a normal user: joins (first making, with a `bale-init pause` process holding it) the
 *      store's user namespace, becomes root there and execs CMD (bale itself again; userns.c).
 *
 * Nothing of the host reaches the command: every descriptor but 0/1/2 is closed at start and again
 * before exec; -t gives a new pty from the container's own devpts (console.c), never the caller's
 * terminal; device nodes open only on /dev's binds (the root, /dev and /dev/shm are nodev).
 * HOME is added from /etc/passwd when absent. Exit codes follow docker: 125 when setting up
 * failed, 126 when the command cannot be invoked, 127 when it is not found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console.h"
#include "mounts.h"
#include "seccomp.h"
#include "userns.h"

extern char **environ;

static void die(int code, const char *fmt, ...) {
  va_list ap;
  char buf[1024];
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "bale: %s\n", buf);
  exit(code);
}

#define SETUP_FAIL 125

/* docker's default capability set (when bale passes no --caps) */
static const int default_caps[] = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,     CAP_MKNOD,
    CAP_NET_RAW, CAP_SETGID,      CAP_SETUID,           CAP_SETFCAP,    CAP_SETPCAP,
    CAP_NET_BIND_SERVICE,         CAP_SYS_CHROOT,       CAP_KILL,       CAP_AUDIT_WRITE,
};

static int last_cap(void) {
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
  int n = CAP_LAST_CAP;
  if (f) {
    if (fscanf(f, "%d", &n) != 1) n = CAP_LAST_CAP;
    fclose(f);
  }
  return n;
}

/* ---- users -------------------------------------------------------------------------------- */

struct ident {
  uid_t uid;
  gid_t gid;
  gid_t groups[64];
  int ngroups;
  char home[PATH_MAX];
};

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* Split a colon-separated line in place into at most n fields. */
static int split(char *line, char **f, int n) {
  int i = 0;
  f[i++] = line;
  for (char *p = line; *p && i < n; p++) {
    if (*p == ':') {
      *p = 0;
      f[i++] = p + 1;
    }
  }
  char *nl = strchr(f[i - 1], '\n');
  if (nl) *nl = 0;
  return i;
}

/* Resolve USER ("", name, uid, name:group, uid:gid) against the container's /etc files. */
static void resolve_user(const char *spec, struct ident *id) {
  char user[256] = "", group[256] = "";
  const char *colon = strchr(spec, ':');
  if (colon) {
    snprintf(user, sizeof user, "%.*s", (int)(colon - spec), spec);
    snprintf(group, sizeof group, "%s", colon + 1);
  } else {
    snprintf(user, sizeof user, "%s", spec);
  }
  if (!*user) snprintf(user, sizeof user, "0");
  id->uid = 0;
  id->gid = 0;
  id->ngroups = 0;
  snprintf(id->home, sizeof id->home, "/");
  char name[256] = "";
  int found = 0;
  char line[4096];
  FILE *f = fopen("/etc/passwd", "r");
  if (f) {
    while (fgets(line, sizeof line, f)) {
      char *fl[7];
      if (split(line, fl, 7) < 7) continue;
      int match = all_digits(user) ? (strtoul(fl[2], NULL, 10) == strtoul(user, NULL, 10)) : !strcmp(fl[0], user);
      if (!match) continue;
      id->uid = (uid_t)strtoul(fl[2], NULL, 10);
      id->gid = (gid_t)strtoul(fl[3], NULL, 10);
      snprintf(id->home, sizeof id->home, "%s", fl[5]);
      snprintf(name, sizeof name, "%s", fl[0]);
      found = 1;
      break;
    }
    fclose(f);
  }
  if (!found) {
    if (!all_digits(user)) die(SETUP_FAIL, "unable to find user %s: no matching entries in passwd file", user);
    id->uid = (uid_t)strtoul(user, NULL, 10);
  }
  int group_found = !*group;
  f = fopen("/etc/group", "r");
  if (f) {
    while (fgets(line, sizeof line, f)) {
      char *fl[4];
      if (split(line, fl, 4) < 4) continue;
      gid_t g = (gid_t)strtoul(fl[2], NULL, 10);
      if (*group && !group_found) {
        int match = all_digits(group) ? g == (gid_t)strtoul(group, NULL, 10) : !strcmp(fl[0], group);
        if (match) {
          id->gid = g;
          group_found = 1;
        }
      }
      /* supplementary groups: every group listing the user by name */
      if (*name && !*group && id->ngroups < 64) {
        char *save = NULL;
        for (char *m = strtok_r(fl[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
          if (!strcmp(m, name)) {
            id->groups[id->ngroups++] = g;
            break;
          }
        }
      }
    }
    fclose(f);
  }
  if (!group_found) {
    if (!all_digits(group)) die(SETUP_FAIL, "unable to find group %s: no matching entries in group file", group);
    id->gid = (gid_t)strtoul(group, NULL, 10);
  }
}

/* ---- privileges and exec ------------------------------------------------------------------ */

struct opts {
  const char *layers, *overlay, *rootfs, *hostname, *cwd, *user, *ns, *seccomp, *seccomp_cache, *mounts;
  const char *fuse_overlayfs; /* its path: mount the root with it when the kernel's overlay cannot (or always, with fuse_only) */
  int fuse_only;
  const char *cgroups[16];
  int ncgroups;
  uint64_t caps; /* bit N: capability N is kept */
  int net_none, net_wait, tty, with_stdin, read_only, no_new_privs, privileged, pid_fd;
  struct sock_fprog filter; /* the seccomp filter (len 0: none), prepared while the host's paths are in reach */
  pid_t pid;
  char **argv;
};

/* Every descriptor from `from` up, except `keep` (-1: none). */
static void close_from(int from, int keep) {
  if (keep >= from) {
    if (keep > from && syscall(SYS_close_range, from, keep - 1, 0) != 0) goto slow;
    if (syscall(SYS_close_range, keep + 1, ~0U, 0) != 0) goto slow;
    return;
  }
  if (syscall(SYS_close_range, from, ~0U, 0) == 0) return;
slow:
  for (int fd = from; fd < 65536; fd++)
    if (fd != keep) close(fd);
}

#define UNMAPPED " (not mapped in bale's user namespace: give your user a range in /etc/subuid and /etc/subgid)"

static int setgroups_denied(void) {
  char buf[16] = "";
  FILE *f = fopen("/proc/self/setgroups", "r");
  if (!f) return 0;
  if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
  fclose(f);
  return !strncmp(buf, "deny", 4);
}

/*
 * In order: no descriptor of bale's survives, the bounding set shrinks to the kept capabilities,
 * the seccomp filter goes on (while CAP_SYS_ADMIN still allows it without no_new_privs), then the
 * capability sets, groups and ids of the user. From root to another uid the kernel clears the
 * permitted and effective sets.
 */
static void drop_privileges(const struct ident *id, const struct opts *o) {
  close_from(3, -1);
  if (o->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(SETUP_FAIL, "no_new_privs: %s", strerror(errno));
  int last = last_cap();
  for (int c = 0; c <= last; c++) {
    if (o->caps & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
      die(SETUP_FAIL, "dropping capability %d: %s", c, strerror(errno));
  }
  if (o->filter.len) {
    char err[512];
    if (bale_seccomp_install(&o->filter, err, sizeof err) != 0) die(SETUP_FAIL, "%s", err);
  }
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int c = 0; c <= last && c < 64; c++) {
    if (!(o->caps & (1ULL << c))) continue;
    /* privileged means every capability bale itself holds (a confined host root lacks some) */
    if (o->privileged && prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;
    data[c / 32].effective |= 1u << (c % 32);
    data[c / 32].permitted |= 1u << (c % 32);
  }
  if (syscall(SYS_capset, &hdr, data) != 0) die(SETUP_FAIL, "capset: %s", strerror(errno));
  gid_t groups[65];
  int n = 0;
  groups[n++] = id->gid;
  for (int i = 0; i < id->ngroups; i++)
    if (id->groups[i] != id->gid) groups[n++] = id->groups[i];
  /* a user namespace mapping only the caller's ids denies setgroups: the groups stay as they are */
  if (setgroups((size_t)n, groups) != 0 && !(errno == EPERM && setgroups_denied()))
    die(SETUP_FAIL, "setgroups: %s", strerror(errno));
  if (setgid(id->gid) != 0) die(SETUP_FAIL, "setgid %u: %s%s", id->gid, strerror(errno), errno == EINVAL ? UNMAPPED : "");
  if (setuid(id->uid) != 0) die(SETUP_FAIL, "setuid %u: %s%s", id->uid, strerror(errno), errno == EINVAL ? UNMAPPED : "");
}

static void exec_command(char **argv, const struct ident *id) {
  if (!getenv("HOME")) setenv("HOME", id->home, 1);
  const char *cmd = argv[0];
  if (strchr(cmd, '/')) {
    execve(cmd, argv, environ);
    die(errno == ENOENT ? 127 : 126, "exec %s: %s", cmd, strerror(errno));
  }
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char *copy = strdup(path);
  int saw_eacces = 0;
  char *save = NULL;
  for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", *dir ? dir : ".", cmd);
    execve(full, argv, environ);
    if (errno == EACCES) saw_eacces = 1;
  }
  if (saw_eacces) die(126, "exec %s: permission denied", cmd);
  die(127, "exec %s: executable file not found in $PATH", cmd);
}

static void mkdir_p(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      mkdir(buf, mode);
      *p = '/';
    }
  }
  mkdir(buf, mode);
}

/* ---- run: set up the container's root ---------------------------------------------------- */

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) != 0) die(SETUP_FAIL, "mount %s on /%s: %s", type ? type : src, dst, strerror(errno));
}

static void bind_dev(const char *name) {
  char host[64], dst[64];
  snprintf(host, sizeof host, "/dev/%s", name);
  snprintf(dst, sizeof dst, "dev/%s", name);
  int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0) die(SETUP_FAIL, "create /%s: %s", dst, strerror(errno));
  close(fd);
  must_mount(host, dst, NULL, MS_BIND, NULL);
}

/*
 * /dev is a nodev tmpfs: a node root makes there with mknod does not open. Only the binds of the
 * host's harmless character devices and the container's own devpts open.
 */
static void setup_dev(const struct opts *o) {
  mkdir("dev", 0755);
  must_mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME | (o->privileged ? 0 : MS_NODEV), "mode=755,size=65536k");
  const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) bind_dev(nodes[i]);
  mkdir("dev/pts", 0755);
  /* gid 5 (tty) may be unmapped in a user namespace of the caller's ids only */
  if (mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") != 0)
    must_mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  if (symlink("pts/ptmx", "dev/ptmx") != 0) die(SETUP_FAIL, "symlink /dev/ptmx: %s", strerror(errno));
  mkdir("dev/shm", 01777);
  must_mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  mkdir("dev/mqueue", 0755);
  must_mount("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  if (symlink("/proc/self/fd", "dev/fd") || symlink("/proc/self/fd/0", "dev/stdin") ||
      symlink("/proc/self/fd/1", "dev/stdout") || symlink("/proc/self/fd/2", "dev/stderr"))
    die(SETUP_FAIL, "symlinks in /dev: %s", strerror(errno));
}

/* With -t: the new pty is the process's terminal and the container's /dev/console. */
static void attach_console(int sock, const char *ptmx, int bind_console) {
  char err[512];
  if (bale_console_attach(sock, ptmx, err, sizeof err) != 0) die(SETUP_FAIL, "%s", err);
  if (!bind_console) return;
  int fd = open("dev/console", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) die(SETUP_FAIL, "create /dev/console: %s", strerror(errno));
  close(fd);
  must_mount("/proc/self/fd/0", "dev/console", NULL, MS_BIND, NULL);
}

/*
 * What docker hides or freezes in /proc and /sys: host-wide knobs a container's root could
 * otherwise write (sysctls, sysrq-trigger) and kernel memory or key listings it should not read.
 */
static void mask_paths(void) {
  const char *ro[] = {"proc/asound", "proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger"};
  for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
    if (access(ro[i], F_OK) != 0) continue;
    must_mount(ro[i], ro[i], NULL, MS_BIND | MS_REC, NULL);
    must_mount(NULL, ro[i], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  }
  const char *masked[] = {"proc/kcore", "proc/keys", "proc/latency_stats", "proc/timer_list", "proc/timer_stats",
                          "proc/sched_debug", "proc/acpi", "proc/scsi", "sys/firmware", "sys/devices/virtual/powercap"};
  for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++) {
    struct stat st;
    if (stat(masked[i], &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) must_mount("tmpfs", masked[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
    else must_mount("/dev/null", masked[i], NULL, MS_BIND, NULL);
  }
}

static void setup_sys(void) {
  mkdir("sys", 0555);
  if (mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) return;
  /* sysfs of the host's net namespace (--net host): a read-only bind of the host's /sys */
  must_mount("/sys", "sys", NULL, MS_BIND | MS_REC, NULL);
  must_mount(NULL, "sys", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die(SETUP_FAIL, "socket: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) die(SETUP_FAIL, "lo: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) die(SETUP_FAIL, "bringing lo up: %s", strerror(errno));
  close(s);
}

/* Block until bale has connected the network namespace (one byte on fd). EOF: bale failed to (and
 * says why) or is gone; either way quietly out. */
static void wait_for_network(int fd) {
  char c;
  ssize_t n;
  while ((n = read(fd, &c, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) _exit(SETUP_FAIL);
  close(fd);
}

/* "12,0,5" → a capability bit set. */
static uint64_t parse_caps(const char *v) {
  uint64_t set = 0;
  char *copy = strdup(v), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (!all_digits(t) || atoi(t) > 63) die(SETUP_FAIL, "bale-init: bad capability %s", t);
    set |= 1ULL << atoi(t);
  }
  free(copy);
  return set;
}

static const char *const flag_opts[] = {"--net-none", "--net-wait", "--tty", "--stdin", "--read-only", "--no-new-privs", "--privileged"};

static void parse(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->pid_fd = -1;
  o->cwd = "/";
  o->user = "";
  o->ns = "mnt,uts,ipc,pid";
  for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++) o->caps |= 1ULL << default_caps[i];
  int i = 2;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    int *flags[] = {&o->net_none, &o->net_wait, &o->tty, &o->with_stdin, &o->read_only, &o->no_new_privs, &o->privileged};
    int matched = 0;
    for (size_t f = 0; f < sizeof flag_opts / sizeof flag_opts[0]; f++) {
      if (!strcmp(a, flag_opts[f])) *flags[f] = matched = 1;
    }
    if (matched) continue;
    if (i + 1 >= argc) die(SETUP_FAIL, "bale-init: %s needs a value", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--layers")) o->layers = v;
    else if (!strcmp(a, "--overlay")) o->overlay = v;
    else if (!strcmp(a, "--rootfs")) o->rootfs = v;
    else if (!strcmp(a, "--hostname")) o->hostname = v;
    else if (!strcmp(a, "--cwd")) o->cwd = v;
    else if (!strcmp(a, "--user")) o->user = v;
    else if (!strcmp(a, "--ns")) o->ns = v;
    else if (!strcmp(a, "--seccomp")) o->seccomp = v;
    else if (!strcmp(a, "--seccomp-cache")) o->seccomp_cache = v;
    else if (!strcmp(a, "--mounts")) o->mounts = v;
    else if (!strcmp(a, "--fuse-overlayfs")) o->fuse_overlayfs = v;
    else if (!strcmp(a, "--overlay-driver")) {
      if (strcmp(v, "overlay") && strcmp(v, "fuse-overlayfs") && strcmp(v, "auto")) die(SETUP_FAIL, "bale-init: --overlay-driver takes overlay, fuse-overlayfs or auto");
      o->fuse_only = !strcmp(v, "fuse-overlayfs");
    }
    else if (!strcmp(a, "--caps")) o->caps = parse_caps(v);
    else if (!strcmp(a, "--pid-fd")) o->pid_fd = atoi(v);
    else if (!strcmp(a, "--pid")) o->pid = (pid_t)atoi(v);
    else if (!strcmp(a, "--cgroup")) {
      if (o->ncgroups >= 16) die(SETUP_FAIL, "bale-init: too many --cgroup");
      o->cgroups[o->ncgroups++] = v;
    } else die(SETUP_FAIL, "bale-init: unknown option %s", a);
  }
  if (i >= argc) die(SETUP_FAIL, "No command specified");
  if (o->privileged) o->caps = ~0ULL;
  o->argv = argv + i;
}

/* Into the container's cgroups first, so its cgroup namespace is rooted at them. */
static void join_cgroups(const struct opts *o) {
  for (int i = 0; i < o->ncgroups; i++) {
    int fd = open(o->cgroups[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d\n", (int)getpid()) < 0) die(SETUP_FAIL, "joining cgroup %s: %s", o->cgroups[i], strerror(errno));
    close(fd);
  }
}

static int ns_flags(const char *list) {
  static const struct {
    const char *name;
    int flag;
  } all[] = {{"mnt", CLONE_NEWNS}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC}, {"pid", CLONE_NEWPID}, {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP}};
  int flags = 0;
  char *copy = strdup(list), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    size_t k = 0;
    while (k < sizeof all / sizeof all[0] && strcmp(all[k].name, t)) k++;
    if (k == sizeof all / sizeof all[0]) die(SETUP_FAIL, "bale-init: unknown namespace %s", t);
    flags |= all[k].flag;
  }
  free(copy);
  return flags;
}

static void prepare_seccomp(struct opts *o) {
  char err[512];
  if (o->seccomp && bale_seccomp_prepare(o->seccomp, o->seccomp_cache, &o->filter, err, sizeof err) != 0) die(SETUP_FAIL, "%s", err);
}

static void enter_cwd(const char *cwd) {
  if (chdir(cwd) != 0) die(126, "chdir to working directory %s: %s", cwd, strerror(errno));
}

/* The fuse-overlayfs daemon serving the root, when it does (0: none). */
static pid_t fuse_pid;

/*
 * Mount the root with fuse-overlayfs: its daemon runs outside the container's namespaces (so nothing
 * in the container can see, signal or trace it), in a session of its own (a terminal's ^C is not for
 * it), and dies with this helper (PDEATHSIG), which ends it when the container's pid 1 exits. The
 * mount lives only in mount namespaces made here, which end with the last of these processes, so no
 * mount is ever left behind, whichever process is killed. Its whiteouts are overlayfs's 0/0 devices; an
 * opaque directory gets user.fuseoverlayfs.opaque and a .wh..wh..opq file (layer/tree.ts reads both).
 */
static void mount_fuse(const struct opts *o) {
  size_t n = strlen(o->overlay);
  char *opts = malloc(n + 32);
  if (!opts) die(SETUP_FAIL, "out of memory");
  strcpy(opts, o->overlay);
  char *ux = strstr(opts, ",userxattr");
  if (ux) memmove(ux, ux + strlen(",userxattr"), strlen(ux + strlen(",userxattr")) + 1);
  /* the container's users are other uids than the daemon's */
  strcat(opts, ",allow_other");
  /* its messages (it notes ignored options on every start) are shown only if the mount fails */
  int msg[2];
  if (pipe2(msg, O_CLOEXEC) != 0) die(SETUP_FAIL, "pipe: %s", strerror(errno));
  fuse_pid = fork();
  if (fuse_pid < 0) die(SETUP_FAIL, "fork: %s", strerror(errno));
  if (fuse_pid == 0) {
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN); /* kept across exec: a late message to the closed pipe is no death */
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) dup2(null, 0), dup2(null, 1);
    dup2(msg[1], 2);
    close_from(3, -1);
    execl(o->fuse_overlayfs, "fuse-overlayfs", "-f", "-o", opts, o->rootfs, (char *)NULL);
    fprintf(stderr, "bale: cannot run %s: %s\n", o->fuse_overlayfs, strerror(errno));
    _exit(127);
  }
  free(opts);
  close(msg[1]);
  fcntl(msg[0], F_SETFL, O_NONBLOCK);
  char said[4096];
  size_t len = 0;
  struct stat root, parent;
  char up[PATH_MAX];
  snprintf(up, sizeof up, "%s/..", o->rootfs);
  for (int i = 0; i < 1000; i++) {
    if (stat(o->rootfs, &root) == 0 && stat(up, &parent) == 0 && root.st_dev != parent.st_dev) return (void)close(msg[0]);
    ssize_t r = read(msg[0], said + len, sizeof said - 1 - len);
    if (r > 0) len += (size_t)r;
    if (waitpid(fuse_pid, NULL, WNOHANG) == fuse_pid) {
      fuse_pid = 0;
      while (len < sizeof said - 1 && (r = read(msg[0], said + len, sizeof said - 1 - len)) > 0) len += (size_t)r;
      said[len] = 0;
      for (char *c = said; *c; c++)
        if (*c == '\n') *c = ' ';
      die(SETUP_FAIL, "fuse-overlayfs mount on %s failed: %s", o->rootfs, len ? said : "no message");
    }
    usleep(10000);
  }
  die(SETUP_FAIL, "fuse-overlayfs mount on %s: not mounted after 10 s", o->rootfs);
}

/*
 * The container's root: overlayfs, or fuse-overlayfs where the kernel's overlay refuses a mount in a
 * user namespace (before Linux 5.11: EINVAL for `userxattr`, EPERM for the mount) or the user asked
 * for it. Mounted by this helper in the new mount namespace, before the container's pid 1 is forked.
 */
static void mount_root(const struct opts *o) {
  if (o->fuse_only && !o->fuse_overlayfs) die(SETUP_FAIL, "bale-init run: --overlay-driver fuse-overlayfs needs --fuse-overlayfs PATH");
  must_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  if (chdir(o->layers) != 0) die(SETUP_FAIL, "chdir %s: %s", o->layers, strerror(errno));
  if (!o->fuse_only) {
    /* nodev: a device node in the image, or one root makes later, does not open */
    if (mount("overlay", o->rootfs, "overlay", o->privileged ? 0 : MS_NODEV, o->overlay) == 0) return;
    int e = errno;
    if (!o->fuse_overlayfs || (e != EINVAL && e != EPERM)) die(SETUP_FAIL, "overlay mount on %s: %s", o->rootfs, strerror(e));
  }
  mount_fuse(o);
}

static void container_init(struct opts *o, int console_sock) {
  if (chdir(o->rootfs) != 0) die(SETUP_FAIL, "chdir %s: %s", o->rootfs, strerror(errno));
  mkdir("proc", 0555);
  must_mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  setup_dev(o);
  if (console_sock >= 0) attach_console(console_sock, "dev/pts/ptmx", 1);
  setup_sys();
  if (o->mounts) {
    char err[512];
    if (bale_mounts_apply(o->mounts, err, sizeof err) != 0) die(SETUP_FAIL, "%s", err);
  }
  if (o->read_only) must_mount(NULL, ".", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | (o->privileged ? 0 : MS_NODEV), NULL);
  if (!o->privileged) mask_paths();
  if (o->hostname && sethostname(o->hostname, strlen(o->hostname)) != 0)
    die(SETUP_FAIL, "sethostname: %s", strerror(errno));
  if (o->net_none || o->net_wait) loopback_up();
  if (o->net_wait) wait_for_network(o->pid_fd);
  prepare_seccomp(o);
  if (syscall(SYS_pivot_root, ".", ".") != 0) die(SETUP_FAIL, "pivot_root: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) != 0) die(SETUP_FAIL, "detaching the old root: %s", strerror(errno));
  if (chdir("/") != 0) die(SETUP_FAIL, "chdir /: %s", strerror(errno));
  struct ident id;
  resolve_user(o->user, &id);
  mkdir_p(o->cwd, 0755); /* docker creates a missing WorkingDir */
  drop_privileges(&id, o);
  /* Die with this helper: killed with SIGKILL, it could neither forward a stop nor record the exit,
   * and a pid 1 left running would be recorded as exited and escape rm. Set after the last change of
   * ids, which clears it (as does exec of a set-id binary, the one way left for pid 1 to outlive us). */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  enter_cwd(o->cwd);
  exec_command(o->argv, &id);
}

static pid_t child_pid;

static void forward(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

/* Wait for the child, passing signals on; its status as an exit code (128+N for signal N). */
static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

static int wait_child(void) {
  const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    sigaction(sigs[i], &sa, NULL);
  }
  int status;
  while (waitpid(child_pid, &status, 0) < 0) {
    if (errno != EINTR) die(SETUP_FAIL, "waitpid: %s", strerror(errno));
  }
  return exit_code(status);
}

/* Fork the container's process; with -t, hand it one end of a socket to send its pty master back on. */
static int fork_child(const struct opts *o, int *console_sock) {
  int sv[2] = {-1, -1};
  if (o->tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die(SETUP_FAIL, "socketpair: %s", strerror(errno));
  child_pid = fork();
  if (child_pid < 0) die(SETUP_FAIL, "fork: %s", strerror(errno));
  if (child_pid == 0) {
    if (sv[0] >= 0) close(sv[0]);
    *console_sock = sv[1];
    return 0;
  }
  if (sv[1] >= 0) close(sv[1]);
  *console_sock = sv[0];
  return 1;
}

/* The parent's side once the child runs: relay its terminal, or just wait and forward signals. */
static int supervise(const struct opts *o, int console_sock) {
  if (console_sock < 0) return wait_child();
  int master = bale_console_receive(console_sock);
  close(console_sock);
  if (master < 0) return wait_child(); /* the child failed before its pty: it says why */
  return exit_code(bale_console_relay(master, child_pid, o->with_stdin));
}

/*
 * Make the namespaces and fork: the new pid namespace applies to children only, so the first
 * child is the container's pid 1. We stay outside it to report its exit status exactly and tell
 * bale its host pid.
 */
static int run(struct opts *o) {
  if (!o->layers || !o->overlay || !o->rootfs) die(SETUP_FAIL, "bale-init run: --layers, --overlay and --rootfs are required");
  if (o->net_wait && o->pid_fd < 0) die(SETUP_FAIL, "bale-init run: --net-wait needs --pid-fd");
  join_cgroups(o);
  int flags = ns_flags(o->ns);
  if (!(flags & CLONE_NEWNS)) die(SETUP_FAIL, "bale-init run: --ns must include mnt");
  /* The root is mounted first, in a mount namespace of its own. A fuse-overlayfs daemon serving it
   * stays there, outside the container's namespaces: the container gets a copy of that namespace
   * (the same mount, served by the same daemon), so its pivot_root does not move the daemon's root. */
  if (unshare(CLONE_NEWNS) != 0) die(SETUP_FAIL, "unshare: %s", strerror(errno));
  mount_root(o);
  if (unshare(fuse_pid > 0 ? flags : flags & ~CLONE_NEWNS) != 0) die(SETUP_FAIL, "unshare: %s", strerror(errno));
  int sock;
  if (!fork_child(o, &sock)) {
    if (o->pid_fd >= 0 && !o->net_wait) close(o->pid_fd);
    container_init(o, sock);
  }
  if (o->pid_fd >= 0) {
    dprintf(o->pid_fd, "%d\n", (int)child_pid);
    close(o->pid_fd);
  }
  int code = supervise(o, sock);
  if (fuse_pid > 0) {
    /* The container is gone: the mount namespaces go with this helper and the daemon, so the mount
     * needs no unmount of its own. */
    kill(fuse_pid, SIGKILL);
    waitpid(fuse_pid, NULL, 0);
  }
  return code;
}

/* ---- exec: join a running container ------------------------------------------------------ */

static int do_exec(struct opts *o) {
  if (o->pid <= 0) die(SETUP_FAIL, "bale-init exec: --pid is required");
  join_cgroups(o);
  const char *names[] = {"cgroup", "ipc", "uts", "net", "pid", "mnt"};
  const size_t n = sizeof names / sizeof names[0];
  int fds[sizeof names / sizeof names[0]];
  char p[64];
  for (size_t i = 0; i < n; i++) {
    snprintf(p, sizeof p, "/proc/%d/ns/%s", (int)o->pid, names[i]);
    fds[i] = open(p, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) die(SETUP_FAIL, "container process %d: %s: %s", (int)o->pid, p, strerror(errno));
  }
  snprintf(p, sizeof p, "/proc/%d/root", (int)o->pid);
  int root = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) die(SETUP_FAIL, "container process %d: root: %s", (int)o->pid, strerror(errno));
  prepare_seccomp(o);
  for (size_t i = 0; i < n; i++) {
    if (setns(fds[i], 0) != 0) die(SETUP_FAIL, "joining the container's %s namespace: %s", names[i], strerror(errno));
    close(fds[i]);
  }
  if (fchdir(root) != 0 || chroot(".") != 0 || chdir("/") != 0) die(SETUP_FAIL, "entering the container's root: %s", strerror(errno));
  close(root);
  int sock;
  if (!fork_child(o, &sock)) {
    if (sock >= 0) attach_console(sock, "/dev/pts/ptmx", 0);
    struct ident id;
    resolve_user(o->user, &id);
    drop_privileges(&id, o);
    enter_cwd(o->cwd);
    exec_command(o->argv, &id);
  }
  return supervise(o, sock);
}

/* pause: hold the user namespace (userns.c); nothing of the caller's stays open. */
static int pause_forever(void) {
  int null = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3 && null >= 0; fd++) dup2(null, fd);
  close_from(3, -1);
  if (chdir("/") != 0) return 1;
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  for (;;) pause();
}

/* userns --pid-file FILE [--uidmap MAP --gidmap MAP | --note TEXT] -- CMD...: run CMD as root of the store's user namespace. */
static int userns_exec(int argc, char **argv) {
  const char *pid_file = NULL, *uidmap = NULL, *gidmap = NULL, *note = NULL;
  int i = 2;
  for (; i + 1 < argc && strcmp(argv[i], "--"); i += 2) {
    if (!strcmp(argv[i], "--pid-file")) pid_file = argv[i + 1];
    else if (!strcmp(argv[i], "--uidmap")) uidmap = argv[i + 1];
    else if (!strcmp(argv[i], "--gidmap")) gidmap = argv[i + 1];
    else if (!strcmp(argv[i], "--note")) note = argv[i + 1];
    else die(SETUP_FAIL, "bale-init: unknown option %s", argv[i]);
  }
  if (!pid_file || i + 1 >= argc || strcmp(argv[i], "--") || !uidmap != !gidmap) die(2, "usage: bale-init userns --pid-file FILE [--uidmap MAP --gidmap MAP] -- CMD...");
  char err[512];
  if (bale_userns_enter(pid_file, uidmap, gidmap, note, err, sizeof err) != 0) die(SETUP_FAIL, "rootless: %s", err);
  execvp(argv[i + 1], argv + i + 1);
  die(SETUP_FAIL, "exec %s: %s", argv[i + 1], strerror(errno));
  return SETUP_FAIL;
}

int main(int argc, char **argv) {
  if (argc < 2) die(2, "usage: bale-init run|exec|userns [options] -- ARGS...");
  if (!strcmp(argv[1], "pause")) return pause_forever();
  if (!strcmp(argv[1], "userns")) return userns_exec(argc, argv);
  struct opts o;
  parse(argc, argv, &o);
  /* Whatever bale's caller left open (a shell's `exec 250</`) must not reach the container. */
  close_from(3, o.pid_fd);
  if (!strcmp(argv[1], "run")) return run(&o);
  if (!strcmp(argv[1], "exec")) return do_exec(&o);
  die(2, "bale-init: unknown mode %s", argv[1]);
  return 2;
}
