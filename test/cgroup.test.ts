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
import { bale, baleOk, ps, tmpDir, waitFor, withContainers, type PsRow } from './helpers.js';
import { seedBusybox, type Entry } from './images.js';

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

// ---- containers ----------------------------------------------------------------------------------




const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** busybox plus the applets these tests need beyond the shared image's. */
function seed(root: string) {
  const links = ['dd', 'mknod', 'tail', 'cut'].map((a): Entry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' }));
  return seedBusybox(root, { layers: [links] });
}

const withStore = withContainers;

async function runningId(root: string, name: string): Promise<PsRow> {
  return waitFor(`${name} to run`, async () => (await ps(root)).find((c) => c.Names === name && c.Pid !== null));
}

test(
  '--memory 32m: a process that allocates past it is killed (137), recorded as OOMKilled',
  withStore(async (root) => {
    await seed(root);
    const grab = ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=64M count=1'];
    const free = await bale(root, ['run', '--name', 'free', 'busybox', ...grab]);
    assert.is(free.code, 0, `without a limit the allocation succeeds: ${free.stderr}`);
    const r = await bale(root, ['run', '--memory', '32m', '--name', 'oom', 'busybox', ...grab]);
    assert.is(r.code, 137, r.stderr);
    assert.is((await baleOk(root, ['inspect', '-f', '{{.State.OOMKilled}} {{.HostConfig.Memory}}', 'oom'])).trim(), 'true 33554432');
    assert.is((await baleOk(root, ['inspect', '-f', '{{.State.OOMKilled}}', 'free'])).trim(), 'false');
  }),
);

test(
  '--pids-limit 20: a fork bomb stops at 20, the container stays killable, the host can fork',
  withStore(async (root) => {
    await seed(root);
    // pid 1 is a sleep (it needs no fork to stay); a subshell forks sleeps until the kernel says no.
    const id = (await baleOk(root, ['run', '-d', '--pids-limit', '20', '--name', 'bomb', 'busybox', 'sh', '-c', '(while :; do sleep 100 & done) & exec sleep 1000'])).trim();
    const pidsDir = path.join((await host()).version === 1 ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup', 'bale', id);
    await waitFor('a refused fork', async () => (/^max [1-9]/m.test(readFileSync(path.join(pidsDir, 'pids.events'), 'utf8')) ? true : undefined));
    assert.is(readFileSync(path.join(pidsDir, 'pids.max'), 'utf8').trim(), '20');
    assert.ok(Number(readFileSync(path.join(pidsDir, 'pids.current'), 'utf8')) <= 20);
    assert.match(await baleOk(root, ['logs', 'bomb']), /can't fork/);
    assert.is(spawnSync('true').status, 0, 'the host can still fork');
    const victims = readFileSync(path.join(pidsDir, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
    assert.ok(victims.length >= 10, `${victims.length} processes in the container`);
    const killed = await bale(root, ['kill', 'bomb']);
    assert.is(killed.code, 0, killed.stderr);
    const row = await waitFor('bomb to exit', async () => (await ps(root)).find((c) => c.Names === 'bomb' && c.State === 'exited'), 10_000);
    assert.is(row.ExitCode, 137);
    for (const pid of victims) assert.not.ok(isAlive(pid, undefined), `pid ${pid} survived`);
    assert.not.ok(existsSync(pidsDir), 'its cgroup is gone');
  }),
);

test(
  '--cpus 0.5 sets a CFS quota of 50000 per 100000; bad values are refused',
  withStore(async (root) => {
    await seed(root);
    const id = (await baleOk(root, ['run', '-d', '--cpus', '0.5', '--name', 'half', 'busybox', 'sleep', '1000'])).trim();
    const h = await host();
    const dir = h.version === 1 ? path.join(h.mounts.get('cpu')!, 'bale', id) : path.join('/sys/fs/cgroup/bale', id);
    if (h.version === 1) {
      assert.is(readFileSync(path.join(dir, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000');
      assert.is(readFileSync(path.join(dir, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
    } else assert.is(readFileSync(path.join(dir, 'cpu.max'), 'utf8').trim(), '50000 100000');
    assert.is((await baleOk(root, ['inspect', '-f', '{{.HostConfig.NanoCpus}}', 'half'])).trim(), '500000000');
    for (const bad of [['--cpus', 'x'], ['--cpus', '1000'], ['--memory', '1k'], ['--memory', '12q'], ['--memory-swap', '1g'], ['--memory', '64m', '--memory-swap', '32m'], ['--pids-limit', 'x']]) {
      const r = await bale(root, ['run', ...bad, 'busybox', 'true']);
      assert.is(r.code, 125, `${bad.join(' ')}: ${r.stderr}`);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  }),
);

test(
  'pause stops a counter, unpause resumes it; ps shows Paused; exec is refused; stop of a paused container delivers its TERM',
  withStore(async (root) => {
    await seed(root);
    const counter = 'trap "exit 3" TERM; i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.05; done';
    const id = (await baleOk(root, ['run', '-d', '--name', 'count', 'busybox', 'sh', '-c', counter])).trim();
    const file = path.join(root, 'containers', id, 'upper', 'tmp', 'c');
    const value = () => Number(readFileSync(file, 'utf8').trim() || 0);
    await waitFor('the counter', async () => (existsSync(file) && value() > 2 ? true : undefined));
    assert.is(await baleOk(root, ['pause', 'count']), 'count\n');
    const row = (await ps(root)).find((c) => c.Names === 'count')!;
    assert.is(row.State, 'paused');
    assert.match(row.Status, /^Up .* \(Paused\)$/);
    const frozenAt = value();
    await sleep(600);
    assert.is(value(), frozenAt, 'the counter did not move while paused');
    const again = await bale(root, ['pause', 'count']);
    assert.is(again.code, 1);
    assert.match(again.stderr, /is already paused/);
    const ex = await bale(root, ['exec', 'count', 'true']);
    assert.match(ex.stderr, /is paused, unpause the container before exec/);
    assert.is(await baleOk(root, ['unpause', 'count']), 'count\n');
    await waitFor('the counter to move', async () => (value() > frozenAt ? true : undefined), 5000);
    assert.match((await bale(root, ['unpause', 'count'])).stderr, /is not paused/);
    await baleOk(root, ['pause', 'count']);
    const started = Date.now();
    await baleOk(root, ['stop', '-t', '5', 'count']);
    assert.ok(Date.now() - started < 4000, 'stop did not wait for its grace period');
    const done = (await ps(root)).find((c) => c.Names === 'count')!;
    assert.is(done.ExitCode, 3, 'the TERM reached the trap once thawed');
    assert.is(done.State, 'exited');
  }),
);

test(
  'stats --no-stream --format json reports memory against the limit and pids',
  withStore(async (root) => {
    await seed(root);
    await baleOk(root, ['run', '-d', '--memory', '64m', '--name', 'st', 'busybox', 'sh', '-c', 'sleep 1000 & sleep 1000 & wait']);
    await baleOk(root, ['run', '-d', '--name', 'other', 'busybox', 'sleep', '1000']);
    const lines = (await baleOk(root, ['stats', '--no-stream', '--format', 'json', 'st'])).trim().split('\n');
    assert.is(lines.length, 1);
    const s = JSON.parse(lines[0]!) as Record<string, string | number>;
    assert.is(s['Name'], 'st');
    assert.is(s['MemLimitBytes'], 64 * 2 ** 20);
    assert.match(String(s['MemUsage']), /^[\d.]+(B|KiB|MiB) \/ 64MiB$/);
    assert.ok(Number(s['MemUsageBytes']) > 0 && Number(s['MemUsageBytes']) < 64 * 2 ** 20);
    assert.ok(Number(s['PIDs']) >= 3, `PIDs ${s['PIDs']}: sh and two sleeps`);
    assert.match(String(s['CPUPerc']), /^\d+\.\d\d%$/);
    const table = (await baleOk(root, ['stats', '--no-stream'])).trim().split('\n');
    assert.match(table[0]!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+PIDS$/);
    assert.is(table.length, 3, 'both running containers');
  }),
);

test(
  'the container joins its cgroups before it runs, sees them as / (cgroup namespace), and they go with it',
  withStore(async (root) => {
    await seed(root);
    const inside = await baleOk(root, ['run', 'busybox', 'cat', '/proc/self/cgroup']);
    const lines = inside.trim().split('\n');
    assert.ok(lines.length > 0);
    for (const l of lines) assert.match(l, /:\/$/, `${l} is not the namespace's root`);
    const h = await host();
    const id = (await baleOk(root, ['run', '-d', '--name', 'cg', 'busybox', 'sleep', '1000'])).trim();
    const pid = (await runningId(root, 'cg')).Pid!;
    const dirs = cgroupDirs(h, id);
    const onHost = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    if (h.version === 1) for (const c of ['memory', 'cpu', 'pids', 'freezer', 'devices']) assert.is(cgroupOf(pid, c), `/bale/${id}`, c);
    else assert.match(onHost, new RegExp(`^0::/bale/${id}$`, 'm'));
    for (const d of dirs) assert.ok(existsSync(d), d);
    // A command run with exec joins them too (else it would escape the limits, and pause).
    const exec = (await baleOk(root, ['exec', 'cg', 'cat', '/proc/self/cgroup'])).trim().split('\n');
    for (const l of exec) assert.match(l, /:\/$/, `exec: ${l} is not the namespace's root`);
    await baleOk(root, ['rm', '-f', 'cg']);
    for (const d of dirs) assert.not.ok(existsSync(d), `${d} outlived rm`);
    // A run that ends by itself takes its cgroup along.
    await baleOk(root, ['run', '--name', 'short', 'busybox', 'true']);
    const shortId = (await ps(root)).find((c) => c.Names === 'short')!.ID;
    for (const d of cgroupDirs(h, shortId)) assert.not.ok(existsSync(d), d);
  }),
);

test(
  'a cgroup left by a bale killed with -9 is removed by the next command',
  withStore(async (root) => {
    await seed(root);
    const id = (await baleOk(root, ['run', '-d', '--name', 'orphan', 'busybox', 'sleep', '1000'])).trim();
    await runningId(root, 'orphan');
    const rec = JSON.parse(readFileSync(path.join(root, 'containers', id, 'container.json'), 'utf8')) as { state: { pid: number; monitorPid: number } };
    process.kill(rec.state.monitorPid, 'SIGKILL');
    process.kill(rec.state.pid, 'SIGKILL');
    const dirs = cgroupDirs(await host(), id);
    await waitFor('the container to die', async () => (isAlive(rec.state.pid, undefined) ? undefined : true));
    assert.ok(dirs.every((d) => existsSync(d)), 'nobody removed the cgroup yet');
    const row = (await ps(root)).find((c) => c.Names === 'orphan')!;
    assert.is(row.State, 'exited');
    for (const d of dirs) assert.not.ok(existsSync(d), `${d} is still there`);
  }),
);

test(
  'devices: a block device root makes with mknod does not open in the container, nor through a mount without nodev',
  withStore(async (root) => {
    await seed(root);
    const r = await bale(root, ['run', 'busybox', 'sh', '-c', 'mknod /tmp/z b 7 0 && echo made; head -c 1 /tmp/z; echo rc=$?; echo x > /dev/null && head -c 3 /dev/zero | wc -c']);
    assert.is(r.stdout, 'made\nrc=1\n3\n', r.stderr);
    assert.match(r.stderr, /\/tmp\/z: (Operation not permitted|Permission denied)/);
    // The container's mounts are nodev too; the device cgroup is what holds where a mount is not
    // (a bind mount, --privileged). The node it made, opened from the host through the upper dir
    // (no nodev there) by a process in the container's devices cgroup, must not open.
    const h = await host();
    if (h.version !== 1 || !h.mounts.has('devices')) return;
    const id = (await baleOk(root, ['run', '-d', '--name', 'dev', 'busybox', 'sh', '-c', 'mknod /tmp/z b 7 0 && exec sleep 1000'])).trim();
    await runningId(root, 'dev');
    const node = path.join(root, 'containers', id, 'upper', 'tmp', 'z');
    await waitFor('the node', async () => (existsSync(node) ? true : undefined));
    const procs = path.join(h.mounts.get('devices')!, 'bale', id, 'cgroup.procs');
    const open = (join: boolean) =>
      spawnSync('sh', ['-c', `${join ? `echo $$ > ${procs}; ` : ''}head -c 1 ${node} > /dev/null && head -c 1 /dev/zero | wc -c`], { encoding: 'utf8' });
    const outside = open(false);
    assert.is(outside.status, 0, `outside the cgroup the node opens: ${outside.stderr}`);
    const inside = open(true);
    assert.is.not(inside.status, 0);
    assert.match(inside.stderr, /Operation not permitted/);
    assert.is(inside.stdout, '', 'nothing after the refused open ran');
    const allowed = spawnSync('sh', ['-c', `echo $$ > ${procs}; head -c 3 /dev/zero | wc -c; echo x > /dev/null && echo null-ok`], { encoding: 'utf8' });
    assert.is(allowed.stdout, '3\nnull-ok\n', allowed.stderr);
  }),
);

test('help for the new verbs and flags', async () => {
  for (const v of ['pause', 'unpause', 'stats']) {
    const out = await baleOk('/nonexistent', [v, '--help']);
    assert.match(out, new RegExp(`^Usage: bale ${v} `));
  }
  assert.match(await baleOk('/nonexistent', ['run', '--help']), /--pids-limit N/);
  assert.match(await baleOk('/nonexistent', ['--help']), /pause\s+Pause all processes/);
});

test.run();
