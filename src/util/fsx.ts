// Small file-system helpers: atomic writes and unique temp names.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { crypto } from './crypto.js';

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${crypto().randomBytes(6).toString('hex')}`;
}

/**
 * Write a file so that readers see either the old content or the new, never a part. `durable`
 * false skips the fsync: for state that a crash makes stale anyway, on a path that is timed.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, tmpDir = path.dirname(file), durable = true): Promise<void> {
  const tmp = path.join(tmpDir, uniqueName('.w'));
  const fh = await fsp.open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
