/*
 * mounts: a container's volumes, bind mounts and tmpfs mounts, applied inside its root before
 * pivot_root. bale-init calls bale_mounts_apply() with the current directory at the container's
 * root (the overlay mount), after /proc, /dev and /sys are mounted.
 *
 * The mounts file (written by src/runtime/mounts.ts), one mount a line, five tab-separated fields:
 *
 *   TYPE \t SOURCE \t TARGET \t FLAGS \t DATA
 *
 *   TYPE    bind, tmpfs or overlay (a volume is a bind of the volume's _data directory; overlay is
 *           for bale build's RUN --mount: a stage's layers, or a view whose writes go elsewhere)
 *   SOURCE  bind: absolute host path, a directory or a file; tmpfs: "tmpfs"; overlay: "overlay"
 *   TARGET  absolute path inside the container
 *   FLAGS   comma-separated, maybe empty: "ro"; "copyup" (bind of a volume: if the volume is empty,
 *           first copy what the container has at TARGET into it, with owners, modes and times, as
 *           docker does on a volume's first use); tmpfs only: "exec", "suid" (lift the default
 *           noexec, nosuid; a tmpfs is always nodev)
 *   DATA    tmpfs: its mount data ("mode=1777,size=1048576"); overlay: its options
 *           ("lowerdir=A:B[,upperdir=U,workdir=W]", host paths); bind: empty
 *
 * Parents come first (the file is sorted by depth), so a mount inside another one lands in it.
 *
 * Why openat2: TARGET is a path in an image, and an image can hold any symlink (absolute, "..").
 * Walking it as a host path would follow such a link out of the root, to create directories or
 * mount on the host's own files. RESOLVE_IN_ROOT makes the kernel treat the root's descriptor as
 * "/" for every absolute link and every "..", RESOLVE_NO_MAGICLINKS refuses /proc magic links.
 * Missing directories are made one component at a time with mkdirat on a descriptor of the
 * already-resolved parent (so they go to the container's upper layer, as overlay does by itself),
 * and the mount goes onto /proc/self/fd/N of the resolved target: nothing is walked twice by name.
 * A target that resolves to the root itself is refused (a mount over the root would not be seen
 * after pivot_root), and so is one in /proc or /sys (a mount there could undo what bale masks).
 * Binds and volumes are nodev, like the root and /dev: root in the container may mknod, and a
 * node it makes there must not open a host device.
 *
 * copyup copies regular files, directories, symlinks (never followed), devices and fifos of the
 * container's own file system (not what is mounted in it); hardlinks become separate files and
 * extended attributes are not copied.
 */
#define _GNU_SOURCE
#include "mounts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define COPY_MAX_DEPTH 128

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* Open path (relative to root, which stands for "/") without ever leaving root. */
static int in_root(int root, const char *path, int flags, mode_t mode) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return (int)syscall(SYS_openat2, root, *path ? path : ".", &how, sizeof how);
}

/*
 * An O_PATH descriptor of target inside root, making what is missing: directories, and the last
 * component as a directory or (as_file) an empty file.
 */
