// The container record and where a container's parts live in the store.
//
//   containers/<id>/container.json   this record (written atomically)
//   containers/<id>/init/            the init layer: /etc/hostname, /etc/hosts, /etc/resolv.conf,
//                                    /etc/mtab -> /proc/mounts, mount points (/proc, /sys, /dev)
//   containers/<id>/upper/           the read-write layer (overlay upperdir)
//   containers/<id>/work/            overlay workdir
//   containers/<id>/rootfs/          where the merged view is mounted while it runs
//   containers/<id>/log              the container's output, for `bale logs`
//   containers/<id>/run.lock         held by the bale running it, from making its cgroup to removing it
//   containers/<id>/mounts           its mounts as bale-init reads them (written at each start)
//   containers/<id>/pasta.pid        pasta's pid while it connects a rootless container (-p)
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import type { Store } from '../store/store.js';
import { imageChainIds, layerDiffDir, layerShortPath } from '../store/layers.js';
import { readJson, writeFileAtomic } from '../util/fsx.js';
import { BaleError } from '../util/errors.js';
import { isAlive } from '../util/proc.js';
import { inUserNamespace } from '../util/userns.js';
import { kernelAtLeast } from '../util/kernel.js';
import type { SecurityRecord } from './security.js';
import type { Resources } from './cgroup.js';
import type { MountSpec } from './mounts.js';
import type { PortSpec } from './ports.js';

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerRecord {
  /** 64 hex digits. */
  id: string;
  name: string;
  /** The image's config digest. */
  image: Digest;
  /** The image as the user named it. */
  imageRef: string;
  /**
   * Chain ids of the image's layers, bottom first: the container keeps them (and gc keeps their
   * unpacked dirs) even if the image is removed.
   */
  layers?: Digest[];
  created: string;
  /** What will run, after docker's override rules were applied. */
  process: {
    args: string[];
    env: string[];
    cwd: string;
    user: string;
    tty: boolean;
  };
  hostname: string;
  /** none: only lo; host: the host's; private: its own with a way out to the host (-p, network.ts). */
  net: NetMode;
  /** -p: ports published on the host (net private). */
  ports?: PortSpec[];
  autoRemove: boolean;
  /** Capabilities, seccomp, no_new_privs, privileged (absent in records of older bales: docker's defaults). */
  security?: SecurityRecord;
  /** Limits of its cgroup (--memory, --memory-swap, --cpus, --pids-limit). */
  resources?: Resources;
  /** -v, --mount, --tmpfs (volumes by name; anonymous ones named at create). */
  mounts?: MountSpec[];
  /** --read-only: the root file system is mounted read-only. */
  readOnly?: boolean;
  state: {
    status: ContainerStatus;
    /** Host pid of the container's pid 1 (while running). */
    pid?: number;
    /** That process's start time (clock ticks after boot, /proc/PID/stat field 22): pids get reused. */
    pidStart?: number;
    /** Host pid of the bale process waiting for it (records the exit code), and its start time. */
    monitorPid?: number;
    monitorStart?: number;
    exitCode?: number;
    /** Frozen by `bale pause` (while running). */
    paused?: boolean;
    /** The kernel's OOM killer killed a process of it during its last run. */
    oomKilled?: boolean;
    startedAt?: string;
    finishedAt?: string;
    /** While running with -p: the ports as bound (chosen host ports filled in), its address (root). */
    ports?: PortSpec[];
    address?: string;
    /** pasta's pid and start time (rootless -p), stopped by whichever bale sees the container exit. */
    netHelper?: { pid: number; start?: number };
  };
}

export type NetMode = 'none' | 'host' | 'private';

export function containerDir(store: Store, id: string): string {
  return path.join(store.containerDir, id);
}

export function containerPaths(store: Store, id: string) {
  const dir = containerDir(store, id);
  return {
    dir,
    record: path.join(dir, 'container.json'),
    init: path.join(dir, 'init'),
    upper: path.join(dir, 'upper'),
    work: path.join(dir, 'work'),
    rootfs: path.join(dir, 'rootfs'),
    log: path.join(dir, 'log'),
    mounts: path.join(dir, 'mounts'),
  };
}

/**
 * Chain ids of the layers containers use: the ones their records name, and their images' (for gc:
 * a container keeps its layers after its image is removed).
 */
export async function containerLayers(store: Store): Promise<Digest[]> {
  const { records, damaged } = await scanContainers(store);
  if (damaged.length) {
    const id = damaged[0]!.slice(0, 12);
    throw new BaleError(`container ${id} has a damaged record, so the layers it uses are unknown: remove it first (bale rm ${id})`);
  }
  const out: Digest[] = [];
  for (const c of records) {
    out.push(...(c.layers ?? []));
    const img = await store.image(c.image).catch(() => undefined);
    if (img) out.push(...imageChainIds(img));
  }
  return out;
}

/** Every container whose record reads, newest first (a damaged record is left out: see damagedContainers). */
export async function listContainers(store: Store): Promise<ContainerRecord[]> {
  return (await scanContainers(store)).records;
}

