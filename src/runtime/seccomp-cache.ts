// Compiled seccomp filters, kept in the store so a run does not pay libseccomp's compile (~20 ms):
// <store>/cache/seccomp/<sha256 of the rules text>.bpf, written and checked by bale-init
// (native/seccomp.c says what makes a file trusted). Here: which file a rules text uses, and gc's
// part: keep the filters of the rules some container was last started with, drop the rest.
import { createHash } from 'node:crypto';
import { mkdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Store } from '../store/store.js';
import { containerPaths, listContainers } from './container.js';

/** The name a container's rules file has in its directory. */
export const RULES_FILE = 'seccomp.rules';

function cacheDir(store: Store): string {
  return path.join(store.cacheDir, 'seccomp');
}

function key(rulesText: string): string {
  return createHash('sha256').update(rulesText).digest('hex');
}

/** The cache file for a rules text (its directory made if missing: bale-init writes the file). */
export function filterCacheFile(store: Store, rulesText: string): string {
  const dir = cacheDir(store);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return path.join(dir, `${key(rulesText)}.bpf`);
}

/** Remove cached filters no container's rules file asks for (and temp files of killed writes); how many went. */
export async function pruneFilterCache(store: Store): Promise<number> {
  const names = await fsp.readdir(cacheDir(store)).catch(() => [] as string[]);
  if (!names.length) return 0;
  const wanted = new Set<string>();
  for (const rec of await listContainers(store)) {
    const text = await fsp.readFile(path.join(containerPaths(store, rec.id).dir, RULES_FILE), 'utf8').catch(() => undefined);
    if (text !== undefined) wanted.add(`${key(text)}.bpf`);
  }
  let removed = 0;
  for (const n of names) {
    if (wanted.has(n)) continue;
    await fsp.rm(path.join(cacheDir(store), n), { force: true });
    removed++;
  }
  return removed;
}