static int open_target(int root, const char *target, int as_file, char *err, size_t errlen) {
  char rel[PATH_MAX];
  while (*target == '/') target++;
  if (snprintf(rel, sizeof rel, "%s", target) >= (int)sizeof rel) return fail(err, errlen, "mount point /%s: path too long", target);
  int fd = in_root(root, rel, O_PATH, 0);
  if (fd >= 0 || errno != ENOENT) {
    if (fd < 0) return fail(err, errlen, "mount point /%s: %s", rel, strerror(errno));
    return fd;
  }
  int parent = in_root(root, "", O_PATH | O_DIRECTORY, 0);
  if (parent < 0) return fail(err, errlen, "container root: %s", strerror(errno));
  char *p = rel;
  for (;;) {
    char *slash = strchr(p, '/');
    int last = slash == NULL;
    if (slash) *slash = 0;
    /* rel now ends at this component: resolve it from the root, as the kernel would */
    int next = in_root(root, rel, O_PATH, 0);
    if (next < 0 && errno == ENOENT) {
      int made;
      if (last && as_file) {
        made = openat(parent, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (made >= 0) close(made);
      } else {
        made = mkdirat(parent, p, 0755);
      }
      if (made < 0 && errno != EEXIST) {
        int e = errno;
        close(parent);
        return fail(err, errlen, "mount point /%s: %s", rel, strerror(e));
      }
      next = in_root(root, rel, O_PATH, 0);
      if (next < 0 && errno == ENOENT) {
        close(parent);
        return fail(err, errlen, "mount point /%s: a symlink in the image points nowhere", rel);
      }
    }
    if (next < 0) {
      int e = errno;
      close(parent);
      return fail(err, errlen, "mount point /%s: %s", rel, strerror(e));
    }
    close(parent);
    if (last) return next;
    parent = next;
    *slash = '/';
    p = slash + 1;
  }
}

/* ---- copy-up ------------------------------------------------------------------------------ */

static int copy_meta(int dirfd, const char *name, int fd, const struct stat *st) {
  struct timespec t[2] = {st->st_atim, st->st_mtim};
  if (fd >= 0) {
    if (fchown(fd, st->st_uid, st->st_gid) != 0) return -1;
    if (fchmod(fd, st->st_mode & 07777) != 0) return -1;
    return futimens(fd, t);
  }
  if (fchownat(dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  return utimensat(dirfd, name, t, AT_SYMLINK_NOFOLLOW);
}

static int copy_file(int sdir, int ddir, const char *name, const struct stat *st) {
  int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return -1;
  int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    close(in);
    return -1;
  }
  char buf[65536];
  ssize_t n;
  int rc = 0;
  while ((n = read(in, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = -1;
      break;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        rc = -1;
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  if (rc == 0) rc = copy_meta(ddir, name, out, st);
  int e = errno;
  close(in);
  close(out);
  errno = e;
  return rc;
}

static int copy_tree(int sdir, int ddir, dev_t dev, int depth, char *err, size_t errlen);

static int copy_entry(int sdir, int ddir, const char *name, dev_t dev, int depth, char *err, size_t errlen) {
  struct stat st;
  if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return fail(err, errlen, "copy-up %s: %s", name, strerror(errno));
  int rc = 0;
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev) return 0; /* another file system mounted here (/proc, /dev, a bind): not the image's */
    if (depth >= COPY_MAX_DEPTH) return fail(err, errlen, "copy-up: directories nested deeper than %d", COPY_MAX_DEPTH);
    if (mkdirat(ddir, name, 0700) != 0) return fail(err, errlen, "copy-up %s: %s", name, strerror(errno));
    int s = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int d = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0 || d < 0) rc = fail(err, errlen, "copy-up %s: %s", name, strerror(errno));
    if (rc == 0) rc = copy_tree(s, d, dev, depth + 1, err, errlen);
    if (rc == 0 && copy_meta(ddir, name, d, &st) != 0) rc = fail(err, errlen, "copy-up %s: %s", name, strerror(errno));
    if (s >= 0) close(s);
    if (d >= 0) close(d);
    return rc;
  }
  if (S_ISREG(st.st_mode)) {
    rc = copy_file(sdir, ddir, name, &st);
  } else if (S_ISLNK(st.st_mode)) {
    char link[PATH_MAX];
    ssize_t n = readlinkat(sdir, name, link, sizeof link - 1);
    if (n < 0) return fail(err, errlen, "copy-up %s: %s", name, strerror(errno));
    link[n] = 0;
    rc = symlinkat(link, ddir, name);
    if (rc == 0) rc = copy_meta(ddir, name, -1, &st);
  } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
    rc = mknodat(ddir, name, st.st_mode, st.st_rdev);
    if (rc == 0) rc = copy_meta(ddir, name, -1, &st);
    if (rc == 0) rc = fchmodat(ddir, name, st.st_mode & 07777, 0);
  } /* sockets are left out */
  if (rc != 0) return fail(err, errlen, "copy-up %s: %s", name, strerror(errno));
  return 0;
}

/* Copy what directory sdir holds into ddir (both descriptors stay open), staying on file system dev. */
static int copy_tree(int sdir, int ddir, dev_t dev, int depth, char *err, size_t errlen) {
  int dup_fd = dup(sdir);
  DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
  if (!d) {
    if (dup_fd >= 0) close(dup_fd);
    return fail(err, errlen, "copy-up: %s", strerror(errno));
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    rc = copy_entry(sdir, ddir, e->d_name, dev, depth, err, errlen);
  }
  if (rc == 0 && errno != 0) rc = fail(err, errlen, "copy-up: reading a directory: %s", strerror(errno));
  closedir(d);
  return rc;
}

static int dir_is_empty(int fd) {
  int dup_fd = dup(fd);
  DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
  if (!d) {
    if (dup_fd >= 0) close(dup_fd);
    return 0;
  }
  struct dirent *e;
  int empty = 1;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      empty = 0;
      break;
    }
  }
  closedir(d);
  return empty;
}

