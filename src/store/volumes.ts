// Named volumes: directories in the store that outlive containers.
//
//   volumes/<name>/_data         what the container sees at its mount point
//   volumes/<name>/volume.json   the record (VolumeRecord)
//
// A volume is made in tmp/ and renamed into place, so volumes/<name> existing means it is whole.
// Which containers use a volume is read from their records (as layers.ts does for layers); a
// removal holds the containers lock (locks/containers, which container creation also holds while
// it creates its volumes and writes its record), so a volume is never removed under a container
// that is being created with it. `gc` never looks in volumes/.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BaleError } from '../util/errors.js';
import { readJson } from '../util/fsx.js';
import { withLock } from '../util/lock.js';
import type { Store } from './store.js';

export interface VolumeRecord {
  Name: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  /** Made for `-v /path` (no name): removed with its container by `rm -v` or `--rm`. */
  Anonymous: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validVolumeName(name: string): boolean {
  return NAME.test(name) && name.length <= 255;
}

export function volumesDir(store: Store): string {
  return path.join(store.root, 'volumes');
}

export function volumeDir(store: Store, name: string): string {
  if (!validVolumeName(name)) throw new BaleError(`"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  return path.join(volumesDir(store), name);
}

/** Where a volume's content lives (what gets mounted). */
export function volumeDataDir(store: Store, name: string): string {
  return path.join(volumeDir(store, name), '_data');
}

export async function getVolume(store: Store, name: string): Promise<VolumeRecord | undefined> {
  return readJson<VolumeRecord>(path.join(volumeDir(store, name), 'volume.json'));
}

export async function mustGetVolume(store: Store, name: string): Promise<VolumeRecord> {
  const v = await getVolume(store, name);
  if (!v) throw new BaleError(`get ${name}: no such volume`);
  return v;
}

/** Create a volume (a random 64-hex name when none is given); an existing one is returned as is. */
export async function createVolume(store: Store, name?: string, opts: { labels?: Record<string, string>; anonymous?: boolean } = {}): Promise<VolumeRecord> {
  const n = name ?? randomBytes(32).toString('hex');
  const dest = volumeDir(store, n);
  const old = await getVolume(store, n);
  if (old) return old;
  await fsp.mkdir(volumesDir(store), { recursive: true, mode: 0o700 });
  const rec: VolumeRecord = { Name: n, CreatedAt: new Date().toISOString(), Labels: opts.labels ?? {}, Anonymous: opts.anonymous ?? false };
  const tmp = store.tmpPath('volume');
  try {
    await fsp.mkdir(tmp, { mode: 0o701 });
    await fsp.mkdir(path.join(tmp, '_data'), { mode: 0o755 });
    await fsp.writeFile(path.join(tmp, 'volume.json'), JSON.stringify(rec, null, 2) + '\n');
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    const now = code === 'EEXIST' || code === 'ENOTEMPTY' ? await getVolume(store, n) : undefined;
    if (now) return now; // made by another bale at the same moment
    throw e;
  }
  return rec;
}

export async function listVolumes(store: Store): Promise<VolumeRecord[]> {
  const out: VolumeRecord[] = [];
  for (const n of await fsp.readdir(volumesDir(store)).catch(() => [] as string[])) {
    if (!validVolumeName(n)) continue;
    const v = await getVolume(store, n);
    if (v) out.push(v);
  }
  return out.sort((a, b) => a.Name.localeCompare(b.Name));
}

/** What bale needs of a container record to know its volumes (see runtime/container.ts). */
interface ContainerVolumeRef {
  id: string;
  mounts?: { type: string; source: string }[];
}

/** Volume name → ids of the containers (any state) that use it. */
export async function volumeUsers(store: Store): Promise<Map<string, string[]>> {
  const used = new Map<string, string[]>();
  for (const id of await fsp.readdir(store.containerDir).catch(() => [] as string[])) {
    if (!/^[a-f0-9]{64}$/.test(id)) continue;
    const c = await readJson<ContainerVolumeRef>(path.join(store.containerDir, id, 'container.json')).catch(() => undefined);
    for (const m of c?.mounts ?? []) {
      if (m.type !== 'volume') continue;
      used.set(m.source, [...(used.get(m.source) ?? []), id]);
    }
  }
  return used;
}

/** Run fn holding the lock container creation holds: no container gains a volume meanwhile. */
export function withContainersLock<T>(store: Store, fn: () => Promise<T>): Promise<T> {
  return withLock(path.join(store.lockDir, 'containers'), 'exclusive', fn);
}

/** Delete a volume's directory (the caller holds the containers lock and checked it is unused). */
async function deleteVolume(store: Store, name: string): Promise<number> {
  const tmp = store.tmpPath('rm-volume');
  await fsp.rename(volumeDir(store, name), tmp);
  const size = await treeSize(path.join(tmp, '_data'));
  await fsp.rm(tmp, { recursive: true, force: true });
  return size;
}

/** Remove a volume no container uses. */
export async function removeVolume(store: Store, name: string): Promise<void> {
  await withContainersLock(store, async () => {
    await mustGetVolume(store, name);
    const users = (await volumeUsers(store)).get(name);
    if (users) throw new BaleError(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    await deleteVolume(store, name);
  });
}

/** Remove the given volumes if unused and anonymous (a container's `rm -v`); the caller holds the containers lock. */
export async function removeAnonymousVolumes(store: Store, names: string[]): Promise<void> {
  const users = await volumeUsers(store);
  for (const n of names) {
    const v = await getVolume(store, n);
    if (v?.Anonymous && !users.has(n)) await deleteVolume(store, n);
  }
}

/** Remove unused volumes (anonymous ones only unless `all`): names removed, bytes freed. */
export async function pruneVolumes(store: Store, all: boolean): Promise<{ names: string[]; bytes: number }> {
  return withContainersLock(store, async () => {
    const users = await volumeUsers(store);
    const names: string[] = [];
    let bytes = 0;
    for (const v of await listVolumes(store)) {
      if (users.has(v.Name) || (!all && !v.Anonymous)) continue;
      bytes += await deleteVolume(store, v.Name);
      names.push(v.Name);
    }
    return { names, bytes };
  });
}

async function treeSize(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += await treeSize(p);
    else if (e.isFile()) n += (await fsp.lstat(p)).size;
  }
  return n;
}
