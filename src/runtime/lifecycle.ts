// Containers from creation to removal, with no daemon: every bale process that touches containers
// first makes their recorded state honest (a dead or reused pid is shown exited).
//
// Running one: the C helper (native/bale-init.c) makes new mount/pid/uts/ipc/cgroup(/net)
// namespaces and forks the container's pid 1, which mounts the overlay, /proc, /dev and /sys,
// pivots into the root, drops privileges and execs the command, while the helper reports its host
// pid and exit status to bale and relays the container's own pty with -t. Every mount lives only in that private
// mount namespace, so the kernel tears all of them down when the container's last process exits:
// nothing is left mounted on the host even if bale itself is killed with -9.
import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { layerDiffDir, imageChainIds, unpackLayers } from '../store/layers.js';
import type { Store } from '../store/store.js';
import { exists, readJson } from '../util/fsx.js';
import { BaleError, UsageError } from '../util/errors.js';
import {
  containerPaths,
  damagedContainers,
  exitedState,
  listContainers,
  overlayOptions,
  saveContainer,
  type ContainerRecord,
  type NetMode,
} from './container.js';
import { connectNetwork, stopHelper, unpublishable, type Connected } from './network.js';
import type { PortSpec } from './ports.js';
import { generateName, validName } from './names.js';
import { isAlive, procInfo } from './proc.js';
import { processSpec, type Overrides } from './spec.js';
import { attach, flushed, type AttachIO } from './stdio.js';
import { securityArgs, securityRecord, type SecurityFlags } from './security.js';
import { noCgroupsReason, type Resources } from './cgroup.js';
import { inUserNamespace } from '../util/userns.js';
import { overlayDriverArgs, rootlessMissing } from './rootless.js';
import { dropCgroup, enterCgroup, joinArgs, setFrozen, sweepCgroups, type RunCgroup } from './container-cgroup.js';
import { anonymousVolumes, prepareMounts, withImageVolumes, writeMountsFile, type MountSpec } from './mounts.js';
import { readEnvFiles } from './env-file.js';
import { removeAnonymousVolumes, withContainersLock } from '../store/volumes.js';

export const HELPER = fileURLToPath(new URL('../../native/bale-init', import.meta.url));
const BALE_BIN = fileURLToPath(new URL('../../../bin/bale', import.meta.url));

/** Signals bale passes on to the container's process. */
export const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** Containers need root: the host's, or a user namespace's (a normal user's bale runs in one, see rootless.ts). */
export function requireRoot(verb: string): void {
  if (process.getuid?.() !== 0) {
    throw new BaleError(`bale ${verb}: running containers needs root or a user namespace: ${rootlessMissing() ?? 'bale did not enter one'}`);
  }
}

function short(rec: ContainerRecord): string {
  return rec.id.slice(0, 12);
}

// ---- create ------------------------------------------------------------------------------------

export interface CreateOptions extends Omit<Overrides, 'hostname'> {
  imageRef: string;
  name?: string;
  hostname?: string;
  /** none or host as given with --net; unset: none, or private with ports. */
  net?: 'none' | 'host';
  /** -p: ports to publish (not with --net none or host). */
  ports?: PortSpec[];
  autoRemove: boolean;
  security: SecurityFlags;
  resources?: Resources;
  /** --env-file: read before -e applies (so -e overrides them). */
  envFiles?: string[];
  mounts?: MountSpec[];
  readOnly?: boolean;
}

function hostsFile(rec: ContainerRecord): string {
  if (rec.net === 'host') {
    try {
      return readFileSync('/etc/hosts', 'utf8');
    } catch {
      /* fall through */
    }
  }
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    '',
  ].join('\n');
}

function resolvConf(rec: ContainerRecord): string {
  // Rootless -p goes out through pasta, which reaches the host's name servers; root's veth has no NAT.
  if (rec.net === 'host' || (rec.net === 'private' && inUserNamespace())) {
    try {
      return readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      /* fall through */
    }
  }
  return rec.net === 'private' ? '# no route beyond the host (-p as root: a veth without NAT)\n' : '# no network (--net none)\n';
}

