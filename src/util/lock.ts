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
  const fh = await fsp.open(file, 'a', 0o600).catch((e: Error) => {
    throw new Error(`cannot open lock ${file}: ${e.message}`);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('flock', [mode === 'shared' ? '-s' : '-x', '3'], { stdio: ['ignore', 'ignore', 'inherit', fh.fd] });
      child.on('error', (e) => reject(new Error(`cannot lock ${file}: ${e.message}`)));
      child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`cannot lock ${file}: flock exited ${code ?? signal}`))));
    });
  } catch (e) {
    await fh.close();
    throw e;
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
