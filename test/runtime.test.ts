// The launcher, for real: overlay mounts, namespaces, pivot_root, bale run as a process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bale, baleOk, processGone, ps, seesHostInterfaces, tmpDir, waitFor, withContainers, type PsRow } from './helpers.js';
import { seedBusybox, type Entry } from './images.js';
import { Store } from '../src/store/store.js';
import { collectLayers } from '../src/store/layers.js';
import { containerLayers, findContainer, lowerDirs } from '../src/runtime/container.js';




/** Mount points on the host (this process's mount namespace) below `dir`. */
function hostMountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(dir));
}

const withStore = withContainers;

test(
  "the issue's example: env, hostname, and the command as pid 1",
  withStore(async (root) => {
    await seedBusybox(root);
    const r = await bale(root, ['run', '-e', 'FOO=bar', '--hostname', 'myhost', 'busybox', 'sh', '-c', 'echo $FOO; hostname; cat /proc/1/cmdline']);
    assert.is(r.code, 0, r.stderr);
    // sh execs the last command of -c in place, so pid 1 is cat itself by then
    assert.is(r.stdout, 'bar\nmyhost\ncat\0/proc/1/cmdline\0');
    const sh = await baleOk(root, ['run', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline; true']);
    assert.is(sh, 'sh\0-c\0cat /proc/1/cmdline; true\0');
  }),
);

test(
  "exit codes: the container's becomes bale's, 128+N when killed by signal N",
  withStore(async (root) => {
    await seedBusybox(root);
    assert.is((await bale(root, ['run', 'busybox', 'sh', '-c', 'exit 7'])).code, 7);
    const nf = await bale(root, ['run', 'busybox', 'no-such-command']);
    assert.is(nf.code, 127);
    assert.match(nf.stderr, /no-such-command: executable file not found in \$PATH/);
    const running = bale(root, ['run', '--name', 'victim', 'busybox', 'sleep', '1000']);
    await waitFor('victim to run', async () => (await ps(root)).find((c) => c.Names === 'victim' && c.State === 'running'));
    await baleOk(root, ['kill', 'victim']);
    assert.is((await running).code, 137);
    const row = (await ps(root)).find((c) => c.Names === 'victim')!;
    assert.is(row.State, 'exited');
    assert.is(row.ExitCode, 137);
  }),
);

test(
  'signals bale receives are forwarded to the container process',
  withStore(async (root) => {
    await seedBusybox(root);
    const child = spawn(process.execPath, [path.resolve('bin/bale'), 'run', '--name', 'sig', 'busybox', 'sh', '-c', 'trap "exit 42" USR1; sleep 1000 & wait'], {
      env: { ...process.env, BALE_ROOT: root },
      stdio: 'ignore',
    });
    const done = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    await waitFor('sig to run', async () => (await ps(root)).find((c) => c.Names === 'sig' && c.State === 'running'));
    // "running" is recorded once the process exists, maybe before sh has set its trap; pid 1 drops
    // a signal it has no handler for, so send it until the trap answers
    const resend = setInterval(() => child.kill('SIGUSR1'), 200);
    child.kill('SIGUSR1');
    try {
      assert.is(await done, 42);
    } finally {
      clearInterval(resend);
    }
  }),
);

test(
  'a file written in one container is absent in another; the image layer is untouched',
  withStore(async (root) => {
    await seedBusybox(root);
    await baleOk(root, ['run', '--name', 'writer', 'busybox', 'sh', '-c', 'echo data > /tmp/f; echo more > /etc/passwd; test -f /tmp/f']);
    const other = await bale(root, ['run', 'busybox', 'sh', '-c', 'test -e /tmp/f && echo present; grep -c root /etc/passwd']);
    assert.is(other.stdout, '1\n');
    const id = (await ps(root)).find((c) => c.Names === 'writer')!.ID;
    assert.is(readFileSync(path.join(root, 'containers', id, 'upper', 'tmp', 'f'), 'utf8'), 'data\n');
    const layers = readdirSync(path.join(root, 'layers')).filter((n) => n !== 'l');
    assert.is(layers.length, 1);
    assert.match(readFileSync(path.join(root, 'layers', layers[0]!, 'diff', 'etc', 'passwd'), 'utf8'), /^root:/);
  }),
);

test(
  "docker's override rules: Entrypoint, Cmd, WorkingDir, User, Env",
  withStore(async (root) => {
    await seedBusybox(root, {
      config: { Env: ['PATH=/bin', 'FOO=img', 'KEEP=1'], Entrypoint: ['echo', 'ep'], Cmd: ['cmd'], WorkingDir: '/work', User: 'user' },
      tags: ['cfg:latest'],
    });
    assert.is(await baleOk(root, ['run', 'cfg']), 'ep cmd\n');
    assert.is(await baleOk(root, ['run', 'cfg', 'a', 'b']), 'ep a b\n', 'args replace Cmd');
    const show = 'pwd; id -u; id -g; echo $FOO $KEEP $HOSTVAR; echo $HOME';
    assert.is(
      await baleOk(root, ['run', '--entrypoint', 'sh', 'cfg', '-c', show]),
      '/work\n1000\n1000\nimg 1\n/home/user\n',
      '--entrypoint replaces Entrypoint; image WorkingDir (created) and User apply',
    );
    assert.is(
      await baleOk(root, ['run', '-w', '/tmp', '-u', '0:65534', '-e', 'FOO=cli', '-e', 'HOSTVAR', '--entrypoint', 'sh', 'cfg', '-c', show], { env: { HOSTVAR: 'from-host' } }),
      '/tmp\n0\n65534\ncli 1 from-host\n/root\n',
    );
    assert.is(await baleOk(root, ['run', '--entrypoint', 'sh', 'cfg']), '', '--entrypoint clears the image Cmd');
    const groups = await baleOk(root, ['run', '-u', 'user', '--entrypoint', 'id', 'cfg']);
    assert.match(groups, /uid=1000\(user\) gid=1000\(user\)/);
    const bad = await bale(root, ['run', '-u', 'nobody-here', 'cfg']);
    assert.is(bad.code, 125);
    assert.match(bad.stderr, /unable to find user nobody-here/);
  }),
);

test(
  'isolation: pid 1, only lo with --net none, read-only /sys, docker capabilities, no_new_privs off as docker',
  withStore(async (root) => {
    await seedBusybox(root);
    const out = await baleOk(root, [
      'run', 'busybox', 'sh', '-c',
      'echo pid=$$; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; grep -E "^(NoNewPrivs|CapBnd|CapEff):" /proc/self/status | tr -d "\t"; touch /sys/x 2>/dev/null || echo sys-ro; (cat /proc/sys/kernel/sysrq > /proc/sys/kernel/sysrq) 2>/dev/null || echo procsys-ro; echo h > /proc/sysrq-trigger 2>/dev/null || echo sysrq-ro; echo timer_list=$(wc -c < /proc/timer_list); ls /dev | tr "\n" " "; echo; mount | grep -c " / type overlay"',
    ]);
    const lines = out.trim().split('\n');
    assert.is(lines[0], 'pid=1');
    assert.is(lines[1], 'lo', 'only the loopback interface');
    assert.ok(lines.includes('NoNewPrivs:0'), out);
    assert.ok(lines.includes('CapBnd:00000000a80425fb'), out);
    assert.ok(lines.includes('CapEff:00000000a80425fb'), out);
    assert.ok(lines.includes('sys-ro'));
    assert.ok(lines.includes('procsys-ro'), 'host sysctls are read-only');
    assert.ok(lines.includes('sysrq-ro'));
    assert.ok(lines.includes('timer_list=0'), '/proc/timer_list is masked');
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'ptmx', 'shm']) assert.ok(out.includes(` ${d} `) || out.includes(`${d} `), `/dev/${d}`);
    assert.is(lines[lines.length - 1], '1', 'root is an overlay');
    const user = await baleOk(root, ['run', '-u', 'user', 'busybox', 'grep', 'CapEff', '/proc/self/status']);
    assert.is(user.replace(/\s+/g, ' ').trim(), 'CapEff: 0000000000000000');
    // /proc/net/dev: two heading lines, then a line an interface, its name before the colon.
    const host = await seesHostInterfaces(async () =>
      (await baleOk(root, ['run', '--net', 'host', 'busybox', 'cat', '/proc/net/dev'])).trim().split('\n').slice(2).map((l) => l.split(':')[0]!.trim()),
    );
    assert.ok(host.ok, `--net host sees the host interfaces, not ${host.seen.join(' ')}`);
    // docker keeps the host's name with the host's network, so it resolves there.
    const names = await baleOk(root, ['run', '--net', 'host', 'busybox', 'sh', '-c', 'hostname; cat /etc/hostname']);
    assert.is(names, `${os.hostname()}\n${os.hostname()}\n`);
  }),
);

