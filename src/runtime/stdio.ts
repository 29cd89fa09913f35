// The container's stdio without the caller's terminal. A container must never hold a descriptor of
// the host's tty: with it, it could push input into the caller's shell (TIOCSTI), change the
// terminal's modes or keep reading after it exits. With -t the helper gives it a pty of its own
// and relays; without -t, any of stdin/stdout/stderr that is a terminal is relayed through a pipe.
import type { ChildProcess, IOType, StdioOptions } from 'node:child_process';
import { isatty } from 'node:tty';

export interface AttachIO {
  stdin: 'inherit' | 'ignore';
  stdout: 'inherit' | number;
  stderr: 'inherit' | number;
  /** The container gets its own pty, relayed by the helper (-t). */
  tty: boolean;
}

export interface Attachment {
  stdio: StdioOptions;
  /** Connect the relays once the child is spawned. */
  connect(child: ChildProcess): void;
  /** Undo the terminal mode and the relays; safe to call more than once. */
  release(): void;
}

/** How to hand bale's stdio to the helper, relaying what is a terminal. */
export function attach(io: AttachIO, extra: IOType[] = []): Attachment {
  const inTty = io.stdin === 'inherit' && isatty(0);
  const outTty = io.stdout === 'inherit' && isatty(1);
  const errTty = io.stderr === 'inherit' && isatty(2);
  let raw = false;
  if (io.tty && inTty && process.stdin.setRawMode) {
    // The helper copies every byte to the container's pty, which does the line editing and the
    // signals (^C): the caller's terminal must pass them through untouched. Node restores the mode.
    process.stdin.setRawMode(true);
    raw = true;
  }
  // With -t the helper reads fd 0 and writes fd 1 itself; the container only ever sees its pty.
  const pipeIn = !io.tty && inTty;
  const pipeOut = !io.tty && outTty;
  const pipeErr = !io.tty && errTty;
  const stdio: (IOType | number)[] = [pipeIn ? 'pipe' : io.stdin, pipeOut ? 'pipe' : io.stdout, pipeErr ? 'pipe' : io.stderr, ...extra];
  let child: ChildProcess | undefined;
  return {
    stdio,
    connect(c) {
      child = c;
      if (pipeIn && c.stdin) {
        c.stdin.on('error', () => undefined);
        process.stdin.pipe(c.stdin);
      }
      if (pipeOut && c.stdout) c.stdout.pipe(process.stdout);
      if (pipeErr && c.stderr) c.stderr.pipe(process.stderr);
    },
    release() {
      if (raw) {
        process.stdin.setRawMode(false);
        raw = false;
      }
      if (pipeIn && child?.stdin) {
        process.stdin.unpipe(child.stdin);
        process.stdin.pause();
      }
    },
  };
}

/** Wait until relayed output has been written out (the pipes end after the helper exits). */
export async function flushed(child: ChildProcess): Promise<void> {
  const ends = [child.stdout, child.stderr].filter((s) => s !== null && s !== undefined).map(
    (s) => new Promise<void>((resolve) => (s!.readableEnded || s!.destroyed ? resolve() : s!.once('close', () => resolve()))),
  );
  await Promise.all(ends);
}
