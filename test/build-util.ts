// What the build tests share: a store holding the peers' `tiny` image, and a context written from a table.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { baleOk, tmpDir } from './helpers.js';
import { PEERS } from './listing.js';

/** Run `fn` with a fresh store (`root`) that holds `tiny` (docker-tiny.tar) and a work dir; both removed after. */
export async function withTiny(fn: (root: string, dir: string) => Promise<void>, prefix = 'bale-build-'): Promise<void> {
  const t = tmpDir(prefix);
  try {
    const root = path.join(t.dir, 'store');
    await baleOk(root, ['load', '-q', '-i', path.join(PEERS, 'docker-tiny.tar')]);
    await fn(root, t.dir);
  } finally {
    t.cleanup();
  }
}

/** Write `files` (name → content, parents made) under `dir`; returns `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): string {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}
