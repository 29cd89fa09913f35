/*
 * A container's terminal (-t). The container never gets the caller's terminal: a process holding
 * the caller's tty could push input into the host shell (TIOCSTI), change its modes or read what
 * the user types after the container is gone. Instead the container's process opens a new pty in
 * its own devpts instance and becomes its session leader; the master goes over a socket to the
 * helper outside the container, which copies bytes between the caller's stdio and the master.
 */
#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "%s: %s", what, strerror(errno));
  return -1;
}

static int send_fd(int sock, int fd) {
  char byte = 'm';
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int bale_console_receive(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n;
  while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n != 1) {
    if (n == 0) errno = EPIPE;
    return -1;
  }
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
    errno = EPROTO;
    return -1;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

static void copy_winsize(int master);

int bale_console_attach(int sock, const char *ptmx, char *err, size_t errlen) {
  int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return fail(err, errlen, "opening a new pty");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) != 0) return fail(err, errlen, "unlocking the pty");
  /* The caller's window size, set here while 0/1/2 are still the caller's terminal: the helper's
   * relay sets it too, but only once it has the master, which a loaded host may delay past the
   * command's first look at its size. */
  copy_winsize(master);
  /* The slave straight from the master: no path lookup in a directory the image controls. */
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) return fail(err, errlen, "opening the pty's slave");
  if (send_fd(sock, master) != 0) return fail(err, errlen, "handing the pty to bale");
  close(master);
  close(sock);
  if (setsid() < 0) return fail(err, errlen, "setsid");
  if (ioctl(slave, TIOCSCTTY, 0) != 0) return fail(err, errlen, "making the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) return fail(err, errlen, "dup2 of the pty");
  if (slave > 2) close(slave);
  return 0;
}

/* The caller's window size onto the pty (from whichever of 0/1/2 is a terminal). */
static void copy_winsize(int master) {
  struct winsize ws;
  for (int fd = 0; fd < 3; fd++) {
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0) {
      ioctl(master, TIOCSWINSZ, &ws);
      return;
    }
  }
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = {fd, POLLOUT, 0};
        poll(&pf, 1, 100);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* What the container wrote and nobody read yet, once it has exited. */
static void drain(int master, int out_ok) {
  char buf[16384];
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  for (;;) {
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) return;
    if (out_ok) write_all(1, buf, (size_t)n);
  }
}

int bale_console_relay(int master, pid_t pid, int with_stdin) {
  sigset_t set;
  sigemptyset(&set);
  const int sigs[] = {SIGCHLD, SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&set, sigs[i]);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  copy_winsize(master);

  char in[4096];
  size_t in_len = 0, in_off = 0;
  int in_open = with_stdin, master_open = 1, out_ok = 1, status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    struct pollfd p[3] = {
        {sfd, POLLIN, 0},
        {master_open ? master : -1, (short)(POLLIN | (in_len > in_off ? POLLOUT : 0)), 0},
        {in_open && in_len == in_off ? 0 : -1, POLLIN, 0},
    };
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH) copy_winsize(master);
        else if (si.ssi_signo != SIGCHLD) kill(pid, (int)si.ssi_signo);
      }
    }
    if (p[1].revents & POLLOUT) {
      ssize_t w = write(master, in + in_off, in_len - in_off);
      if (w > 0) in_off += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) in_off = in_len;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) {
        if (out_ok && write_all(1, buf, (size_t)n) != 0) out_ok = 0;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        master_open = 0; /* every slave closed (EIO): wait for the exit */
      }
    }
    if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(0, in, sizeof in);
      if (n > 0) {
        in_len = (size_t)n;
        in_off = 0;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        in_open = 0;
      }
    }
  }
  if (master_open) drain(master, out_ok);
  close(master);
  close(sfd);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  return status;
}