/** Write the init layer: what every container gets on top of its image. */
async function writeInitLayer(dir: string, rec: ContainerRecord): Promise<void> {
  for (const d of ['etc', 'proc', 'sys', 'dev']) await fsp.mkdir(path.join(dir, d), { recursive: true, mode: 0o755 });
  await fsp.writeFile(path.join(dir, 'etc/hostname'), rec.hostname + '\n', { mode: 0o644 });
  await fsp.writeFile(path.join(dir, 'etc/hosts'), hostsFile(rec), { mode: 0o644 });
  await fsp.writeFile(path.join(dir, 'etc/resolv.conf'), resolvConf(rec), { mode: 0o644 });
  await fsp.symlink('/proc/mounts', path.join(dir, 'etc/mtab'));
}

/** The network mode of a new container; docker's refusal of -p with --net none or host. */
function netMode(o: CreateOptions): NetMode {
  if (!o.ports?.length) return o.net ?? 'none';
  if (o.net) throw new UsageError('conflicting options: port publishing and the container type network mode');
  const refused = unpublishable(o.ports);
  if (refused) throw new UsageError(refused);
  const seen = new Set<string>();
  for (const p of o.ports) {
    const key = `${p.hostIp || '0.0.0.0'}:${p.hostPort}/${p.proto}`;
    if (p.hostPort && seen.has(key)) throw new UsageError(`-p: host port ${key} is published twice`);
    seen.add(key);
  }
  return 'private';
}

export async function createContainer(store: Store, o: CreateOptions): Promise<ContainerRecord> {
  const net = netMode(o);
  const image = await store.resolve(o.imageRef);
  const config = await store.config(image);
  if (o.name !== undefined && !validName(o.name)) {
    throw new BaleError(`Invalid container name (${o.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  const id = randomBytes(32).toString('hex');
  // With the host's network the host's name resolves there; docker keeps it too.
  const hostname = o.hostname || (net === 'host' ? os.hostname() : id.slice(0, 12));
  const env = [...(await readEnvFiles(o.envFiles ?? [])), ...o.env];
  const spec = processSpec(config.config, { ...o, env, hostname });
  const security = securityRecord(o.security);
  if (o.resources && Object.values(o.resources).some((v) => v !== undefined) && inUserNamespace()) {
    throw new BaleError(`--memory, --memory-swap, --cpus and --pids-limit need cgroups: ${noCgroupsReason()}`);
  }
  // Held until the record is in place, so gc never collects layers between unpack and record.
  const writer = await store.writerLock();
  try {
    await unpackLayers(store, image);
    return await withContainersLock(store, async () => {
      const all = await listContainers(store);
      const taken = new Set(all.map((c) => c.name));
      if (o.name !== undefined && taken.has(o.name)) {
        const other = all.find((c) => c.name === o.name)!;
        throw new BaleError(`Conflict. The container name "/${o.name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`);
      }
      // Volumes are made under the containers lock, so `volume rm` never sees them unused meanwhile.
      const mounts = await prepareMounts(store, withImageVolumes(o.mounts ?? [], config.config?.Volumes));
      const rec: ContainerRecord = {
        id,
        name: o.name ?? generateName(taken),
        image: image.id,
        imageRef: o.imageRef,
        layers: imageChainIds(image),
        created: new Date().toISOString(),
        process: { ...spec, tty: o.tty },
        hostname,
        net,
        ...(o.ports?.length ? { ports: o.ports } : {}),
        autoRemove: o.autoRemove,
        security,
        ...(o.resources ? { resources: o.resources } : {}),
        ...(mounts.length ? { mounts } : {}),
        ...(o.readOnly ? { readOnly: true } : {}),
        state: { status: 'created' },
      };
      // Built in tmp/ and renamed into place: a container dir is either whole or absent.
      const tmp = store.tmpPath('container');
      try {
        await fsp.mkdir(tmp, { mode: 0o711 });
        for (const d of ['init', 'upper', 'work', 'rootfs']) await fsp.mkdir(path.join(tmp, d), { mode: 0o755 });
        await writeInitLayer(path.join(tmp, 'init'), rec);
        await fsp.writeFile(path.join(tmp, 'container.json'), JSON.stringify(rec, null, 2) + '\n');
        await fsp.rename(tmp, containerPaths(store, id).dir);
      } catch (e) {
        await fsp.rm(tmp, { recursive: true, force: true });
        await removeAnonymousVolumes(store, await anonymousVolumes(store, mounts));
        throw e;
      }
      return rec;
    });
  } finally {
    await writer.release();
  }
}

