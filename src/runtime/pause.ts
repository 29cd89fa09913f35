// pause and unpause: freeze every process of a running container in its cgroup, and thaw them;
// and holding a running container still while the host reads its files.
//
// The record is written only while the container is frozen: a frozen container cannot exit, so
// its monitoring bale cannot be writing the exit code at the same moment (written from a record
// read before the freeze or after the thaw, the exit could be overwritten with "running").
import type { Store } from '../store/store.js';
import { BaleError } from '../util/errors.js';
import { saveContainer, type ContainerRecord } from './container.js';
import { setFrozen } from './container-cgroup.js';
import { markThawed, refresh, reload } from './lifecycle.js';

export async function pauseContainer(store: Store, recIn: ContainerRecord): Promise<void> {
  const rec = await refresh(store, recIn);
  if (!rec || rec.state.status !== 'running') throw new BaleError(`Container ${recIn.id} is not running`);
  if (rec.state.paused) throw new BaleError(`Container ${rec.id} is already paused`);
  await setFrozen(rec.id, true);
  const now = await reload(store, rec.id);
  if (!now || now.state.status !== 'running') {
    await setFrozen(rec.id, false).catch(() => undefined);
    throw new BaleError(`Container ${recIn.id} is not running`);
  }
  now.state.paused = true;
  await saveContainer(store, now);
}

export async function unpauseContainer(store: Store, recIn: ContainerRecord): Promise<void> {
  const rec = await refresh(store, recIn);
  if (!rec || rec.state.status !== 'running' || !rec.state.paused) throw new BaleError(`Container ${recIn.id} is not paused`);
  await markThawed(store, rec.id);
  await setFrozen(rec.id, false);
}


/**
 * Run `read` (the host reading a container's files: export, commit, diff) with the container's
 * processes frozen while it runs. Those reads go by path, as root, on the host: a process inside
 * that swapped a directory for a symlink between two of them would send the next one to what the
 * symlink names on the host (its target resolves there), and the host's files would land in the
 * tar or the new image. Frozen, nothing inside moves until the reading is done (docker commit
 * pauses too). A paused container stays paused (and one paused meanwhile too); one that is not
 * running is read as it is; one that runs and cannot be frozen is refused.
 */
export async function holdStill<T>(store: Store, recIn: ContainerRecord, read: () => Promise<T>): Promise<T> {
  const rec = await refresh(store, recIn);
  if (!rec || rec.state.status !== 'running' || rec.state.paused) return read();
  try {
    await setFrozen(rec.id, true);
  } catch (e) {
    throw new BaleError(`container ${rec.name} is running and cannot be frozen while its files are read (${(e as Error).message}): stop it first`);
  }
  try {
    return await read();
  } finally {
    if (!(await reload(store, rec.id))?.state.paused) await setFrozen(rec.id, false).catch(() => undefined);
  }
}