/*
 * A new (empty) volume gets what the container has at target, and the owner and mode of it. Only
 * the container's own file system is copied, as docker copies the image's: never what is mounted
 * in it (/proc, /sys, /dev, earlier binds), which an image's symlink at the target could point at.
 */
static int copy_up(int root, dev_t root_dev, const char *target, const char *volume, char *err, size_t errlen) {
  int dst = open(volume, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst < 0) return fail(err, errlen, "volume %s: %s", volume, strerror(errno));
  /* Two containers starting on one new volume: the second waits, then finds it filled. */
  if (flock(dst, LOCK_EX) != 0) {
    close(dst);
    return fail(err, errlen, "volume %s: lock: %s", volume, strerror(errno));
  }
  int rc = 0;
  if (dir_is_empty(dst)) {
    while (*target == '/') target++;
    int src = in_root(root, target, O_RDONLY | O_DIRECTORY, 0);
    struct stat st;
    if (src >= 0 && fstat(src, &st) == 0 && st.st_dev == root_dev) {
      rc = copy_tree(src, dst, root_dev, 0, err, errlen);
      if (rc == 0 && copy_meta(-1, NULL, dst, &st) != 0) rc = fail(err, errlen, "volume %s: %s", volume, strerror(errno));
    }
    if (src >= 0) {
      close(src);
    } else if (errno != ENOENT && errno != ENOTDIR) {
      rc = fail(err, errlen, "copy-up from /%s: %s", target, strerror(errno));
    }
  }
  close(dst);
  return rc;
}

/* ---- mounting ------------------------------------------------------------------------------ */

static int has_flag(const char *flags, const char *want) {
  size_t n = strlen(want);
  for (const char *p = flags; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == n && !strncmp(p, want, n)) return 1;
    if (!comma) break;
    p = comma + 1;
  }
  return 0;
}

