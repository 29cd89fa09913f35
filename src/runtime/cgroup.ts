// A cgroup per container: limits, freeze/thaw, stats, removal.
//
// Every container gets `bale/<container id>` below the root of each hierarchy bale uses:
//   cgroup v1  one hierarchy per controller (or a few co-mounted), found in /proc/self/mountinfo:
//              memory, cpu, cpuacct, pids, freezer, devices, cpuset (those the host has)
//   cgroup v2  one tree at /sys/fs/cgroup; memory, cpu and pids are enabled in the subtree
// The host is v2 only when /sys/fs/cgroup itself is cgroup2: a hybrid host's
// /sys/fs/cgroup/unified holds no controllers bale needs, so it counts as v1.
//
// bale-init joins the container's cgroup before it makes its namespaces (it writes its own pid into
// each `cgroup.procs` file createCgroup returns), so the container never runs outside it and its
// cgroup namespace is rooted there. Devices: on v1 the devices controller gets docker's default
// list, except under --privileged, which (as docker's) may use every device; v2 has no devices file
// (it needs a BPF program), nodev mounts cover that case.
//
// The files are small and in memory: they are read and written synchronously, which costs a few
// microseconds each where a promise through libuv's thread pool costs a hundred or more, on the
// path every `bale run` takes twice.
import { accessSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BaleError } from '../util/errors.js';
import { inUserNamespace } from '../util/userns.js';

const CGROUP_FS = '/sys/fs/cgroup';
const CGROUP2_SUPER_MAGIC = 0x63677270;
const PARENT = 'bale';
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer', 'devices', 'cpuset'];
const V2_CONTROLLERS = ['memory', 'cpu', 'pids'];
/** CFS period for --cpus, in microseconds (docker's). */
export const CFS_PERIOD_US = 100_000;

/** Docker's default device rules: everything denied, then these allowed. */
const V1_DEVICE_RULES = [
  'c *:* m', 'b *:* m',
  'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', // null zero full random urandom
  'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', // tty console ptmx
  'c 136:* rwm', 'c 10:200 rwm', // pts, tun
];

/** Resource limits as docker's HostConfig names them (bytes; -1 = unlimited swap; 1e9 nano-cpus = one cpu). */
export interface Resources {
  memory?: number;
  memorySwap?: number;
  nanoCpus?: number;
  pidsLimit?: number;
}

export type CgroupHost =
  | { version: 1; /** controller → mount point of its hierarchy (co-mounted controllers share one) */ mounts: Map<string, string> }
  | { version: 2; root: string };

export interface CgroupStats {
  /** CPU time used, nanoseconds. */
  cpuNs: number;
  /** Memory in use, page cache that can be dropped left out (as docker counts it). */
  memUsage?: number;
  /** The memory limit, undefined when unlimited. */
  memLimit?: number;
  pids?: number;
}

let cached: Promise<CgroupHost | undefined> | undefined;

/** Why detectCgroups found none, for the errors of what needs them ("... needs cgroups: WHY"). */
export function noCgroupsReason(): string {
  return inUserNamespace()
    ? 'rootless containers get none (the host delegates no cgroup v2 subtree to this user)'
    : 'none are mounted at /sys/fs/cgroup';
}

/** Which cgroups this host has (undefined: none bale can use; none in a user namespace). */
export function detectCgroups(): Promise<CgroupHost | undefined> {
  cached ??= (async () => {
    if (inUserNamespace()) return undefined;
    const fs = attempt(() => statfsSync(CGROUP_FS));
    if (fs && fs.type === CGROUP2_SUPER_MAGIC) return v2Host(CGROUP_FS);
    const mounts = v1Mounts(attempt(() => readFileSync('/proc/self/mountinfo', 'utf8')) ?? '');
    return mounts.size ? ({ version: 1, mounts } as const) : undefined;
  })();
  return cached;
}

/** A cgroup v2 tree mounted at `root` (also used by tests on a hybrid host's unified tree). */
export function v2Host(root: string): CgroupHost {
  return { version: 2, root };
}

/** controller → mount point, for the v1 hierarchies holding the controllers bale uses. */
export function v1Mounts(mountinfo: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const [fstype, , superOpts] = right.split(' ');
    if (fstype !== 'cgroup' || !superOpts) continue;
    const mountPoint = left.split(' ')[4]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    for (const opt of superOpts.split(',')) {
      if (V1_CONTROLLERS.includes(opt) && !out.has(opt)) out.set(opt, mountPoint);
    }
  }
  return out;
}

