/* A container's terminal: a new pty from the container's own devpts, relayed to the caller's. */
#ifndef BALE_CONSOLE_H
#define BALE_CONSOLE_H

#include <sys/types.h>

/* In the container's process, with the current directory at a root whose dev/pts is a fresh
 * devpts instance (before pivot_root) or at the container's / (exec): open a new pty there, send
 * its master over `sock`, make the slave the controlling terminal and stdin/stdout/stderr.
 * `ptmx` is the path of the instance's ptmx ("dev/pts/ptmx" or "/dev/pts/ptmx"). Returns 0, or
 * -1 with a message in err. */
int bale_console_attach(int sock, const char *ptmx, char *err, size_t errlen);

/* In the helper outside the container: receive the master from `sock`. -1 with errno on failure. */
int bale_console_receive(int sock);

/* Relay between the caller's stdin/stdout and the pty master until the child `pid` exits, passing
 * window-size changes (SIGWINCH) and the signals bale forwards. `with_stdin`: read fd 0 (-i).
 * Returns the child's wait status. The caller's terminal mode is bale's (Node's) to set and restore. */
int bale_console_relay(int master, pid_t pid, int with_stdin);

#endif
