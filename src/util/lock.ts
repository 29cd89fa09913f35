// Kernel file locks (flock) that die with the process.
//
// Node has no flock(2), so bale brings its own: dist/native/flock.node (src/util/native/flock.c), a
// one-function Node-API module. A lock belongs to the open file description: bale opens the lock
// file and locks that descriptor; closing it releases the lock, and so does the kernel when bale
// dies in any way (kill -9 included). No stale lock files, no helper process to keep alive.
//
// The module is only ever called with LOCK_NB, so the event loop never blocks. A lock somebody else
// holds is waited for by util-linux `flock -x 3` (or -s) on the same descriptor: once that child has
// the lock and exits, the lock stays held through bale's descriptor. Only contention pays an exec.
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';

interface Flock {
  flock(fd: number, op: number): number;
  LOCK_SH: number;
  LOCK_EX: number;
  LOCK_NB: number;
  EWOULDBLOCK: number;
}

/** The module, loaded on the first lock: verbs that take none (`bale images`) skip the dlopen. */
let flockModule: Flock | undefined;
function native(): Flock {
  return (flockModule ??= createRequire(import.meta.url)('../../native/flock.node') as Flock);
}

export type LockMode = 'shared' | 'exclusive';

export interface Lock {
  release(): Promise<void>;
}

export async function acquireLock(file: string, mode: LockMode): Promise<Lock> {
  const lock = await takeLock(file, mode, false);
  return lock!;
}

/** Take the lock only if nobody holds it: undefined when it is busy. */
export function tryLock(file: string, mode: LockMode): Promise<Lock | undefined> {
  return takeLock(file, mode, true);
}

async function takeLock(file: string, mode: LockMode, nowait: boolean): Promise<Lock | undefined> {
  let fd: number;
  try {
    fd = openSync(file, 'a', 0o600);
  } catch (e) {
    throw new Error(`cannot open lock ${file}: ${(e as Error).message}`);
  }
  let got: boolean;
  try {
    const n = native();
    const rc = n.flock(fd, (mode === 'shared' ? n.LOCK_SH : n.LOCK_EX) | n.LOCK_NB);
    if (rc !== 0 && rc !== n.EWOULDBLOCK) throw new Error(`cannot lock ${file}: errno ${rc}`);
    got = rc === 0 || (!nowait && (await waitFor(file, fd, mode)));
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  if (!got) {
    closeSync(fd);
    return undefined;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}

/**
 * Wait for a held lock without blocking the event loop: util-linux flock takes it on our
 * descriptor. child_process is loaded only here: it costs more to load than a free lock to take.
 * flock's stderr is a pipe of ours, not our stderr: a bale killed while it waits leaves flock
 * waiting on, and a caller reading bale's stderr to its end must not wait for that lock too.
 */
async function waitFor(file: string, fd: number, mode: LockMode): Promise<boolean> {
  const { spawn } = await import('node:child_process');
  return new Promise<boolean>((resolve, reject) => {
    const child = spawn('flock', [mode === 'shared' ? '-s' : '-x', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let said = '';
    child.stderr!.on('data', (b: Buffer) => (said += b.toString()));
    child.on('error', (e) => reject(new Error(`cannot lock ${file}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(true);
      else reject(new Error(`cannot lock ${file}: ${said.trim().split('\n')[0] || `flock exited ${code ?? signal}`}`));
    });
  });
}

export async function withLock<T>(file: string, mode: LockMode, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(file, mode);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