test(
  'default hostname is the first 12 hex of the id; init layer has hosts and resolv.conf',
  withStore(async (root) => {
    await seedBusybox(root);
    const out = await baleOk(root, ['run', '--name', 'h', 'busybox', 'sh', '-c', 'hostname; echo $HOSTNAME; cat /etc/hostname; grep -c localhost /etc/hosts; test -f /etc/resolv.conf && echo resolv']);
    const id = (await ps(root)).find((c) => c.Names === 'h')!.ID;
    assert.is(out, `${id.slice(0, 12)}\n${id.slice(0, 12)}\n${id.slice(0, 12)}\n2\nresolv\n`);
    const dup = await bale(root, ['run', '--name', 'h', 'busybox', 'true']);
    assert.is(dup.code, 125);
    assert.match(dup.stderr, /The container name "\/h" is already in use/);
  }),
);

/** Pids of the processes in the pid namespace `ns` (a readlink of /proc/PID/ns/pid): this
 * container's processes and no other's, even with other suites running on the machine. */
function processesInPidNs(ns: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) === ns) pids.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

test(
  'detached run, exec, ps, logs, stop, rm; no mounts left behind',
  withStore(async (root) => {
    await seedBusybox(root);
    const id = (await baleOk(root, ['run', '-d', '--name', 'bg', 'busybox', 'sh', '-c', 'echo started; trap "echo stopping; exit 3" TERM; while true; do sleep 0.1; done'])).trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    const row = (await ps(root)).find((c) => c.ID === id)!;
    assert.is(row.State, 'running');
    assert.match(await baleOk(root, ['ps']), /bg/);
    assert.is((await baleOk(root, ['ps', '-q'])).trim(), id.slice(0, 12));
    const ex = await baleOk(root, ['exec', '-e', 'X=1', 'bg', 'sh', '-c', 'echo $X; cat /proc/1/cmdline | tr "\\0" " "; echo; hostname; test -e /proc/$$ && echo ok']);
    assert.is(ex, `1\nsh -c echo started; trap "echo stopping; exit 3" TERM; while true; do sleep 0.1; done \n${id.slice(0, 12)}\nok\n`);
    assert.is((await bale(root, ['exec', 'bg', 'sh', '-c', 'exit 5'])).code, 5);
    assert.is((await baleOk(root, ['exec', '-u', 'user', '-w', '/home/user', 'bg', 'sh', '-c', 'id -u; pwd'])), '1000\n/home/user\n');
    const rmRunning = await bale(root, ['rm', 'bg']);
    assert.is(rmRunning.code, 1);
    assert.match(rmRunning.stderr, /container is running/);
    // the overlay is mounted in the container's own mount namespace, not the host's
    const inNs = readFileSync(`/proc/${row.Pid}/mountinfo`, 'utf8');
    assert.match(inNs, / \/ rw,.* - overlay overlay /);
    assert.equal(hostMountsUnder(root), []);
    await baleOk(root, ['stop', '-t', '5', 'bg']);
    const after = (await ps(root)).find((c) => c.ID === id)!;
    assert.is(after.State, 'exited');
    assert.is(after.ExitCode, 3, 'SIGTERM reached the trap; its exit code was recorded');
    assert.is(await baleOk(root, ['logs', 'bg']), 'started\nstopping\n');
    const ex2 = await bale(root, ['exec', 'bg', 'true']);
    assert.match(ex2.stderr, /is not running/);
    // pid 1 without a TERM handler ignores SIGTERM: stop escalates to SIGKILL after -t
    await baleOk(root, ['run', '-d', '--name', 'stubborn', 'busybox', 'sleep', '1000']);
    await baleOk(root, ['stop', '-t', '1', 'stubborn']);
    assert.is((await ps(root)).find((c) => c.Names === 'stubborn')!.ExitCode, 137);
    await baleOk(root, ['rm', 'stubborn']);
    // start again in the background, then force-remove while running
    await baleOk(root, ['start', 'bg']);
    const restarted = (await ps(root)).find((c) => c.ID === id)!;
    assert.is(restarted.State, 'running');
    const pidNs = readlinkSync(`/proc/${restarted.Pid}/ns/pid`);
    assert.ok(processesInPidNs(pidNs).length >= 1, 'the container\'s processes are seen in its namespace');
    await baleOk(root, ['rm', '-f', 'bg']);
    assert.equal(await ps(root), []);
    assert.not.ok(existsSync(path.join(root, 'containers', id)));
    assert.equal(hostMountsUnder(root), []);
    assert.equal(processesInPidNs(pidNs), [], 'no container process left');
  }),
);

