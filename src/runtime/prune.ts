// container prune: remove every container that is not running, and say how much space that gave back.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Store } from '../store/store.js';
import { containerPaths } from './container.js';
import { removeContainer, repairAll } from './lifecycle.js';

/** Bytes of the files below `dir` (not following symlinks); 0 when it is gone. */
async function du(dir: string): Promise<number> {
  let n = 0;
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += await du(p);
    else n += (await fsp.lstat(p).catch(() => ({ size: 0 }))).size;
  }
  return n;
}

export async function pruneContainers(store: Store): Promise<{ removed: string[]; bytes: number }> {
  const removed: string[] = [];
  let bytes = 0;
  for (const c of await repairAll(store)) {
    if (c.state.status === 'running') continue;
    // docker reclaims the container's read-write layer (its SizeRw), not its bookkeeping files
    const size = await du(containerPaths(store, c.id).upper);
    await removeContainer(store, c, false);
    removed.push(c.id);
    bytes += size;
  }
  return { removed, bytes };
}