/** The container's cgroup directories, one per hierarchy. */
export function cgroupDirs(host: CgroupHost, id: string): string[] {
  if (host.version === 2) return [path.join(host.root, PARENT, id)];
  return [...new Set(host.mounts.values())].map((m) => path.join(m, PARENT, id));
}

/** The directory that holds `controller`'s files for the container, if the host has it. */
function dirOf(host: CgroupHost, id: string, controller: string): string | undefined {
  if (host.version === 2) return path.join(host.root, PARENT, id);
  const m = host.mounts.get(controller);
  return m && path.join(m, PARENT, id);
}

async function put(dir: string, file: string, value: string): Promise<void> {
  try {
    writeFileSync(path.join(dir, file), value);
  } catch (e) {
    throw new BaleError(`cgroup ${path.join(dir, file)}: cannot write ${JSON.stringify(value)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function read(dir: string, file: string): Promise<string | undefined> {
  return attempt(() => readFileSync(path.join(dir, file), 'utf8').trim());
}

async function has(dir: string, file: string): Promise<boolean> {
  return attempt(() => (accessSync(path.join(dir, file)), true)) ?? false;
}

function readdirs(dir: string): string[] {
  return (attempt(() => readdirSync(dir, { withFileTypes: true })) ?? []).filter((e) => e.isDirectory()).map((e) => e.name);
}

/**
 * Make the container's cgroup(s) with its limits; returns the `cgroup.procs` files its init joins.
 * On failure nothing is left behind.
 */
export async function createCgroup(host: CgroupHost, id: string, res: Resources, privileged = false): Promise<string[]> {
  try {
    if (host.version === 1) await createV1(host.mounts, id, res, privileged);
    else await createV2(host.root, id, res);
  } catch (e) {
    await removeCgroup(host, id).catch(() => undefined);
    throw e;
  }
  return cgroupDirs(host, id).map((d) => path.join(d, 'cgroup.procs'));
}

function needController(available: boolean, controller: string, flag: string): void {
  if (!available) throw new BaleError(`${flag} needs the ${controller} cgroup controller, which this host does not have`);
}

async function createV1(mounts: Map<string, string>, id: string, res: Resources, privileged: boolean): Promise<void> {
  for (const m of new Set(mounts.values())) {
    const parent = path.join(m, PARENT);
    mkdirSync(path.join(parent, id), { recursive: true });
    if (mounts.get('cpuset') === m) {
      // A new cpuset starts empty and takes no process until it has cpus and mems.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        if (!(await read(parent, f))) await put(parent, f, (await read(m, f)) ?? '');
        await put(path.join(parent, id), f, (await read(parent, f)) ?? '');
      }
    }
  }
  const dir = (c: string) => dirOf({ version: 1, mounts }, id, c);
  // A new cgroup inherits its parent's list, bale/'s, which allows all: --privileged keeps that.
  const devices = privileged ? undefined : dir('devices');
  if (devices) {
    await put(devices, 'devices.deny', 'a');
    for (const rule of V1_DEVICE_RULES) await put(devices, 'devices.allow', rule);
  }
  if (res.memory !== undefined) {
    const mem = dir('memory');
    needController(mem !== undefined, 'memory', '--memory');
    await put(mem!, 'memory.limit_in_bytes', String(res.memory));
    const total = res.memorySwap === undefined ? 2 * res.memory : res.memorySwap;
    if (await has(mem!, 'memory.memsw.limit_in_bytes')) await put(mem!, 'memory.memsw.limit_in_bytes', String(total));
  }
  if (res.nanoCpus !== undefined) {
    const cpu = dir('cpu');
    needController(cpu !== undefined, 'cpu', '--cpus');
    await put(cpu!, 'cpu.cfs_period_us', String(CFS_PERIOD_US));
    await put(cpu!, 'cpu.cfs_quota_us', String(quota(res.nanoCpus)));
  }
  if (res.pidsLimit !== undefined) {
    const pids = dir('pids');
    needController(pids !== undefined, 'pids', '--pids-limit');
    await put(pids!, 'pids.max', String(res.pidsLimit));
  }
}

function quota(nanoCpus: number): number {
  return Math.round((nanoCpus * CFS_PERIOD_US) / 1e9);
}

async function createV2(root: string, id: string, res: Resources): Promise<void> {
  const parent = path.join(root, PARENT);
  // Enable what the host offers in the subtree; a root that cannot (processes in it) leaves them off.
  const offered = ((await read(root, 'cgroup.controllers')) ?? '').split(' ').filter((c) => V2_CONTROLLERS.includes(c));
  const enable = offered.map((c) => `+${c}`).join(' ');
  if (enable) await put(root, 'cgroup.subtree_control', enable).catch(() => undefined);
  mkdirSync(parent, { recursive: true });
  if (enable) await put(parent, 'cgroup.subtree_control', enable).catch(() => undefined);
  const dir = path.join(parent, id);
  mkdirSync(dir, { recursive: true });
  const got = new Set(((await read(dir, 'cgroup.controllers')) ?? '').split(' '));
  if (res.memory !== undefined) {
    needController(got.has('memory'), 'memory', '--memory');
    await put(dir, 'memory.max', String(res.memory));
    const swap = res.memorySwap === undefined ? res.memory : res.memorySwap < 0 ? 'max' : String(res.memorySwap - res.memory);
    if (await has(dir, 'memory.swap.max')) await put(dir, 'memory.swap.max', String(swap));
  }
  if (res.nanoCpus !== undefined) {
    needController(got.has('cpu'), 'cpu', '--cpus');
    await put(dir, 'cpu.max', `${quota(res.nanoCpus)} ${CFS_PERIOD_US}`);
  }
  if (res.pidsLimit !== undefined) {
    needController(got.has('pids'), 'pids', '--pids-limit');
    await put(dir, 'pids.max', String(res.pidsLimit));
  }
}

// ---- freeze ------------------------------------------------------------------------------------

/** Freeze (or thaw) every process of the container; resolves once the kernel says it is done. */
export async function freezeCgroup(host: CgroupHost, id: string, frozen: boolean): Promise<void> {
  const dir = dirOf(host, id, 'freezer');
  if (!dir) throw new BaleError('pausing needs the freezer cgroup controller, which this host does not have');
  if (host.version === 1) await put(dir, 'freezer.state', frozen ? 'FROZEN' : 'THAWED');
  else await put(dir, 'cgroup.freeze', frozen ? '1' : '0');
  for (let i = 0; i < 200; i++) {
    if ((await isFrozen(host, id)) === frozen) return;
    await sleep(10);
  }
  throw new BaleError(`cgroup ${dir}: still ${frozen ? 'freezing' : 'thawing'} after 2 seconds`);
}

export async function isFrozen(host: CgroupHost, id: string): Promise<boolean> {
  const dir = dirOf(host, id, 'freezer');
  if (!dir) return false;
  if (host.version === 1) return (await read(dir, 'freezer.state')) === 'FROZEN';
  return /^frozen 1$/m.test((await read(dir, 'cgroup.events')) ?? '');
}

// ---- stats -------------------------------------------------------------------------------------

function statField(text: string | undefined, key: string): number | undefined {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text ?? '');
  return m ? Number(m[1]) : undefined;
}

function num(s: string | undefined): number | undefined {
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
}

/** CPU time, memory and pids of the container's cgroup (undefined if it has none). */
export async function cgroupStats(host: CgroupHost, id: string): Promise<CgroupStats | undefined> {
  if (host.version === 2) {
    const dir = dirOf(host, id, '')!;
    const cpu = await read(dir, 'cpu.stat');
    if (cpu === undefined) return undefined;
    const current = num(await read(dir, 'memory.current'));
    const inactive = statField(await read(dir, 'memory.stat'), 'inactive_file') ?? 0;
    return {
      cpuNs: (statField(cpu, 'usage_usec') ?? 0) * 1000,
      memUsage: current === undefined ? undefined : Math.max(0, current - inactive),
      memLimit: num(await read(dir, 'memory.max')),
      pids: num(await read(dir, 'pids.current')),
    };
  }
  const at = (c: string) => dirOf(host, id, c);
  const cpuDir = at('cpuacct');
  const cpu = cpuDir ? num(await read(cpuDir, 'cpuacct.usage')) : undefined;
  const mem = at('memory');
  const usage = mem ? num(await read(mem, 'memory.usage_in_bytes')) : undefined;
  if (cpu === undefined && usage === undefined) return undefined;
  const inactive = mem ? statField(await read(mem, 'memory.stat'), 'total_inactive_file') ?? 0 : 0;
  const limit = mem ? num(await read(mem, 'memory.limit_in_bytes')) : undefined;
  const pids = at('pids');
  return {
    cpuNs: cpu ?? 0,
    memUsage: usage === undefined ? undefined : Math.max(0, usage - inactive),
    // An unlimited v1 cgroup reads as a page-rounded 2^63-1.
    memLimit: limit !== undefined && limit < 2 ** 62 ? limit : undefined,
    pids: pids ? num(await read(pids, 'pids.current')) : undefined,
  };
}

/** Did the kernel's OOM killer kill a process of this cgroup? */
export async function oomKilled(host: CgroupHost, id: string): Promise<boolean> {
  const dir = dirOf(host, id, 'memory');
  if (!dir) return false;
  const text = await read(dir, host.version === 1 ? 'memory.oom_control' : 'memory.events');
  return (statField(text, 'oom_kill') ?? 0) > 0;
}

// ---- processes and removal ---------------------------------------------------------------------

/** Every pid in the container's cgroups, sub-cgroups included. */
export async function cgroupPids(host: CgroupHost, id: string): Promise<number[]> {
  const pids = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    for (const p of ((await read(dir, 'cgroup.procs')) ?? '').split('\n')) if (p) pids.add(Number(p));
    for (const sub of readdirs(dir)) await walk(path.join(dir, sub));
  };
  for (const d of cgroupDirs(host, id)) await walk(d);
  return [...pids];
}

/** Does any of the container's cgroup directories exist? */
export function cgroupExists(host: CgroupHost, id: string): boolean {
  return cgroupDirs(host, id).some((d) => attempt(() => statSync(d)) !== undefined);
}

/** Kill whatever is left in the container's cgroups, then remove them (a no-op if they are gone). */
export async function removeCgroup(host: CgroupHost, id: string): Promise<void> {
  if (!cgroupExists(host, id)) return;
  for (let round = 0; round < 3 && (await cgroupPids(host, id)).length; round++) await killAll(host, id);
  for (const d of cgroupDirs(host, id)) await rmdirTree(d);
}

async function killAll(host: CgroupHost, id: string): Promise<void> {
  const dir = dirOf(host, id, 'freezer');
  if (host.version === 2 && dir && (await has(dir, 'cgroup.kill'))) {
    await put(dir, 'cgroup.kill', '1');
  } else {
    // Frozen, nothing can fork between reading the pids and killing them; SIGKILL lands on thaw.
    if (dir) await freezeCgroup(host, id, true).catch(() => undefined);
    for (const pid of await cgroupPids(host, id)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (dir) await freezeCgroup(host, id, false).catch(() => undefined);
  }
  for (let i = 0; i < 100 && (await cgroupPids(host, id)).length; i++) await sleep(20);
}

/** rmdir a cgroup and any below it, children first; a dying task can keep it busy for a moment. */
async function rmdirTree(dir: string): Promise<void> {
  for (const sub of readdirs(dir)) await rmdirTree(path.join(dir, sub));
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 100) throw new BaleError(`cannot remove cgroup ${dir}: ${code}`);
      await sleep(20);
    }
  }
}

/** Ids of every container cgroup on the host (of any bale store), with the age of the oldest dir. */
export async function listCgroups(host: CgroupHost): Promise<{ id: string; ageMs: number }[]> {
  const ages = new Map<string, number>();
  const parents = host.version === 2 ? [path.join(host.root, PARENT)] : [...new Set(host.mounts.values())].map((m) => path.join(m, PARENT));
  for (const parent of parents) {
    for (const id of attempt(() => readdirSync(parent)) ?? []) {
      if (!/^[a-f0-9]{64}$/.test(id)) continue;
      const st = attempt(() => statSync(path.join(parent, id)));
      if (st) ages.set(id, Math.max(ages.get(id) ?? 0, Date.now() - st.ctimeMs));
    }
  }
  return [...ages].map(([id, ageMs]) => ({ id, ageMs }));
}

/** f's value, or undefined if it threw (a file that is not there). */
function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
