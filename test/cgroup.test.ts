// Cgroups, for real: the module against the host's hierarchies, then containers with limits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  cgroupDirs,
  cgroupPids,
  cgroupStats,
  createCgroup,
  detectCgroups,
  freezeCgroup,
  isFrozen,
  removeCgroup,
  v2Host,
  type CgroupHost,
} from '../src/runtime/cgroup.js';
import { isAlive } from '../src/runtime/proc.js';

function sleeper(): ChildProcess {
  return spawn('sleep', ['1000'], { stdio: 'ignore' });
}

function exited(c: ChildProcess): Promise<string | null> {
  return new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.signalCode) : c.once('exit', (_code, sig) => resolve(sig))));
}

async function host(): Promise<CgroupHost> {
  const h = await detectCgroups();
  if (!h) throw new Error('this host has no cgroups bale can use');
  return h;
}

const newId = () => randomBytes(32).toString('hex');

/** The v1 hierarchy a controller lives in, as /proc/PID/cgroup names it. */
function cgroupOf(pid: number, controller: string): string | undefined {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.split(':')[1]!.split(',').includes(controller));
  return line?.split(':')[2];
}

test('module: a process put in a new cgroup is limited, counted, frozen, and killed on removal', async () => {
  const h = await host();
  const id = newId();
  const procs = await createCgroup(h, id, { memory: 64 << 20, nanoCpus: 500_000_000, pidsLimit: 7 });
  const child = sleeper();
  try {
    for (const f of procs) writeFileSync(f, String(child.pid));
    if (h.version === 1) {
      for (const c of ['memory', 'cpu', 'pids', 'freezer', 'devices']) assert.is(cgroupOf(child.pid!, c), `/bale/${id}`, c);
      const dir = (c: string) => path.join(h.mounts.get(c)!, 'bale', id);
      assert.is(readFileSync(path.join(dir('cpu'), 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
      assert.is(readFileSync(path.join(dir('cpu'), 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
      assert.is(readFileSync(path.join(dir('pids'), 'pids.max'), 'utf8').trim(), '7');
      assert.is(readFileSync(path.join(dir('memory'), 'memory.limit_in_bytes'), 'utf8').trim(), String(64 << 20));
      if (h.mounts.has('cpuset')) assert.is.not(readFileSync(path.join(dir('cpuset'), 'cpuset.cpus'), 'utf8').trim(), '');
    }
    const st = await cgroupStats(h, id);
    assert.ok(st, 'stats');
    assert.is(st!.pids, 1);
    assert.is(st!.memLimit, 64 << 20);
    assert.ok(st!.memUsage !== undefined && st!.memUsage < 64 << 20);
    assert.equal(await cgroupPids(h, id), [child.pid]);
    await freezeCgroup(h, id, true);
    assert.ok(await isFrozen(h, id));
    await freezeCgroup(h, id, false);
    assert.not.ok(await isFrozen(h, id));
  } finally {
    await removeCgroup(h, id);
  }
  assert.is(await exited(child), 'SIGKILL');
  for (const d of cgroupDirs(h, id)) assert.not.ok(existsSync(d), d);
});

test('module: a pids limit stops forks in the cgroup, not on the host', async () => {
  const h = await host();
  const id = newId();
  const procs = await createCgroup(h, id, { pidsLimit: 5 });
  // The shell joins the cgroup itself, then tries to start 20 sleeps.
  const sh = spawn('sh', ['-c', `for f in ${procs.join(' ')}; do echo $$ > $f; done; i=0; while [ $i -lt 20 ]; do sleep 1000 & i=$((i+1)); done; wait`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  sh.stderr!.on('data', (b: Buffer) => (err += b));
  let left: number[] = [];
  try {
    for (let i = 0; i < 100 && !/fork/i.test(err); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(err, /fork/i);
    const n = (await cgroupPids(h, id)).length;
    assert.ok(n >= 2 && n <= 5, `${n} processes in the cgroup`);
    assert.ok((await cgroupStats(h, id))!.pids! <= 5);
    assert.is(spawnSync('true').status, 0, 'the host can still fork');
    left = await cgroupPids(h, id);
  } finally {
    await removeCgroup(h, id);
  }
  await exited(sh);
  for (const pid of left) assert.not.ok(isAlive(pid, undefined), `pid ${pid} outlived its cgroup`);
  for (const d of cgroupDirs(h, id)) assert.not.ok(existsSync(d), d);
});

test('module: limits the host cannot enforce are refused, and nothing is left behind', async () => {
  // A hybrid host's unified tree is cgroup2 with no memory controller in it.
  if (!existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) return;
  const h = v2Host('/sys/fs/cgroup/unified');
  const id = newId();
  try {
    await createCgroup(h, id, { memory: 64 << 20 });
    assert.unreachable('a memory limit without the memory controller was accepted');
  } catch (e) {
    assert.match((e as Error).message, /--memory needs the memory cgroup controller/);
  }
  assert.not.ok(existsSync(cgroupDirs(h, id)[0]!));
});

test('module: cgroup v2 (the hybrid unified tree): join, freeze, stats, kill, remove', async () => {
  if (!existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) return;
  const h = v2Host('/sys/fs/cgroup/unified');
  const id = newId();
  const procs = await createCgroup(h, id, {});
  assert.equal(procs, [`/sys/fs/cgroup/unified/bale/${id}/cgroup.procs`]);
  const child = sleeper();
  try {
    writeFileSync(procs[0]!, String(child.pid));
    assert.match(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'), new RegExp(`^0::/bale/${id}$`, 'm'));
    await freezeCgroup(h, id, true);
    assert.ok(await isFrozen(h, id));
    assert.ok((await cgroupStats(h, id))!.cpuNs >= 0);
  } finally {
    await removeCgroup(h, id);
  }
  assert.is(await exited(child), 'SIGKILL');
  assert.not.ok(existsSync(cgroupDirs(h, id)[0]!));
});

test.run();
