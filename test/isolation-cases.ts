// A container cannot reach the host: each promise is tested as the attack that succeeds without it.
// (Seccomp, cgroups and mounts have files of their own.) The same cases run as root
// (isolation.test.ts) and as a normal user's rootless bale (isolation-rootless.test.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BALE, bale as baleRoot, baleOk as baleRootOk, tmpDir, waitFor, type BaleResult } from './helpers.js';
import { seedBusybox, staticProgram } from './images.js';
import { baleArgv, baleAs, baleAsOk, handOver, userStore, type User } from './rootless.js';

// Pushes its argument and a newline into the input of every terminal it holds (fds 0-2 and
// /dev/tty) with TIOCSTI.
const INJECT = `#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int fds[4] = {0, 1, 2, open("/dev/tty", O_RDWR)};
  for (int i = 0; i < 4; i++) {
    if (fds[i] < 0) continue;
    int ok = 1;
    for (const char *p = argv[1]; *p; p++) if (ioctl(fds[i], TIOCSTI, p) != 0) ok = 0;
    if (ioctl(fds[i], TIOCSTI, "\\n") != 0) ok = 0;
    dprintf(2, "fd %d: %s\\n", fds[i], ok ? "injected" : strerror(errno));
  }
  return 0;
}
`;

// Opens a path read-write: says "opened" or the errno.
const OPENRW = `#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
int main(int argc, char **argv) {
  if (open(argv[1], O_RDWR) < 0) { printf("%s\\n", strerror(errno)); return 1; }
  printf("opened\\n");
  return 0;
}
`;

/** Whether some process has `file` open (by the path it was opened with). */
function openedByAnyone(file: string): boolean {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === file) return true;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return false;
}

