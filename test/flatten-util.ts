// Helpers for the flatten/import/commit tests: GNU tar as an independent reader and extractor.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { getAttributeSync } from 'fs-xattr';

/** Names in a tar (GNU tar's view), in archive order. */
export function tarNames(file: string): string[] {
  const r = spawnSync('tar', ['-tf', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -tf: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** Extract with GNU tar, xattrs included, into a new dir. */
export function extract(file: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('tar', ['--xattrs', '--xattrs-include=*', '-xpf', file, '-C', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -x: ${r.stderr}`);
}

/** An xattr's value as a string, or undefined. */
export function getfattr(file: string, name: string): string | undefined {
  try {
    return getAttributeSync(file, name).toString();
  } catch {
    return undefined;
  }
}
