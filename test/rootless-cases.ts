// Every verb as a normal user: bale enters a user namespace of its own (the user's uid is 0 there,
// its /etc/subuid range the rest), unpacks layers with their real owners and runs containers. Run
// as the users test/setup.sh makes; the same image as root must give the same bytes. The cases run
// with each driver of the container's root (rootless.test.ts: the kernel's overlay;
// rootless-fuse.test.ts: fuse-overlayfs, as on kernels before 5.11), given in `env`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { baleOk, processGone, SHARED, storeListing, tmpDir, waitFor } from './helpers.js';
import { baleAs as baleAsWith, baleAsOk as baleAsOkWith, NOSUBID_USER, pausePid, ROOTLESS_USER, user, userStore, type User } from './rootless.js';

/** Pids of the fuse-overlayfs processes of user `u`. */
function fuseDaemons(u: User): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'fuse-overlayfs' && statSync(`/proc/${d}`).uid === u.uid) pids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** The rootless cases, every bale of the user run with `env` added. */
export function rootlessTests(env: Record<string, string> = {}): void {
  const baleAs = (who: User, root: string, args: string[], opts: { input?: string } = {}) => baleAsWith(who, root, args, { ...opts, env });
  const baleAsOk = (who: User, root: string, args: string[]) => baleAsOkWith(who, root, args, { env });
  // layered:latest is the last one's (docker's); the others stay by id
  const FIXTURES = ['podman-layered.oci-archive.tar', 'skopeo-layered.oci-zstd.tar', 'docker-layered.tar'];
  const IMAGE = 'layered:latest';

  let u: User;
  let us: ReturnType<typeof userStore>;
  const host = tmpDir('bale-rootless-root-');
  const rootStore = path.join(host.dir, 'store');

  function subRange(file: string, name: string): [number, number] {
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))!;
    const [, start, count] = line.split(':');
    return [Number(start), Number(count)];
  }

  test.before(async () => {
    u = user(ROOTLESS_USER);
    us = userStore(u);
    for (const f of FIXTURES) {
      // the user reads its own copy: the shared fixtures may be below a directory only root enters
      copyFileSync(path.join(SHARED, 'fixtures', 'peers', f), path.join(us.dir, f));
      await baleOk(rootStore, ['load', '-q', '-i', path.join(SHARED, 'fixtures', 'peers', f)]);
    }
    for (const f of FIXTURES) await baleAsOk(u, us.root, ['load', '-q', '-i', path.join(us.dir, f)]);
  });
  test.after(async () => {
    for (const line of (await baleAs(u, us.root, ['ps', '-aq'])).stdout.split('\n').filter(Boolean)) await baleAs(u, us.root, ['rm', '-f', line]);
    us.cleanup();
    host.cleanup();
  });

  test('the user is root inside, and ids from 1 up are its /etc/subuid and /etc/subgid range', async () => {
    const out = await baleAsOk(u, us.root, ['run', '--rm', IMAGE, 'sh', '-c', 'id -u; cat /proc/self/uid_map /proc/self/gid_map']);
    const [start, count] = subRange('/etc/subuid', u.name);
    const [gstart, gcount] = subRange('/etc/subgid', u.name);
    const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    assert.equal(lines, ['0', `0 ${u.uid} 1`, `1 ${start} ${count}`, `0 ${u.gid} 1`, `1 ${gstart} ${gcount}`]);
  });

  test('layers unpack with their owners: a file of uid 1000 and a setuid-root binary keep theirs', async () => {
    const out = await baleAsOk(u, us.root, ['run', '--rm', IMAGE, 'stat', '-c', '%u:%g %a %n', '/data/owned-by-1000.txt', '/data/suid-tool', '/home/user']);
    assert.is(out, '1000:1000 644 /data/owned-by-1000.txt\n0:0 4755 /data/suid-tool\n1000:1000 755 /home/user\n');
    // seen from the host, uid 1000 is the range's 1000th id; uid 0 the user itself
    const [start] = subRange('/etc/subuid', u.name);
    const found = spawnSync('find', [path.join(us.root, 'layers'), '-name', 'owned-by-1000.txt', '-printf', '%U %m\n'], { encoding: 'utf8' });
    assert.match(found.stdout, new RegExp(`^${start + 999} 644$`, 'm'));
    assert.match(spawnSync('find', [path.join(us.root, 'layers'), '-name', 'suid-tool', '-printf', '%U %m\n'], { encoding: 'utf8' }).stdout, new RegExp(`^${u.uid} 4755$`, 'm'));
  });

  test('export and squash of each fixture give the same bytes as root\'s', async () => {
    const ids = (await baleOk(rootStore, ['images', '-q', '--no-trunc'])).split('\n').filter(Boolean);
    assert.is(ids.length, FIXTURES.length);
    for (const id of ids) {
      const out = path.join(us.dir, 'export.tar');
      const mine = path.join(host.dir, 'export.tar');
      await baleAsOk(u, us.root, ['export', '-o', out, id]);
      await baleOk(rootStore, ['export', '-o', mine, id]);
      assert.ok(readFileSync(out).equals(readFileSync(mine)), `${id}: export differs from root's`);
      await baleAsOk(u, us.root, ['squash', id, 'squashed']);
      await baleOk(rootStore, ['squash', id, 'squashed']);
      const fmt = ['inspect', '--format', '{{json .RootFS.Layers}}', 'squashed'];
      assert.is(await baleAsOk(u, us.root, fmt), await baleOk(rootStore, fmt), `${id}: squashed layer differs from root's`);
    }
  });

  // Changes with fixed times (every entry but a deleted file's whiteout, whose time is when it was made).
  const CHANGES = [
    'set -e',
    'echo x > /data/f; chown 1000:1000 /data/f; chmod 4755 /data/f; mkfifo /data/p; ln /data/f /data/f-link',
    'rm -rf /data/replace-me; mkdir /data/replace-me; echo y > /data/replace-me/z; chown 33:44 /data/replace-me',
    'touch -h -d @1000000 /data/f /data/p /data/replace-me/z /data/replace-me /data',
  ].join('; ');

  test('commit and diff of the same changes: the same layer and listing as root\'s (owners, setuid, opaque dir)', async () => {
    await baleAsOk(u, us.root, ['run', '--name', 'chg', IMAGE, 'sh', '-c', CHANGES]);
    await baleOk(rootStore, ['run', '--name', 'chg', IMAGE, 'sh', '-c', CHANGES]);
    try {
      const diff = await baleAsOk(u, us.root, ['diff', 'chg']);
      assert.is(diff, await baleOk(rootStore, ['diff', 'chg']));
      assert.match(diff, /^C \/data\/replace-me$/m);
      assert.match(diff, /^D \/data\/replace-me\/new.txt$/m);
      await baleAsOk(u, us.root, ['commit', 'chg', 'committed']);
      await baleOk(rootStore, ['commit', 'chg', 'committed']);
      const fmt = ['inspect', '--format', '{{json .RootFS.Layers}}', 'committed'];
      const layers = await baleAsOk(u, us.root, fmt);
      assert.is(layers, await baleOk(rootStore, fmt));
      // the opaque directory hides the image's old contents when the layer is unpacked again
      const run = await baleAsOk(u, us.root, ['run', '--rm', 'committed', 'sh', '-c', 'ls -A /data/replace-me; stat -c "%u:%g %a" /data/f /data/replace-me']);
      assert.is(run, 'z\n1000:1000 4755\n33:44 755\n');
    } finally {
      await baleAs(u, us.root, ['rm', '-f', 'chg']);
      await baleOk(rootStore, ['rm', '-f', 'chg']);
    }
  });

  test('a deleted file: the same whiteout as root\'s', async () => {
    const script = 'rm /data/alpha.txt';
    await baleAsOk(u, us.root, ['run', '--name', 'del', IMAGE, 'sh', '-c', script]);
    try {
      assert.is(await baleAsOk(u, us.root, ['diff', 'del']), 'C /data\nD /data/alpha.txt\n');
      await baleAsOk(u, us.root, ['commit', 'del', 'deleted']);
      const out = await baleAsOk(u, us.root, ['run', '--rm', 'deleted', 'sh', '-c', 'ls /data/alpha.txt 2>&1; cat /data/alpha-hardlink.txt']);
      assert.match(out, /No such file/);
      assert.match(out, /alpha/);
    } finally {
      await baleAs(u, us.root, ['rm', '-f', 'del']);
    }
  });

  test('create, start -a, run -d, exec (as root and as uid 1000 of the image), stop, kill and rm', async () => {
    const id = (await baleAsOk(u, us.root, ['create', '--name', 'cr', IMAGE, 'sh', '-c', 'echo started; id -u'])).trim();
    assert.is(await baleAsOk(u, us.root, ['start', '-a', 'cr']), 'started\n0\n');
    await baleAsOk(u, us.root, ['rm', 'cr']);
    assert.not.ok(storeListing(us.root).some((l) => l.includes(id)), 'the container dir is gone');

    await baleAsOk(u, us.root, ['run', '-d', '--name', 'bg', IMAGE, 'sleep', '300']);
    const pid = await waitFor('bg running', async () => {
      const rows = (await baleAsOk(u, us.root, ['ps', '--format', 'json'])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Names: string; Pid: number | null });
      return rows.find((r) => r.Names === 'bg')?.Pid ?? undefined;
    });
    // on the host the container's root is the user
    assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${u.uid}\\s`, 'm'));
    assert.is(await baleAsOk(u, us.root, ['exec', 'bg', 'sh', '-c', 'id -u; echo hi > /tmp/x; cat /tmp/x']), '0\nhi\n');
    assert.is(await baleAsOk(u, us.root, ['exec', '-u', '1000', 'bg', 'id', '-u']), '1000\n');
    const sleeper = (await baleAs(u, us.root, ['exec', '-d', '-u', '1000', 'bg', 'sleep', '200'])).code;
    assert.is(sleeper, 0);
    await baleAsOk(u, us.root, ['stop', '-t', '1', 'bg']);
    assert.match(await baleAsOk(u, us.root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^bg Exited/m);
    await baleAsOk(u, us.root, ['start', 'bg']);
    await baleAsOk(u, us.root, ['kill', 'bg']);
    await baleAsOk(u, us.root, ['rm', '-f', 'bg']);
    assert.is((await baleAsOk(u, us.root, ['ps', '-aq'])).trim(), '');
    // rmi and gc work on files owned by ids of the range (outside the namespace the user could not remove them)
    await baleAsOk(u, us.root, ['rmi', 'committed', 'deleted']);
    await baleAsOk(u, us.root, ['gc']);
  });

  test('image verbs run on the host: no namespace until a verb needs one; a layer loaded there unpacks inside', async () => {
    const s = userStore(u);
    try {
      copyFileSync(path.join(SHARED, 'fixtures', 'peers', 'docker-layered.tar'), path.join(s.dir, 'layered.tar'));
      const imageVerbs = async () => {
        await baleAsOk(u, s.root, ['load', '-q', '-i', path.join(s.dir, 'layered.tar')]);
        await baleAsOk(u, s.root, ['tag', IMAGE, 'other:1']);
        assert.match(await baleAsOk(u, s.root, ['images']), /^other +1 /m);
        await baleAsOk(u, s.root, ['inspect', '--format', '{{.Id}}', 'other:1']);
        await baleAsOk(u, s.root, ['history', 'other:1']);
        await baleAsOk(u, s.root, ['save', '-o', path.join(s.dir, 'saved.tar'), 'other:1']);
        await baleAsOk(u, s.root, ['rmi', 'other:1']);
        await baleAsOk(u, s.root, ['image', 'ls', '-q']);
      };
      await imageVerbs();
      assert.not.ok(existsSync(path.join(s.root, 'locks', 'userns.pid')), 'no bale entered a user namespace');
      // run enters, and unpacks the layers the host's load wrote, with the owners of the range
      assert.is(await baleAsOk(u, s.root, ['run', '--rm', IMAGE, 'stat', '-c', '%u', '/data/owned-by-1000.txt']), '1000\n');
      const pid = pausePid(s.root)!;
      assert.is(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'bale-init\0pause\0');
      // with the pause process gone, image verbs still make none (a re-exec would make one)
      process.kill(pid, 'SIGKILL');
      await waitFor('the pause process gone', async () => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === '' || undefined;
        } catch {
          return true;
        }
      });
      await imageVerbs();
      assert.is(pausePid(s.root), pid, 'the pid file still names the dead pause process');
      assert.is(await baleAsOk(u, s.root, ['run', '--rm', IMAGE, 'id', '-u']), '0\n');
      assert.is.not(pausePid(s.root), pid, 'run made a new one');
    } finally {
      s.cleanup();
    }
  });

  test('the container\'s root is the driver\'s mount, its fuse-overlayfs daemon out of the container\'s sight', async () => {
    const fuse = env['BALE_OVERLAY'] === 'fuse-overlayfs';
    const out = await baleAsOk(u, us.root, ['run', '--rm', IMAGE, 'sh', '-c', 'grep " / " /proc/mounts | cut -d" " -f3; ps -o comm | grep -c fuse || true']);
    assert.is(out, `${fuse ? 'fuse.fuse-overlayfs' : 'overlay'}\n0\n`);
    assert.equal(fuseDaemons(u), [], 'none outlives its container');
  });

  if (env['BALE_OVERLAY'] === 'fuse-overlayfs') {
    test('no fuse-overlayfs daemon or mount is left when the container or its helper is killed with SIGKILL', async () => {
      for (const victim of ['container', 'helper'] as const) {
        const id = (await baleAsOk(u, us.root, ['run', '-d', IMAGE, 'sleep', '300'])).trim();
        try {
          const pid = await waitFor('the container running', async () => Number((await baleAsOk(u, us.root, ['inspect', '--format', '{{.State.Pid}}', id])).trim()) || undefined);
          assert.is(fuseDaemons(u).length, 1, 'one daemon serves its root');
          const helper = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
          process.kill(victim === 'container' ? pid : helper, 'SIGKILL');
          await waitFor(`the daemon gone after the ${victim} was killed`, async () => (fuseDaemons(u).length === 0 ? true : undefined), 20_000);
          assert.not.match(readFileSync('/proc/self/mountinfo', 'utf8'), id, 'no mount of it on the host');
          // pid 1 dies with its helper (PDEATHSIG): nothing of the container runs on, unrecorded
          await waitFor(`pid 1 gone after the ${victim} was killed`, async () => (processGone(pid) ? true : undefined), 20_000);
        } finally {
          await baleAs(u, us.root, ['rm', '-f', id]);
        }
      }
    });
  }

  test('every bale of a store shares one user namespace, held by a pause process', async () => {
    const a = await baleAsOk(u, us.root, ['run', '--rm', IMAGE, 'readlink', '/proc/self/ns/user']);
    const b = await baleAsOk(u, us.root, ['run', '--rm', IMAGE, 'readlink', '/proc/self/ns/user']);
    assert.is(a, b);
    const pid = pausePid(us.root)!;
    assert.is(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), 'bale-init\0pause\0');
  });

  test('resource limits are refused rootless with one line, and the store is unchanged', async () => {
    const before = storeListing(us.root);
    const r = await baleAs(u, us.root, ['run', '--rm', '--memory', '64m', IMAGE, 'true']);
    assert.is(r.code, 125);
    assert.is(r.stderr, 'bale: --memory, --memory-swap, --cpus and --pids-limit need cgroups: rootless containers get none (the host delegates no cgroup v2 subtree to this user)\n');
    assert.equal(storeListing(us.root), before);
  });

  test('no subordinate ids: only the user\'s own ids are mapped, said once; files of other owners become the user\'s', async () => {
    const n = user(NOSUBID_USER);
    const s = userStore(n);
    try {
      copyFileSync(path.join(SHARED, 'fixtures', 'peers', 'docker-layered.tar'), path.join(s.dir, 'layered.tar'));
      const load = await baleAs(n, s.root, ['load', '-q', '-i', path.join(s.dir, 'layered.tar')]);
      assert.is(load.code, 0, load.stderr);
      assert.is(load.stderr, '', 'load runs on the host, so no namespace is made yet');
      const stat = ['run', '--rm', IMAGE, 'stat', '-c', '%u:%g %a', '/data/owned-by-1000.txt', '/data/suid-tool'];
      const first = await baleAs(n, s.root, stat);
      assert.is(first.stderr, `bale: note: no range for ${n.name} in /etc/subuid and /etc/subgid: only your own ids are mapped, so files owned by other ids become yours (uid 0 in containers)\n`);
      assert.is(first.stdout, '0:0 644\n0:0 4755\n');
      const out = await baleAs(n, s.root, stat);
      assert.is(out.stderr, '', 'the note comes once, when the namespace is made');
      assert.is(out.stdout, '0:0 644\n0:0 4755\n');
      const as1000 = await baleAs(n, s.root, ['run', '--rm', '-u', '1000', IMAGE, 'true']);
      assert.is(as1000.code, 125);
      assert.match(as1000.stderr, /setgid 1000: Invalid argument \(not mapped in bale's user namespace: give your user a range in \/etc\/subuid and \/etc\/subgid\)/);
    } finally {
      s.cleanup();
    }
  });

  test.run();
}