test(
  'run --rm removes the container, attached and detached',
  withStore(async (root) => {
    await seedBusybox(root);
    assert.is(await baleOk(root, ['run', '--rm', 'busybox', 'echo', 'x']), 'x\n');
    await baleOk(root, ['run', '-d', '--rm', 'busybox', 'true']);
    await waitFor('the --rm container to go', async () => ((await ps(root)).length === 0 ? true : undefined));
    assert.equal(readdirSync(path.join(root, 'containers')).filter((n) => /^[a-f0-9]{64}$/.test(n)), []);
  }),
);

test(
  "only a --rm container's overlay is volatile (no sync of the upper dir's file system as it exits): a kept container's stays durable",
  withStore(async (root) => {
    await seedBusybox(root);
    const rootMount = ['sh', '-c', 'grep " / " /proc/self/mountinfo'];
    assert.match(await baleOk(root, ['run', '--rm', 'busybox', ...rootMount]), /,(fsync=)?volatile(,|\s|$)/m);
    const kept = await baleOk(root, ['run', 'busybox', ...rootMount]);
    assert.match(kept, / - overlay /);
    assert.not.match(kept, /volatile/);
  }),
);

test(
  'kill -9 of bale during run: the container lives on, state stays honest, nothing is mounted on the host, the next commands clean up',
  withStore(async (root) => {
    await seedBusybox(root);
    const child = spawn(process.execPath, [path.resolve('bin/bale'), 'run', '--name', 'orphan', 'busybox', 'sleep', '1000'], {
      env: { ...process.env, BALE_ROOT: root },
      stdio: 'ignore',
    });
    const row = await waitFor('orphan to run', async () => (await ps(root)).find((c) => c.Names === 'orphan' && c.State === 'running'));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    assert.equal(hostMountsUnder(root), []);
    assert.is((await ps(root)).find((c) => c.Names === 'orphan')!.State, 'running');
    // A mount a crashed bale of another kind could leave on the host: the next command removes it.
    const stale = path.join(root, 'containers', row.ID, 'rootfs');
    assert.is(spawnSync('mount', ['-t', 'tmpfs', 'stale', stale]).status, 0);
    assert.is(hostMountsUnder(root).length, 1);
    await baleOk(root, ['ps']);
    assert.equal(hostMountsUnder(root), []);
    // the container dies while no bale watches it: the next command records it as exited
    process.kill(row.Pid!, 'SIGKILL');
    await waitFor('pid to go', async () => (processGone(row.Pid!) ? true : undefined));
    const after = (await ps(root)).find((c) => c.Names === 'orphan')!;
    assert.is(after.State, 'exited');
    await baleOk(root, ['rm', 'orphan']);
    assert.equal(hostMountsUnder(root), []);
    assert.equal(await ps(root), []);
  }),
);