/* The flags a read-only remount must keep: the kernel refuses to clear locked ones. */
static unsigned long kept_flags(int fd) {
  struct statvfs sv;
  unsigned long f = 0;
  if (fstatvfs(fd, &sv) != 0) return 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

static int apply_one(int root, const struct stat *root_st, char **f, char *err, size_t errlen) {
  const char *type = f[0], *source = f[1], *target = f[2], *flags = f[3], *data = f[4];
  int is_overlay = !strcmp(type, "overlay");
  int is_tmpfs = !strcmp(type, "tmpfs") || is_overlay; /* neither has a host path to bind */
  if (!is_tmpfs && strcmp(type, "bind")) return fail(err, errlen, "mounts file: unknown type %s", type);
  if (target[0] != '/') return fail(err, errlen, "mounts file: target %s is not absolute", target);
  int ro = has_flag(flags, "ro");
  int as_file = 0;
  if (!is_tmpfs) {
    struct stat st;
    if (stat(source, &st) != 0) return fail(err, errlen, "bind source path %s: %s", source, strerror(errno));
    as_file = !S_ISDIR(st.st_mode);
    if (has_flag(flags, "copyup") && !as_file && copy_up(root, root_st->st_dev, target, source, err, errlen) != 0) return -1;
  }
  int fd = open_target(root, target, as_file, err, errlen);
  if (fd < 0) return -1;
  struct stat tst;
  if (fstat(fd, &tst) == 0 && tst.st_dev == root_st->st_dev && tst.st_ino == root_st->st_ino) {
    close(fd);
    return fail(err, errlen, "mount point %s resolves to the container's root", target);
  }
  struct statfs sfs;
  if (fstatfs(fd, &sfs) == 0 && (sfs.f_type == PROC_SUPER_MAGIC || sfs.f_type == SYSFS_MAGIC)) {
    close(fd);
    return fail(err, errlen, "mount point %s is in /proc or /sys", target);
  }
  char at[64];
  snprintf(at, sizeof at, "/proc/self/fd/%d", fd);
  int rc;
  if (is_tmpfs) {
    unsigned long mf = MS_NOSUID | MS_NODEV | MS_NOEXEC | (ro ? MS_RDONLY : 0);
    if (has_flag(flags, "exec")) mf &= ~(unsigned long)MS_NOEXEC;
    if (has_flag(flags, "suid")) mf &= ~(unsigned long)MS_NOSUID;
    if (is_overlay) mf = MS_NODEV | (ro ? MS_RDONLY : 0);
    rc = mount(type, at, type, mf, data);
  } else {
    rc = mount(source, at, NULL, MS_BIND | MS_REC, NULL);
  }
  close(fd);
  if (rc != 0) return fail(err, errlen, "mount %s on %s: %s", is_tmpfs ? type : source, target, strerror(errno));
  if (!is_tmpfs) {
    /*
     * Flags are per mount: remount the new one (reached again, now through it) nodev, as the root
     * and /dev are (root in the container may mknod; a node it makes in a volume or a bind must not
     * open the host's disk), and read-only for ro.
     */
    int m = in_root(root, target + 1, O_PATH, 0);
    if (m < 0) return fail(err, errlen, "mount point %s: %s", target, strerror(errno));
    snprintf(at, sizeof at, "/proc/self/fd/%d", m);
    rc = mount(NULL, at, NULL, MS_REMOUNT | MS_BIND | MS_NODEV | (ro ? MS_RDONLY : 0) | kept_flags(m), NULL);
    int e = errno;
    close(m);
    if (rc != 0) return fail(err, errlen, "remount of %s: %s", target, strerror(e));
  }
  return 0;
}

int bale_mounts_apply(const char *mounts_file, char *err, size_t errlen) {
  FILE *in = fopen(mounts_file, "re");
  if (!in) return fail(err, errlen, "mounts file %s: %s", mounts_file, strerror(errno));
  int root = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat root_st;
  if (root < 0 || fstat(root, &root_st) != 0) {
    fclose(in);
    return fail(err, errlen, "container root: %s", strerror(errno));
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  while (rc == 0 && (n = getline(&line, &cap, in)) > 0) {
    if (line[n - 1] == '\n') line[n - 1] = 0;
    char *f[5], *rest = line;
    int k = 0;
    while (k < 5 && rest) f[k++] = strsep(&rest, "\t");
    if (k != 5 || rest) rc = fail(err, errlen, "mounts file %s: a line without 5 tab-separated fields", mounts_file);
    else rc = apply_one(root, &root_st, f, err, errlen);
  }
  free(line);
  fclose(in);
  close(root);
  return rc;
}