/** The isolation cases, run by bale as root, or as user `as` (rootless). */
export function isolationTests(as?: User): void {
  const test = suite(as ? `isolation, rootless as ${as.name}` : 'isolation');
  const work = tmpDir('bale-iso-');
  const owned = as && userStore(as);
  const root = owned ? owned.root : path.join(work.dir, 'store');
  // the command line that runs bale, for shells
  const BALE_CMD = as ? baleArgv(as).join(' ') : BALE;
  const bale = (r: string, args: string[]): Promise<BaleResult> => (as ? baleAs(as, r, args) : baleRoot(r, args));
  const baleOk = (r: string, args: string[]): Promise<string> => (as ? baleAsOk(as, r, args) : baleRootOk(r, args));

  test.before(async () => {
    await seedBusybox(root, {
      layers: [[
        { name: 'usr/' },
        { name: 'usr/bin/' },
        { name: 'usr/bin/inject', content: staticProgram(work.dir, 'inject', INJECT), mode: 0o755 },
        { name: 'usr/bin/openrw', content: staticProgram(work.dir, 'openrw', OPENRW), mode: 0o755 },
      ]],
    });
    if (as) handOver(as, root);
  });
  test.after(() => {
    owned?.cleanup();
    work.cleanup();
  });

  /**
   * Run a shell command line under a new pty (util-linux script), as a user at a terminal would. Its
   * stdin stays open until the command ends (an EOF would reach the terminal as ^D); `input` is typed
   * after a second.
   */
  function atTerminal(cmd: string, input = ''): Promise<string> {
    return new Promise((resolve) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, BALE_ROOT: root }, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (out += b.toString()));
      child.stdin.on('error', () => undefined);
      const typing = input ? setTimeout(() => child.stdin.write(input), 1000) : undefined;
      const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', () => {
        clearTimeout(limit);
        if (typing) clearTimeout(typing);
        resolve(out);
      });
    });
  }

  test('-t: TIOCSTI from the container does not reach the caller\'s shell', async () => {
    // bash reads what sits in its terminal's input after bale exits. Without a pty of the
    // container's own, the injected line arrives there and would run on the host.
    for (const flags of ['-t', '-it']) {
      const out = await atTerminal(`bash -c '${BALE_CMD} run --rm ${flags} busybox inject "echo INJECTED"; read -t 2 line; echo "host read: [$line]"'`);
      assert.match(out, /host read: \[\]/, `${flags}: ${out}`);
      assert.not.match(out, /host read: \[echo INJECTED/, `${flags}: ${out}`);
    }
  });

  test('-t: the container\'s terminal is a new pty of its own devpts, with the caller\'s window size', async () => {
    const out = await atTerminal(`stty rows 37 cols 101; ${BALE_CMD} run --rm -t busybox sh -c 'tty; stat -c %t /dev/pts/ptmx; stty size; ls /dev/pts'`);
    assert.match(out, /\/dev\/pts\/0\r*\n/);
    assert.match(out, /37 101/);
    // The caller's own pty (from script) is not in the container's devpts: only ptmx and 0.
    assert.match(out, /0\s+ptmx/);
  });

  test('-it relays input to the container and gives its exit code; the terminal mode is restored', async () => {
    const out = await atTerminal(`${BALE_CMD} run --rm -it busybox sh; echo "code $?"; stty -a | grep -o -- '-\\?icanon'`, 'echo relayed-$((6*7))\nexit 3\n');
    assert.match(out, /relayed-42/);
    assert.match(out, /code 3/);
    assert.match(out, /code 3[^]*\bicanon/, 'the caller\'s terminal is back in canonical mode');
    assert.not.match(out, /-icanon/);
  });

  test('exec -t gets a pty of the container\'s own too', async () => {
    await baleOk(root, ['run', '-d', '--name', 'ttyexec', 'busybox', 'sleep', '300']);
    try {
      const out = await atTerminal(`bash -c '${BALE_CMD} exec -t ttyexec inject "echo INJECTED"; read -t 2 line; echo "host read: [$line]"'`);
      assert.match(out, /host read: \[\]/, out);
      const tty = await atTerminal(`${BALE_CMD} exec -t ttyexec sh -c tty`);
      assert.match(tty, /\/dev\/pts\/\d+/);
    } finally {
      await bale(root, ['rm', '-f', 'ttyexec']);
    }
  });

  test('without -t no host terminal is handed in: stdio that is a tty is relayed through pipes', async () => {
    const out = await atTerminal(`${BALE_CMD} run --rm busybox sh -c 'for f in 0 1 2; do [ -t $f ] && echo "fd $f is a tty"; done; inject x; echo done'`);
    assert.match(out, /done/);
    assert.not.match(out, /is a tty/, out);
    assert.not.match(out, /injected/, out);
  });

  test('descriptors open in bale\'s caller do not enter the container', async () => {
    const marker = path.join('/tmp', `bale-fd-escape-${process.pid}`);
    rmSync(marker, { force: true });
    // The attack from the issue: fd 250 is the host's / ; writing through it lands on the host.
    const r = spawnSync('bash', ['-c', `exec 250</; ${BALE_CMD} run --rm busybox sh -c 'echo x > /proc/self/fd/250${marker}'`], {
      encoding: 'utf8',
      env: { ...process.env, BALE_ROOT: root },
    });
    assert.is.not(r.status, 0);
    assert.not.ok(existsSync(marker), 'a file was written on the host through an inherited descriptor');
    // Seen from the host: the container's process holds stdio and nothing else of its caller's.
    const running = spawn('bash', ['-c', `exec 250</ 251>${work.dir}/host-file; exec ${BALE_CMD} run --rm --name fds busybox sleep 60`], {
      env: { ...process.env, BALE_ROOT: root },
      stdio: 'ignore',
    });
    try {
      let pid = 0;
      for (let i = 0; i < 100 && !pid; i++) {
        await new Promise((res) => setTimeout(res, 100));
        const ps = await baleOk(root, ['ps', '--format', 'json']);
        pid = ps.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Names: string; Pid: number | null }).find((c) => c.Names === 'fds')?.Pid ?? 0;
      }
      assert.ok(pid > 0, 'the container runs');
      // its pid is known before it execs: look once it is sleep (setup, seccomp load, may still be on)
      for (let i = 0; i < 100 && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0'); i++) await new Promise((res) => setTimeout(res, 50));
      assert.equal(readdirSync(`/proc/${pid}/fd`).sort(), ['0', '1', '2']);
    } finally {
      await bale(root, ['rm', '-f', 'fds']);
      running.kill();
    }
  });

  test('device nodes made in the container do not open: the host disk stays out of reach', async () => {
    // The device the host's root filesystem lives on, and a loop device: root in the container
    // can mknod them (CAP_MKNOD is a default), but opening one must fail.
    const st = statSync('/');
    const major = Math.floor(st.dev / 256) & 0xfff;
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    for (const [maj, min] of [[major, minor], [7, 0]]) {
      for (const dir of ['/tmp', '/dev', '/dev/shm', '/']) {
        const node = path.join(dir, `blk${maj}-${min}`);
        const r = await bale(root, ['run', '--rm', 'busybox', 'sh', '-c', `mknod ${node} b ${maj} ${min} && openrw ${node}`]);
        assert.not.match(r.stdout, /opened/, `${node} (${maj}:${min}) opened: ${r.stdout}${r.stderr}`);
      }
    }
    // The binds bale makes still work.
    const ok = await baleOk(root, ['run', '--rm', 'busybox', 'sh', '-c', 'openrw /dev/zero; openrw /dev/urandom; echo x > /dev/null && echo null-ok']);
    assert.is(ok, 'opened\nopened\nnull-ok\n');
  });

  test('export, commit and diff hold a running container still: a directory swapped for a symlink mid-export does not send the export to the host', async () => {
    // The host dir the container's symlink names, with a file only the host has.
    const host = tmpDir('bale-hold-');
    try {
      chmodSync(host.dir, 0o755);
      mkdirSync(path.join(host.dir, 'x'), { mode: 0o755 });
      writeFileSync(path.join(host.dir, 'x', 'host-secret'), 'host only\n', { mode: 0o644 });
      // signals both ways through a bind mount (a file put in the upper dir behind overlay's back
      // may never show inside)
      const sig = path.join(host.dir, 'sig');
      mkdirSync(sig);
      chmodSync(sig, 0o777);
      // /a/etc/big is read between the export's look at /a (a directory then) and at /a/x: the
      // container swaps /a for a symlink to the host dir when /sig/trigger appears.
      const script = `mkdir -p /a/etc /a/x && dd if=/dev/zero of=/a/etc/big bs=1M count=16 2>/dev/null && touch /sig/ready; while [ ! -e /sig/trigger ]; do usleep 10000; done; mv /a /a.real && ln -s ${host.dir} /a && touch /sig/swapped; sleep 1000`;
      const id = (await baleOk(root, ['run', '-d', '-v', `${sig}:/sig`, 'busybox', 'sh', '-c', script])).trim();
      const upper = path.join(root, 'containers', id, 'upper');
      await waitFor('the container to be ready', async () => existsSync(path.join(sig, 'ready')) || undefined);
      // stdout is not read yet: the export stops with /a/etc/big open, past /a and before /a/x (a: first in the walk)
      const [cmd, ...pre] = as ? baleArgv(as) : [BALE];
      const child = spawn(cmd!, [...pre, 'export', id], { env: { ...process.env, BALE_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
      let exited = false;
      const closed = new Promise<number | null>((r) => child.on('close', (code) => ((exited = true), r(code))));
      let stderr = '';
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const tar: Buffer[] = [];
      let moved = false;
      try {
        const big = path.join(upper, 'a', 'etc', 'big');
        await waitFor('the export to open /a/etc/big', async () => (exited || openedByAnyone(big) ? true : undefined), 30_000);
        if (!exited) {
          writeFileSync(path.join(sig, 'trigger'), '');
          await new Promise((r) => setTimeout(r, 1500));
          moved = existsSync(path.join(sig, 'swapped'));
        }
      } finally {
        child.stdout!.on('data', (b: Buffer) => tar.push(b));
        if (!existsSync(path.join(sig, 'trigger'))) child.kill('SIGKILL');
      }
      const code = await closed;
      if (exited && !existsSync(path.join(sig, 'trigger'))) {
        // A host that cannot freeze the container (rootless with no cgroups delegated): refused,
        // in one line, by each of the three, rather than read while it moves.
        assert.is(code, 1, `export: ${stderr}`);
        const refused = /^bale: container \S+ is running and cannot be frozen while its files are read \(.*\): stop it first\n$/;
        assert.match(stderr, refused);
        for (const verb of [['commit', id], ['diff', id]]) assert.match((await bale(root, verb)).stderr, refused);
        await bale(root, ['rm', '-f', id]);
        return;
      }
      assert.is(code, 0, `export: ${stderr}`);
      const names = spawnSync('tar', ['-t'], { input: Buffer.concat(tar), encoding: 'utf8' }).stdout.split('\n');
      assert.ok(names.includes('a/etc/big'), 'the export is whole');
      assert.not.ok(names.some((n) => n.includes('host-secret')), `the host's file was exported: ${names.filter((n) => n.startsWith('a/')).join(' ')}`);
      assert.not.ok(moved, 'the container moved while its files were read');
      // thawed once done; commit and diff hold it still the same way and thaw it too
      await waitFor('the container to go on', async () => existsSync(path.join(sig, 'swapped')) || undefined, 10_000);
      await baleOk(root, ['commit', id, `held-${process.pid}`]);
      assert.match(await baleOk(root, ['diff', id]), /^A \/a\.real$/m);
      assert.is(await baleOk(root, ['exec', id, 'echo', 'alive']), 'alive\n', 'running again');
      await bale(root, ['rm', '-f', id]);
      await bale(root, ['rmi', `held-${process.pid}`]);
    } finally {
      host.cleanup();
    }
  });

  test('--privileged: as root it may open a block device it makes (docker\'s: every device); rootless it still may not', async () => {
    // A block device this host has (a loop device where there is one): as root only the device
    // cgroup (v1) and nodev stand between the container and it; rootless, the user namespace does.
    const devs = readdirSync('/sys/dev/block').filter((d) => /^\d+:\d+$/.test(d));
    const dev = devs.find((d) => d.startsWith('7:')) ?? devs[0];
    assert.ok(dev, 'the host has a block device');
    const [maj, min] = dev!.split(':');
    const script = `mknod /dev/blk b ${maj} ${min} && openrw /dev/blk`;
    const plain = await bale(root, ['run', '--rm', 'busybox', 'sh', '-c', script]);
    assert.not.match(plain.stdout, /opened/, `unprivileged opened ${dev}`);
    const priv = await bale(root, ['run', '--rm', '--privileged', 'busybox', 'sh', '-c', script]);
    if (as) assert.not.match(priv.stdout, /opened/, `rootless --privileged opened ${dev}`);
    else assert.is(priv.stdout, 'opened\n', `--privileged could not open ${dev}: ${priv.stdout}${priv.stderr}`);
  });

  test('/dev/mqueue is a mount of the container\'s own; /proc and /sys knobs stay read-only', async () => {
    const out = await baleOk(root, ['run', '--rm', 'busybox', 'sh', '-c', 'grep -E " /dev/mqueue | /proc/sys | /sys " /proc/mounts | cut -d" " -f2,3,4; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo sysctl-refused']);
    assert.match(out, /\/dev\/mqueue mqueue rw,nosuid,nodev,noexec/);
    assert.match(out, /\/proc\/sys proc ro/);
    assert.match(out, /sysctl-refused/);
  });

  test.run();
}