// ---- honest state ----------------------------------------------------------------------------

export async function reload(store: Store, id: string): Promise<ContainerRecord | undefined> {
  return readJson<ContainerRecord>(containerPaths(store, id).record);
}

/**
 * Make a record's state true: a running container whose pid is gone (or now someone else's) is
 * exited. If the bale that ran it is also gone (killed), nobody recorded the exit: do it now, and
 * remove the container if it was --rm.
 */
export async function refresh(store: Store, rec: ContainerRecord): Promise<ContainerRecord | undefined> {
  if (rec.state.status !== 'running') return rec;
  if (isAlive(rec.state.pid, rec.state.pidStart)) return rec;
  if (isAlive(rec.state.monitorPid, rec.state.monitorStart)) {
    // Its bale is alive and about to record the exit code (after it has read the OOM count and
    // removed the cgroup, which a loaded host can make take seconds): wait for it, up to 30 s.
    for (let i = 0; i < 300; i++) {
      await sleep(100);
      const now = await reload(store, rec.id);
      if (!now || now.state.status !== 'running') return now;
      if (!isAlive(rec.state.monitorPid, rec.state.monitorStart)) break;
    }
  }
  const now = await reload(store, rec.id);
  if (!now || now.state.status !== 'running') return now;
  stopHelper(now.state.netHelper);
  now.state = exitedState(now.state);
  await saveContainer(store, now);
  if (now.autoRemove) {
    await removeDir(store, now);
    return undefined;
  }
  return now;
}

