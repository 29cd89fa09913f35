// pause and unpause: freeze every process of a running container in its cgroup, and thaw them.
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