/**
 * Ids of containers whose record does not parse (cut short by a crash, or edited): no verb can
 * know their image, mounts or process, so they are listed apart for `ps` to warn of, `rm` to
 * remove by id and gc to stop at (their layers are unknown), instead of failing every verb.
 */
export async function damagedContainers(store: Store): Promise<string[]> {
  return (await scanContainers(store)).damaged;
}

async function scanContainers(store: Store): Promise<{ records: ContainerRecord[]; damaged: string[] }> {
  const records: ContainerRecord[] = [];
  const damaged: string[] = [];
  for (const id of await fsp.readdir(store.containerDir)) {
    if (!/^[a-f0-9]{64}$/.test(id)) continue;
    try {
      const rec = await readJson<ContainerRecord>(containerPaths(store, id).record);
      if (rec) records.push(rec);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
      damaged.push(id);
    }
  }
  return { records: records.sort((a, b) => b.created.localeCompare(a.created)), damaged };
}

/** Find a container by name, full id or unique id prefix. */
export async function findContainer(store: Store, nameOrId: string): Promise<ContainerRecord> {
  const all = await listContainers(store);
  const byName = all.find((c) => c.name === nameOrId || c.name === nameOrId.replace(/^\//, ''));
  if (byName) return byName;
  const byId = all.filter((c) => c.id.startsWith(nameOrId));
  if (byId.length === 1 && /^[a-f0-9]+$/.test(nameOrId)) return byId[0]!;
  if (byId.length > 1) throw new BaleError(`${nameOrId}: ambiguous container id prefix (${byId.length} containers)`);
  throw new BaleError(`No such container: ${nameOrId}`);
}

/**
 * Write a container's record (renamed into place, never half). No fsync: a record is written as a
 * container starts and exits, twice per run, and what a crash could cost is a state the next
 * bale's repair (refresh) sets right anyway, as it does for the pid a crash kills. The record was
 * made without one too (createContainer).
 */
export async function saveContainer(store: Store, rec: ContainerRecord): Promise<void> {
  const p = containerPaths(store, rec.id);
  await writeFileAtomic(p.record, JSON.stringify(rec, null, 2) + '\n', p.dir, false);
}

/**
 * The container's read-only layers as overlay wants them, top first: its init layer, then the
 * image's unpacked layers from the top down. (Absolute paths; the image layers must be unpacked.)
 */
export function lowerDirs(store: Store, rec: ContainerRecord): string[] {
  const chains = rec.layers ?? [];
  return [containerPaths(store, rec.id).init, ...[...chains].reverse().map((c) => layerDiffDir(store, c))];
}

/**
 * The overlay mount options, to be used from inside store.layerDir: image layers go by their short
 * links (`l/<20 hex>`), so even a hundred layers fit in the kernel's one-page limit on options.
 */
export function overlayOptions(store: Store, rec: ContainerRecord): string {
  const p = containerPaths(store, rec.id);
  const lower = [p.init, ...[...(rec.layers ?? [])].reverse().map((c) => layerShortPath(c))];
  for (const d of [p.init, p.upper, p.work]) {
    if (/[:,\\]/.test(d)) throw new BaleError(`store path ${JSON.stringify(store.root)}: overlay mounts cannot name paths with ':', ',' or '\\' in them`);
  }
  // In a user namespace overlay keeps whiteouts and opaque marks in user.overlay.* (kernel 5.11+).
  // A --rm container's upper dir is thrown away after its one run: `volatile` (5.10+; fuse-overlayfs
  // takes it too) spares the sync of the upper dir's whole file system that unmounting an overlay
  // does otherwise, which the run waits for as its container exits (up to 0.5 s on a busy disk).
  const opts = `lowerdir=${lower.join(':')},upperdir=${p.upper},workdir=${p.work}${inUserNamespace() ? ',userxattr' : ''}${rec.autoRemove && kernelAtLeast(5, 10) ? ',volatile' : ''}`;
  if (opts.length >= 4096) throw new BaleError(`container ${rec.id.slice(0, 12)}: too many layers for one overlay mount (${lower.length})`);
  return opts;
}

/** The state of a running container whose pid 1 is gone, exit code as recorded (if the exit was). */
export function exitedState(state: ContainerRecord['state']): ContainerRecord['state'] {
  return { status: 'exited', exitCode: state.exitCode, startedAt: state.startedAt, finishedAt: new Date().toISOString() };
}

/**
 * The record as it is now, for verbs that only read (inspect): "running" with its pid 1 gone shows
 * as exited, though only a verb that repairs (ps, or any container verb) writes it so. While the
 * bale that ran it lives, it is about to record the exit code, so the record stays as it is until
 * then: "exited" is never shown with a code nobody read.
 */
export function observedRecord(rec: ContainerRecord): ContainerRecord {
  if (rec.state.status !== 'running' || isAlive(rec.state.pid, rec.state.pidStart)) return rec;
  if (isAlive(rec.state.monitorPid, rec.state.monitorStart)) return rec;
  return { ...rec, state: exitedState(rec.state) };
}
