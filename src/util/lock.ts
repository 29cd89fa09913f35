// Kernel file locks (flock) that die with the process.
//
// Node has no flock(2). But a flock lock belongs to the open file description, which a child
// inherits: so bale opens the lock file, hands the descriptor to util-linux `flock -x 3` (or -s), and
// once that child has taken the lock and exited, the lock stays held through bale's own descriptor.
// Closing it releases the lock; so does the kernel when bale dies in any way (kill -9 included).
// No stale lock files, no helper process to keep alive, one short exec per lock.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';

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
  const fh = await fsp.open(file, 'a', 0o600).catch((e: Error) => {
    throw new Error(`cannot open lock ${file}: ${e.message}`);
  });
  let got: boolean;
  try {
    got = await new Promise<boolean>((resolve, reject) => {
      const args = [mode === 'shared' ? '-s' : '-x', ...(nowait ? ['-n', '-E', '75'] : []), '3'];
      const child = spawn('flock', args, { stdio: ['ignore', 'ignore', 'inherit', fh.fd] });
      child.on('error', (e) => reject(new Error(`cannot lock ${file}: ${e.message}`)));
      child.on('exit', (code, signal) => {
        if (code === 0 || (nowait && code === 75)) resolve(code === 0);
        else reject(new Error(`cannot lock ${file}: flock exited ${code ?? signal}`));
      });
    });
  } catch (e) {
    await fh.close();
    throw e;
  }
  if (!got) {
    await fh.close();
    return undefined;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await fh.close();
    },
  };
}

export async function withLock<T>(file: string, mode: LockMode, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(file, mode);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
