// Kernel file locks (flock) that die with the process.
//
// Node has no flock(2), so a tiny `flock` child (util-linux) holds the lock on our behalf and waits
// on a pipe from us. When we release, or when this process dies in any way (kill -9 included), the
// pipe closes, the child exits and the kernel drops the lock. No stale lock files, ever.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export type LockMode = 'shared' | 'exclusive';

export interface Lock {
  release(): Promise<void>;
}

export async function acquireLock(file: string, mode: LockMode): Promise<Lock> {
  const child = spawn(
    'flock',
    [mode === 'shared' ? '-s' : '-x', file, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  child.stdin.on('error', () => {});
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('locked')) resolve();
    });
    child.on('error', (e) => reject(new Error(`cannot lock ${file}: ${e.message}`)));
    child.on('exit', (code) => reject(new Error(`cannot lock ${file}: flock exited ${code}`)));
  });
  await ready;
  // The lock must not keep the event loop alive on its own.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      child.ref(); // keep the loop alive until the kernel has dropped the lock
      const exited = child.exitCode !== null ? Promise.resolve() : once(child, 'exit').then(() => undefined);
      child.stdin.end();
      await exited;
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