/** Unmount whatever is still mounted below the store's containers dir (left by an older or crashed bale). */
async function unmountStale(store: Store, under = store.containerDir): Promise<void> {
  let info: string;
  try {
    info = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const prefix = path.resolve(under) + '/';
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await run('umount', ['-l', p]).catch(() => undefined);
}

/** The repair every runtime verb does first. */
export async function repairAll(store: Store): Promise<ContainerRecord[]> {
  await unmountStale(store);
  const out: ContainerRecord[] = [];
  for (const rec of await listContainers(store)) {
    const r = await refresh(store, rec);
    if (r) out.push(r);
  }
  await sweepCgroups(store, out);
  return out;
}

// ---- start -----------------------------------------------------------------------------------

export interface StartIO extends AttachIO {
  /** Called once the container's process runs (its host pid known and recorded). */
  onStarted?: (rec: ContainerRecord) => void;
}

function envObject(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

async function ensureLayers(store: Store, rec: ContainerRecord): Promise<void> {
  for (const c of rec.layers ?? []) {
    if (await exists(layerDiffDir(store, c))) continue;
    const image = await store.image(rec.image);
    if (!image) throw new BaleError(`container ${rec.name}: layer ${c} is gone and so is its image ${rec.image}`);
    await unpackLayers(store, image);
    return;
  }
}

/** Run a container attached to the given stdio; resolves with its exit code (128+N if killed by signal N). */
export async function startContainer(store: Store, recIn: ContainerRecord, io: StartIO): Promise<number> {
  requireRoot('start');
  const cur = await refresh(store, recIn);
  if (!cur) throw new BaleError(`No such container: ${recIn.name}`);
  if (cur.state.status === 'running') throw new BaleError(`container ${cur.name} is already running`);
  await ensureLayers(store, cur);
  // Its cgroup lives exactly as long as this run: made before the helper, removed on every way out.
  const cg = await enterCgroup(store, cur);
  try {
    return await launch(store, cur, io, cg);
  } finally {
    await cg.finish();
  }
}

async function launch(store: Store, rec: ContainerRecord, io: StartIO, cg: RunCgroup): Promise<number> {
  const p = containerPaths(store, rec.id);
  // overlay wants an empty workdir; a previous run may have left its 'work' subdir behind (a new
  // container's is empty: looked at, not remade, which would cost two journalled writes).
  const left = await fsp.readdir(p.work).catch(() => undefined);
  if (left?.length !== 0) {
    await fsp.rm(p.work, { recursive: true, force: true });
    await fsp.mkdir(p.work, { mode: 0o755 });
  }
  await fsp.mkdir(p.rootfs, { recursive: true, mode: 0o755 });
  const mountsFile = await writeMountsFile(store, rec.mounts, p.mounts);

  const ns = ['mnt', 'uts', 'ipc', 'pid', 'cgroup', ...(rec.net !== 'host' ? ['net'] : [])];
  const args = [
    'run',
    '--ns', ns.join(','),
    '--layers', store.layerDir,
    '--overlay', overlayOptions(store, rec),
    ...overlayDriverArgs(),
    '--rootfs', p.rootfs,
    '--hostname', rec.hostname,
    '--cwd', rec.process.cwd,
    '--user', rec.process.user,
    ...(rec.net === 'none' ? ['--net-none'] : []),
    ...(rec.net === 'private' ? ['--net-wait'] : []),
    ...(io.tty ? ['--tty'] : []),
    ...(io.tty && io.stdin === 'inherit' ? ['--stdin'] : []),
    ...(await securityArgs(store, p.dir, rec.security)),
    ...cg.procs.flatMap((f) => ['--cgroup', f]),
    ...(mountsFile ? ['--mounts', mountsFile] : []),
    ...(rec.readOnly ? ['--read-only'] : []),
    '--pid-fd', '3',
    '--', ...rec.process.args,
  ];
  const tty = attach(io, ['pipe']);
  const child = spawn(HELPER, args, {
    env: envObject(rec.process.env),
    stdio: tty.stdio,
    // Without -t the container gets its own session, so a ^C reaches it once (forwarded by bale)
    // rather than twice. With -t the helper stays in our process group to read the terminal.
    detached: !io.tty,
  });
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(new BaleError(`cannot run ${HELPER}: ${e.message} (was bale built with npm run build?)`)));
  });
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
  });
  try {
    await spawned;
  } catch (e) {
    tty.release();
    throw e;
  }
  tty.connect(child);

  let pid: number | undefined;
  const pidLine = new Promise<number | undefined>((resolve) => {
    let buf = '';
    const fd3 = child.stdio[3] as NodeJS.ReadableStream;
    fd3.on('data', (b: Buffer) => {
      buf += b.toString();
      const m = /^(\d+)\n/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    fd3.on('end', () => resolve(undefined));
    fd3.on('error', () => resolve(undefined));
  });
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const sig of FORWARDED) {
    // With the caller's terminal, ^C, ^\ and resizes reach the container from the terminal itself:
    // bale only has to outlive them.
    const fromTty = io.tty && (sig === 'SIGINT' || sig === 'SIGQUIT' || sig === 'SIGWINCH');
    const h = () => {
      if (fromTty) return;
      const target = pid ?? child.pid;
      if (target) {
        try {
          process.kill(target, sig);
        } catch {
          /* already gone */
        }
      }
    };
    handlers.set(sig, h);
    process.on(sig, h);
  }
  let net: Connected | undefined;
  try {
    pid = await pidLine;
    if (pid !== undefined && rec.net === 'private') net = await connectOrStop(rec, pid, p.dir, child, exited);
    if (pid !== undefined) {
      const me = procInfo(process.pid);
      rec.state = {
        status: 'running',
        pid,
        pidStart: procInfo(pid)?.start,
        monitorPid: process.pid,
        monitorStart: me?.start,
        startedAt: new Date().toISOString(),
        ...(net ? { ports: net.bound, ...(net.address ? { address: net.address } : {}), ...(net.helper ? { netHelper: net.helper } : {}) } : {}),
      };
      await saveContainer(store, rec);
      io.onStarted?.(rec);
    }
    const code = await exited;
    await net?.close();
    net = undefined;
    await flushed(child);
    const oomKilled = await cg.finish();
    const now = (await reload(store, rec.id)) ?? rec;
    now.state = { status: 'exited', exitCode: code, oomKilled, startedAt: rec.state.startedAt, finishedAt: new Date().toISOString() };
    await saveContainer(store, now);
    return code;
  } finally {
    await net?.close();
    tty.release();
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

/**
 * Connect a private network namespace while the container's pid 1 waits (--net-wait), then let it
 * go on; when that fails, the closed descriptor ends it (bale-init exits 125) and the error stands.
 */
async function connectOrStop(rec: ContainerRecord, pid: number, runDir: string, child: ReturnType<typeof spawn>, exited: Promise<number>): Promise<Connected> {
  const fd3 = child.stdio[3] as unknown as Duplex;
  try {
    const net = await connectNetwork(rec.id, pid, rec.ports ?? [], runDir);
    fd3.write('\n');
    return net;
  } catch (e) {
    fd3.destroy();
    await exited;
    throw e;
  }
}

/**
 * Start a container in the background: a detached bale (`start --monitor`) runs it with its output
 * going to the container's log and records the exit code. Resolves once the container runs.
 */
export async function startDetached(store: Store, rec: ContainerRecord): Promise<void> {
  requireRoot('start');
  const p = containerPaths(store, rec.id);
  const log = openSync(p.log, 'a', 0o640);
  let child;
  try {
    child = spawn(process.execPath, [BALE_BIN, 'start', '--monitor', rec.id], {
      env: { ...process.env, BALE_ROOT: store.root },
      stdio: ['ignore', log, log, 'pipe'],
      detached: true,
    });
  } finally {
    closeSync(log);
  }
  const ok = await new Promise<boolean>((resolve) => {
    let buf = '';
    const fd3 = child.stdio[3] as NodeJS.ReadableStream;
    fd3.on('data', (b: Buffer) => {
      buf += b.toString();
      if (buf.includes('started\n')) resolve(true);
    });
    fd3.on('end', () => resolve(buf.includes('started\n')));
    fd3.on('error', () => resolve(false));
    child.once('exit', () => setTimeout(() => resolve(buf.includes('started\n')), 50));
  });
  (child.stdio[3] as unknown as { destroy(): void }).destroy();
  child.unref();
  if (!ok) {
    const text = await fsp.readFile(p.log, 'utf8').catch(() => '');
    const last = text.trim().split('\n').filter((l) => l.startsWith('bale: ')).pop();
    throw new BaleError(last ? last.replace(/^bale: /, '') : `container ${rec.name} failed to start (see 'bale logs ${rec.name}')`);
  }
}

// ---- exec ------------------------------------------------------------------------------------

export interface ExecOptions {
  args: string[];
  env: string[];
  cwd: string;
  user: string;
  stdin: 'inherit' | 'ignore';
  tty: boolean;
  detach: boolean;
}

export async function execInContainer(store: Store, recIn: ContainerRecord, o: ExecOptions): Promise<number> {
  requireRoot('exec');
  const rec = await refresh(store, recIn);
  if (!rec || rec.state.status !== 'running' || !rec.state.pid) {
    throw new BaleError(`container ${recIn.id} is not running`);
  }
  if (rec.state.paused) throw new BaleError(`Container ${rec.id} is paused, unpause the container before exec`);
  const args = [
    'exec', '--pid', String(rec.state.pid), '--cwd', o.cwd, '--user', o.user,
    ...(o.tty ? ['--tty'] : []),
    ...(o.tty && o.stdin === 'inherit' ? ['--stdin'] : []),
    ...(await securityArgs(store, containerPaths(store, rec.id).dir, rec.security)),
    ...(await joinArgs(rec.id)),
    '--', ...o.args,
  ];
  if (o.detach) {
    spawn(HELPER, args, { env: envObject(o.env), stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
    return 0;
  }
  const tty = attach({ stdin: o.stdin, stdout: 'inherit', stderr: 'inherit', tty: o.tty });
  const child = spawn(HELPER, args, { env: envObject(o.env), stdio: tty.stdio, detached: !o.tty });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (e) => reject(new BaleError(`cannot run ${HELPER}: ${e.message} (was bale built with npm run build?)`)));
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
  });
  tty.connect(child);
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const sig of FORWARDED) {
    const fromTty = o.tty && (sig === 'SIGINT' || sig === 'SIGQUIT' || sig === 'SIGWINCH');
    const h = () => {
      if (fromTty) return;
      try {
        if (child.pid) process.kill(child.pid, sig);
      } catch {
        /* gone */
      }
    };
    handlers.set(sig, h);
    process.on(sig, h);
  }
  try {
    const code = await exited;
    await flushed(child);
    return code;
  } finally {
    tty.release();
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

// ---- signals, stop, remove ---------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function signalContainer(store: Store, recIn: ContainerRecord, signal: number): Promise<void> {
  const rec = await refresh(store, recIn);
  if (!rec || rec.state.status !== 'running' || !isAlive(rec.state.pid, rec.state.pidStart)) {
    throw new BaleError(`cannot kill container ${recIn.name}: container ${recIn.id} is not running`);
  }
  process.kill(rec.state.pid!, signal);
  await thawAfterSignal(store, rec);
}

/** Record a frozen container as not paused, just before it is thawed (see pause.ts: frozen, it cannot exit meanwhile). */
export async function markThawed(store: Store, id: string): Promise<void> {
  const now = await reload(store, id);
  if (now?.state.paused) {
    delete now.state.paused;
    await saveContainer(store, now);
  }
}

/** As docker does: a signal to a paused container is delivered by thawing it (SIGKILL too, on cgroup v1). */
async function thawAfterSignal(store: Store, rec: ContainerRecord): Promise<void> {
  if (!rec.state.paused) return;
  await markThawed(store, rec.id);
  await setFrozen(rec.id, false);
  delete rec.state.paused;
}

async function waitGone(rec: ContainerRecord, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (isAlive(rec.state.pid, rec.state.pidStart)) {
    if (Date.now() >= until) return false;
    await sleep(50);
  }
  return true;
}

/** SIGTERM, then SIGKILL after `timeoutSec`; resolves once the state says exited. */
export async function stopContainer(store: Store, recIn: ContainerRecord, timeoutSec: number, signal = 15): Promise<ContainerRecord | undefined> {
  const rec = await refresh(store, recIn);
  if (!rec || rec.state.status !== 'running') return rec;
  try {
    process.kill(rec.state.pid!, signal);
  } catch {
    /* gone already */
  }
  await thawAfterSignal(store, rec);
  if (!(await waitGone(rec, timeoutSec * 1000))) {
    try {
      process.kill(rec.state.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
    await waitGone(rec, 10_000);
  }
  const after = (await reload(store, rec.id)) ?? rec;
  return refresh(store, after);
}

/** Remove a container's dir, and its anonymous volumes when asked (`rm -v`) or when it was --rm (as docker). */
async function removeDir(store: Store, rec: ContainerRecord, volumes = false): Promise<void> {
  const p = containerPaths(store, rec.id);
  await dropCgroup(store, rec.id);
  await unmountStale(store, p.dir);
  const anon = volumes || rec.autoRemove ? await anonymousVolumes(store, rec.mounts) : [];
  const tmp = store.tmpPath('rm-container');
  try {
    await fsp.rename(p.dir, tmp);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await fsp.rm(tmp, { recursive: true, force: true });
  if (anon.length) await withContainersLock(store, () => removeAnonymousVolumes(store, anon));
}

/**
 * Remove a container whose record is damaged (damagedContainers), named by its id or a unique
 * prefix of it; false when `ref` names no such container. Its mounts and cgroup go as any
 * container's; its anonymous volumes are unknown and stay (`bale volume prune` finds them).
 */
export async function removeDamaged(store: Store, ref: string): Promise<boolean> {
  if (!/^[a-f0-9]+$/.test(ref)) return false;
  const ids = (await damagedContainers(store)).filter((id) => id.startsWith(ref));
  if (ids.length !== 1) return false;
  await removeDir(store, { id: ids[0]!, autoRemove: false } as ContainerRecord);
  return true;
}

export async function removeContainer(store: Store, recIn: ContainerRecord, force: boolean, volumes = false): Promise<void> {
  let rec = await refresh(store, recIn);
  if (!rec) return;
  if (rec.state.status === 'running') {
    if (!force) {
      throw new BaleError(`cannot remove container ${rec.name}: container is running: stop the container before removing or force remove`);
    }
    rec = await stopContainer(store, rec, 0, 9);
    if (!rec) return;
  }
  await removeDir(store, rec, volumes);
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
}