test(
  'kill -9 of the container\'s helper (bale-init): pid 1 does not outlive it, so nothing runs on recorded as exited',
  withStore(async (root) => {
    await seedBusybox(root);
    await baleOk(root, ['run', '-d', '--name', 'headless', 'busybox', 'sleep', '1000']);
    const pid = (await ps(root)).find((c) => c.Names === 'headless')!.Pid!;
    const helper = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    assert.match(readFileSync(`/proc/${helper}/cmdline`, 'utf8'), /^[^\0]*bale-init\0run\0/);
    process.kill(helper, 'SIGKILL');
    await waitFor('pid 1 to die with its helper', async () => (processGone(pid) ? true : undefined), 20_000);
    assert.is((await ps(root)).find((c) => c.Names === 'headless')!.State, 'exited');
    await baleOk(root, ['rm', 'headless']);
    assert.equal(hostMountsUnder(root), []);
  }),
);

test(
  'an image with 45 layers runs (overlay options stay under a page), whiteouts and opaque dirs hide lower files',
  withStore(async (root) => {
    const layers: Entry[][] = [];
    for (let i = 0; i < 44; i++) layers.push([{ name: `f${i}`, content: `layer ${i}\n` }]);
    layers.push([
      { name: 'etc/' },
      { name: 'etc/.wh.group', content: '' },
      { name: '.wh.f3', content: '' },
      { name: 'home/' },
      { name: 'home/.wh..wh..opq', content: '' },
      { name: 'home/new', content: 'n' },
    ]);
    await seedBusybox(root, { layers });
    const out = await baleOk(root, ['run', 'busybox', 'sh', '-c', 'cat /f0 /f43; ls /home; test -e /etc/group || echo no-group; test -e /f3 || echo no-f3; ls / | grep -c "^f"']);
    assert.is(out, 'layer 0\nlayer 43\nnew\nno-group\nno-f3\n43\n');
    const abs = readdirSync(path.join(root, 'layers')).filter((n) => n !== 'l').map((n) => path.join(root, 'layers', n, 'diff')).join(':');
    assert.ok(abs.length > 4096, 'absolute lowerdirs would not have fit');
  }),
);

