// The build cache: what a step made, found again by what it was made from.
//
// A step's key is the sha256 of (the identity of the state it started from, the instruction after
// expansion, and for COPY/ADD the digest of the files it takes). A state's identity is its layers'
// diff ids and its config without timestamps, so a step that made the same layer again gives the same
// keys below it, and one that made a different layer gives new ones. A hit hands back the whole
// resulting state (config with its history, layers), so the image a cached build makes is the very
// same image, id and all.
//
// Entries live in <store>/build-cache/<key hex>.json. They name blobs but do not keep them: gc may
// take a layer no image uses, and an entry whose blobs are gone is a miss. RUN --mount=type=cache
// directories live beside them in build-cache/mounts/ (see mounts.ts); `gc --build-cache` clears both.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { sha256 } from '../../oci/digest.js';
import type { ImageConfig } from '../../oci/types.js';
import type { Store } from '../../store/store.js';
import { readJson, writeFileAtomic } from '../../util/fsx.js';
import type { StoredLayer } from '../create.js';

/** An image under construction: its full config and its layers, bottom first. */
export interface BuildState {
  config: ImageConfig;
  layers: StoredLayer[];
}

function cacheDir(store: Store): string {
  return path.join(store.root, 'build-cache');
}

/** What a state is, timestamps aside. */
export function stateIdentity(s: BuildState): string {
  const { created: _c, history, ...rest } = s.config;
  void _c;
  const h = (history ?? []).map((e) => ({ created_by: e.created_by, empty_layer: e.empty_layer, comment: e.comment }));
  return sha256(JSON.stringify({ rest, history: h, layers: s.layers.map((l) => l.diffId) }));
}

export function stepKey(parent: BuildState, step: unknown): string {
  return sha256(JSON.stringify([stateIdentity(parent), step]));
}

export async function cacheGet(store: Store, key: string): Promise<BuildState | undefined> {
  const hit = await readJson<BuildState>(path.join(cacheDir(store), `${key.slice(7)}.json`)).catch(() => undefined);
  if (!hit) return undefined;
  for (const l of hit.layers) if (!(await store.hasBlob(l.descriptor.digest))) return undefined;
  return hit;
}

export async function cachePut(store: Store, key: string, s: BuildState): Promise<void> {
  await fsp.mkdir(cacheDir(store), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(cacheDir(store), `${key.slice(7)}.json`), JSON.stringify(s), store.tmpDir);
}

/** Drop the entries that name a blob the store no longer has (after gc). Returns how many went. */
export async function pruneCache(store: Store): Promise<number> {
  let n = 0;
  for (const name of await fsp.readdir(cacheDir(store)).catch(() => [] as string[])) {
    if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
    if (await cacheGet(store, `sha256:${name.slice(0, 64)}`)) continue;
    await fsp.rm(path.join(cacheDir(store), name), { force: true });
    n++;
  }
  return n;
}

/** Remove every cache entry and every cache mount (`gc --build-cache`). Call with the writer lock held. */
export async function clearBuildCache(store: Store): Promise<{ entries: number; mounts: number }> {
  const dir = cacheDir(store);
  let entries = 0;
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
    await fsp.rm(path.join(dir, name), { force: true });
    entries++;
  }
  const mountsDir = path.join(dir, 'mounts');
  let mounts = 0;
  for (const name of await fsp.readdir(mountsDir).catch(() => [] as string[])) {
    // renamed away first, so a half-removed directory is never taken for a cache
    const doomed = store.tmpPath('cache-mount-rm');
    await fsp.rename(path.join(mountsDir, name), doomed);
    await fsp.rm(doomed, { recursive: true, force: true });
    mounts++;
  }
  return { entries, mounts };
}
