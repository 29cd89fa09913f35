// pause and unpause: freeze every process of a running container in its cgroup, and thaw them.
import type { Store } from '../store/store.js';
import { BaleError } from '../util/errors.js';
import { saveContainer, type ContainerRecord } from './container.js';
import { setFrozen } from './container-cgroup.js';
import { refresh } from './lifecycle.js';

export async function pauseContainer(store: Store, recIn: ContainerRecord): Promise<void> {
  const rec = await refresh(store, recIn);
  if (!rec || rec.state.status !== 'running') throw new BaleError(`Container ${recIn.id} is not running`);
  if (rec.state.paused) throw new BaleError(`Container ${rec.id} is already paused`);
  await setFrozen(rec.id, true);
  rec.state.paused = true;
  await saveContainer(store, rec);
}

export async function unpauseContainer(store: Store, recIn: ContainerRecord): Promise<void> {
  const rec = await refresh(store, recIn);
  if (!rec || rec.state.status !== 'running' || !rec.state.paused) throw new BaleError(`Container ${recIn.id} is not paused`);
  await setFrozen(rec.id, false);
  delete rec.state.paused;
  await saveContainer(store, rec);
}