test(
  'create then start -a; -it without a terminal is refused like docker, -t alone gets a pty',
  withStore(async (root) => {
    await seedBusybox(root);
    const id = (await baleOk(root, ['create', '--name', 'later', 'busybox', 'sh', '-c', 'echo hello from $(hostname)'])).trim();
    assert.is((await ps(root))[0]!.State, 'created');
    assert.is(await baleOk(root, ['start', '-a', 'later']), `hello from ${id.slice(0, 12)}\n`);
    const t = await bale(root, ['run', '-it', 'busybox', 'true']);
    assert.is(t.code, 1);
    assert.is(t.stderr, 'bale: the input device is not a TTY\n');
    // docker only refuses when stdin is attached; -t alone gives the container its own pty.
    const pty = await bale(root, ['run', '-t', 'busybox', 'sh', '-c', 'tty']);
    assert.is(pty.code, 0, pty.stderr);
    assert.match(pty.stdout, /^\/dev\/pts\/0\r?\n$/);
  }),
);

test(
  'stdin reaches the container only with -i',
  withStore(async (root) => {
    await seedBusybox(root);
    assert.is(await baleOk(root, ['run', '-i', 'busybox', 'cat'], { input: 'piped in\n' }), 'piped in\n');
    assert.is(await baleOk(root, ['run', 'busybox', 'cat'], { input: 'not for it\n' }), '');
  }),
);

test(
  'two processes running a never-unpacked image at once both work; the layer is unpacked once',
  withStore(async (root) => {
    await seedBusybox(root, { layers: [[{ name: 'x', content: 'x' }]] });
    const [a, b] = await Promise.all([bale(root, ['run', 'busybox', 'cat', '/x']), bale(root, ['run', 'busybox', 'cat', '/x'])]);
    assert.is(a.stdout + a.stderr, 'x');
    assert.is(b.stdout + b.stderr, 'x');
    assert.is(readdirSync(path.join(root, 'layers')).filter((n) => n !== 'l').length, 2);
    assert.equal(readdirSync(path.join(root, 'tmp')), []);
  }),
);

test(
  'a container keeps its layers after its image is removed: gc spares them until the container goes',
  withStore(async (root) => {
    const img = await seedBusybox(root);
    await baleOk(root, ['create', '--name', 'keep', 'busybox', 'echo', 'still here']);
    const store = await Store.open(root);
    await store.transaction(async () => {
      await store.removeTags(['busybox:latest']);
      await store.deleteImageRecord(img.id);
    });
    assert.equal(await collectLayers(store, () => containerLayers(store)), { layers: 0 });
    const rec = await findContainer(store, 'keep');
    const lowers = lowerDirs(store, rec);
    assert.is(lowers.length, 2, 'init + one image layer, top first');
    assert.ok(lowers[0]!.endsWith('/init'));
    assert.ok(existsSync(path.join(lowers[1]!, 'bin/busybox')));
    assert.is(await baleOk(root, ['start', '-a', 'keep']), 'still here\n');
    await baleOk(root, ['rm', 'keep']);
    assert.equal(await collectLayers(store, () => containerLayers(store)), { layers: 1 });
  }),
);

test.run();
