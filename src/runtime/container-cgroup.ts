// A container's cgroup over its life: made when it starts, removed when it stops (or by the next
// repair, if the bale that ran it died), paused and resumed on request.
//
// The bale that starts a container holds `containers/<id>/run.lock` from making the cgroup until it
// has removed it, so a repair running meanwhile (any other bale command) never takes away the
// cgroup of a container that is starting or stopping; the lock dies with that bale.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { acquireLock, tryLock } from '../util/lock.js';
import { BaleError } from '../util/errors.js';
import type { Store } from '../store/store.js';
import {
  cgroupDirs,
  cgroupExists,
  cgroupPids,
  cgroupStats,
  createCgroup,
  detectCgroups,
  noCgroupsReason,
  freezeCgroup,
  listCgroups,
  oomKilled,
  removeCgroup,
  type CgroupHost,
  type CgroupStats,
} from './cgroup.js';
import { containerPaths, type ContainerRecord } from './container.js';

/** A cgroup of no container of this store is removed only once empty and this old (it may be another store's, starting). */
const FOREIGN_GRACE_MS = 60_000;

export interface RunCgroup {
  /** The `cgroup.procs` files the container's init joins (none when the host has no cgroups). */
  procs: string[];
  /** Kill what is left, remove the cgroup, let go of the run lock; true if the OOM killer struck. Once only: later calls get the first's result. */
  finish(): Promise<boolean>;
}

function runLock(store: Store, id: string): string {
  return path.join(containerPaths(store, id).dir, 'run.lock');
}

/** Make the container's cgroup with its limits, for one run. */
export async function enterCgroup(store: Store, rec: ContainerRecord): Promise<RunCgroup> {
  // Held for the whole run: if another bale has it for long, it is running this container.
  let lock = await tryLock(runLock(store, rec.id), 'exclusive');
  for (let i = 0; !lock && i < 20; i++) {
    await new Promise((r) => setTimeout(r, 50));
    lock = await tryLock(runLock(store, rec.id), 'exclusive');
  }
  if (!lock) throw new BaleError(`container ${rec.name} is already running (or being started or removed by another bale)`);
  try {
    const host = await detectCgroups();
    if (!host) {
      if (rec.resources) throw new BaleError(`resource limits need cgroups: ${noCgroupsReason()}`);
      return { procs: [], finish: async () => (await lock.release(), false) };
    }
    await removeCgroup(host, rec.id); // left by an earlier run whose bale died
    const procs = await createCgroup(host, rec.id, rec.resources ?? {}, rec.security?.privileged ?? false);
    let done: Promise<boolean> | undefined;
    const finish = async () => {
      try {
        const oom = await oomKilled(host, rec.id).catch(() => false);
        await removeCgroup(host, rec.id);
        return oom;
      } finally {
        await lock.release();
      }
    };
    return { procs, finish: () => (done ??= finish()) };
  } catch (e) {
    await lock.release();
    throw e;
  }
}

/**
 * Remove a container's cgroup for good (waits for a bale still stopping it). With none there is
 * nothing to wait for: a bale starting the container meanwhile removes what it makes itself.
 */
export async function dropCgroup(store: Store, id: string): Promise<void> {
  const host = await detectCgroups();
  if (!host || !cgroupExists(host, id)) return;
  const lock = await acquireLock(runLock(store, id), 'exclusive').catch(() => undefined);
  try {
    await removeCgroup(host, id);
  } finally {
    await lock?.release();
  }
}

/**
 * Remove cgroups no running container needs: those of this store's containers that are not
 * running (unless a bale is starting or stopping them), and empty, old ones of containers that are gone.
 */
export async function sweepCgroups(store: Store, recs: ContainerRecord[]): Promise<void> {
  const host = await detectCgroups();
  if (!host) return;
  const byId = new Map(recs.map((r) => [r.id, r]));
  for (const { id, ageMs } of await listCgroups(host)) {
    const rec = byId.get(id);
    if (rec?.state.status === 'running') continue;
    if (rec) {
      const lock = await tryLock(runLock(store, id), 'exclusive').catch(() => undefined);
      if (!lock) continue;
      try {
        await removeCgroup(host, id);
      } finally {
        await lock.release();
      }
    } else if (ageMs > FOREIGN_GRACE_MS && (await cgroupPids(host, id)).length === 0) {
      await removeCgroup(host, id).catch(() => undefined);
    }
  }
}

/** `--cgroup FILE` arguments for bale-init exec: a command run in a container joins its cgroups. */
export async function joinArgs(id: string): Promise<string[]> {
  const host = await detectCgroups();
  if (!host) return [];
  const procs = cgroupDirs(host, id).map((d) => path.join(d, 'cgroup.procs'));
  const present = await Promise.all(procs.map((f) => fsp.access(f).then(() => true, () => false)));
  return procs.filter((_, i) => present[i]).flatMap((f) => ['--cgroup', f]);
}

async function needHost(): Promise<CgroupHost> {
  const host = await detectCgroups();
  if (!host) throw new BaleError(`pausing needs cgroups: ${noCgroupsReason()}`);
  return host;
}

/** Freeze or thaw every process of a running container. */
export async function setFrozen(id: string, frozen: boolean): Promise<void> {
  await freezeCgroup(await needHost(), id, frozen);
}

/** CPU, memory and pids of a running container (undefined if the host has no cgroups). */
export async function containerStats(id: string): Promise<CgroupStats | undefined> {
  const host = await detectCgroups();
  return host && cgroupStats(host, id);
}
