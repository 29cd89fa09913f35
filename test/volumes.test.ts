// Volumes, bind mounts, tmpfs, --read-only and --env-file, in real containers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bale, baleOk, tmpDir } from './helpers.js';
import { busyboxEntries, seedBusybox, seedImage, type Entry } from './images.js';
import { parseEnvFile } from '../src/runtime/env-file.js';
import { mountSpecs } from '../src/runtime/mounts.js';

interface Row {
  ID: string;
  Names: string;
}

async function containers(root: string): Promise<Row[]> {
  const out = await baleOk(root, ['ps', '-a', '--no-trunc', '--format', 'json']);
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
}

/** A fresh store and a host dir for bind sources; both go (with every container) after the test. */
function withStore(fn: (root: string, host: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const t = tmpDir();
    const h = tmpDir('bale-host-');
    try {
      await fn(t.dir, h.dir);
    } finally {
      for (const c of await containers(t.dir).catch(() => [] as Row[])) await bale(t.dir, ['rm', '-f', c.ID]);
      t.cleanup();
      h.cleanup();
    }
  };
}

function volumes(root: string): string[] {
  return existsSync(path.join(root, 'volumes')) ? readdirSync(path.join(root, 'volumes')).sort() : [];
}

test('flags: docker\'s forms parse; bad specs get docker\'s one-line messages', () => {
  const m = mountSpecs({
    volume: ['/srv/a:/a:ro', 'data:/d', '/anon/'],
    mount: ['type=bind,src=/srv/b,dst=/b,readonly', 'source=named,target=/n,volume-nocopy', 'type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=700', '"type=bind","source=/srv/c","target=/c","ro=false"'],
    tmpfs: ['/scratch:size=64k,exec'],
  });
  assert.equal(m.map((x) => [x.type, x.source, x.target, x.readOnly]), [
    ['bind', '/srv/a', '/a', true],
    ['volume', 'data', '/d', false],
    ['volume', '', '/anon', false],
    ['bind', '/srv/b', '/b', true],
    ['volume', 'named', '/n', false],
    ['tmpfs', '', '/t', false],
    ['bind', '/srv/c', '/c', false],
    ['tmpfs', '', '/scratch', false],
  ]);
  assert.is(m[4]!.noCopy, true);
  assert.is(m[5]!.tmpfsSize, 1024 * 1024);
  assert.is(m[5]!.tmpfsMode, 0o700);
  assert.is(m[7]!.tmpfsSize, 64 * 1024);
  assert.equal(m[7]!.tmpfsFlags, ['exec']);
  const bad: [Partial<Record<'volume' | 'mount' | 'tmpfs', string[]>>, RegExp][] = [
    [{ volume: ['/srv:rel'] }, /^invalid volume specification: '\/srv:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute$/],
    [{ volume: ['data:/x', '/srv:/x/'] }, /^Duplicate mount point: \/x$/],
    [{ volume: ['/srv:/x:rx'] }, /invalid mode: rx/],
    [{ volume: ['bad name:/x'] }, /includes invalid characters for a local volume name/],
    [{ volume: ['/srv:/'] }, /destination can't be '\/'/],
    [{ mount: ['type=bind,target=/x'] }, /^invalid argument "type=bind,target=\/x" for "--mount" flag: invalid mount config for type "bind": field Source must not be empty$/],
    [{ mount: ['type=bind,source=/s,target=x'] }, /mount path must be absolute/],
    [{ mount: ['type=volume,target=/x,tmpfs-size=1'] }, /cannot mix 'tmpfs-\*' options with mount type 'volume'/],
    [{ mount: ['type=tmpfs,source=x,target=/x'] }, /field Source must not be specified/],
    [{ mount: ['type=bind,source=/s,target=/x,colour=red'] }, /unexpected key 'colour'/],
    [{ tmpfs: ['/x:size=lots'] }, /invalid size: 'lots'/],
    [{ volume: ['/a\tb:/x'] }, /tabs and newlines are not allowed/],
    [{ tmpfs: ['/x:dev'] }, /dev is not allowed/],
  ];
  for (const [flags, re] of bad) {
    assert.throws(() => mountSpecs({ volume: [], mount: [], tmpfs: [], ...flags }), re, JSON.stringify(flags));
  }
});

test('env files: K=V as is, K from the host, comments and blank lines skipped, bad names refused', () => {
  const text = '# a comment\n\nA=1\n  B=two words \nQ="quoted"\nHOSTVAR\nMISSING\nE=\n';
  assert.equal(parseEnvFile(text, 'f', { HOSTVAR: 'h' }), ['A=1', 'B=two words ', 'Q="quoted"', 'HOSTVAR=h', 'E=']);
  assert.throws(() => parseEnvFile('=x\n', 'f', {}), /no variable name on line '=x'/);
  assert.throws(() => parseEnvFile('A B=x\n', 'f', {}), /variable 'A B' contains whitespaces/);
});

test(
  'create refuses bad mounts before anything is made: missing --mount bind source, bad specs (exit 2)',
  withStore(async (root, host) => {
    await seedBusybox(root);
    const missing = path.join(host, 'nope');
    const r = await bale(root, ['create', '-v', '/anon', '--mount', `type=bind,source=${missing},target=/x`, 'busybox']);
    assert.is(r.code, 125);
    assert.is(r.stderr, `bale: invalid mount config for type "bind": bind source path does not exist: ${missing}\n`);
    const rel = await bale(root, ['run', '-v', 'data:rel', 'busybox', 'true']);
    assert.is(rel.code, 125);
    assert.is(rel.stderr.split('\n').length, 2, 'one line');
    const dup = await bale(root, ['run', '-v', 'data:/x', '--tmpfs', '/x', 'busybox', 'true']);
    assert.is(dup.stderr, 'bale: Duplicate mount point: /x\n');
    assert.equal(await containers(root), []);
    assert.equal(volumes(root), [], 'no volume made for a refused container');
    // -v makes a missing host dir, as docker does
    await baleOk(root, ['run', '--rm', '-v', `${missing}:/x`, 'busybox', 'touch', '/x/made']);
    assert.ok(existsSync(path.join(missing, 'made')));
  }),
);

test(
  'bind mounts show and write host files; :ro refuses writes, and root inside cannot remount it rw',
  withStore(async (root, host) => {
    await seedBusybox(root);
    writeFileSync(path.join(host, 'in'), 'from host\n');
    writeFileSync(path.join(host, 'single'), 'one file\n');
    const out = await baleOk(root, ['run', '-v', `${host}:/h`, '--mount', `type=bind,src=${host}/single,dst=/etc/single`, 'busybox', 'sh', '-c', 'cat /h/in /etc/single; echo from container > /h/out']);
    assert.is(out, 'from host\none file\n');
    assert.is(readFileSync(path.join(host, 'out'), 'utf8'), 'from container\n');
    const ro = await bale(root, [
      'run', '-v', `${host}:/h:ro`, '--mount', `type=bind,source=${host},target=/m,readonly`, 'busybox', 'sh', '-c',
      'echo x > /h/w || echo h-refused; touch /m/w || echo m-refused; mount -o remount,rw /h || echo remount-refused; mount -o remount,rw,bind /h 2>/dev/null || echo bind-remount-refused; umount /h 2>/dev/null || echo umount-refused; echo y > /h/w || echo still-refused; grep " /h " /proc/mounts | cut -d" " -f4 | cut -d, -f1',
    ]);
    assert.is(ro.stdout, 'h-refused\nm-refused\nremount-refused\nbind-remount-refused\numount-refused\nstill-refused\nro\n');
    assert.match(ro.stderr, /\/h\/w: Read-only file system/, 'EROFS');
    assert.not.ok(existsSync(path.join(host, 'w')));
    // the host's own mount of that dir stays writable
    writeFileSync(path.join(host, 'after'), 'ok');
  }),
);

test(
  'a named volume gets the image\'s files (owners, modes, symlinks not followed) on first use and keeps data across containers',
  withStore(async (root) => {
    const seeded: Entry[] = [
      { name: 'data/', uid: 1000, gid: 1000, mode: 0o750 },
      { name: 'data/seed', content: 'from image\n', uid: 1000, gid: 1000, mode: 0o640 },
      { name: 'data/sub/' },
      { name: 'data/sub/deep', content: 'deep\n' },
      { name: 'data/passwd-link', type: 'symlink', linkname: '/etc/passwd' },
    ];
    await seedImage(root, { layers: [busyboxEntries(), seeded], tags: ['app:1'] });
    const first = await baleOk(root, ['run', '--name', 'one', '-v', 'store1:/data', 'app:1', 'sh', '-c', 'stat -c "%u:%g %a" /data /data/seed; cat /data/sub/deep; echo written > /data/new']);
    assert.is(first, '1000:1000 750\n1000:1000 640\ndeep\n');
    const data = path.join(root, 'volumes', 'store1', '_data');
    assert.is(readFileSync(path.join(data, 'new'), 'utf8'), 'written\n');
    assert.is(readlinkSync(path.join(data, 'passwd-link')), '/etc/passwd', 'copied as a symlink');
    assert.ok(lstatSync(path.join(data, 'passwd-link')).isSymbolicLink());
    assert.is(statSync(data).mode & 0o7777, 0o750);
    // a second container (of another image) sees what the first left; no copy-up into a used volume
    await seedBusybox(root, { layers: [[{ name: 'data/' }, { name: 'data/other', content: 'x' }]] });
    const second = await baleOk(root, ['run', '--name', 'two', '--mount', 'source=store1,target=/data', 'busybox', 'sh', '-c', 'cat /data/new /data/seed; ls /data | tr "\\n" " "']);
    assert.is(second, 'written\nfrom image\nnew passwd-link seed sub ');
    // two containers starting at once on one new volume: both run, the image's files copied once
    const both = await Promise.all([1, 2].map(() => bale(root, ['run', '--rm', '-v', 'race:/data', 'app:1', 'cat', '/data/seed'])));
    for (const r of both) assert.is(r.stdout + r.stderr, 'from image\n');
    assert.equal(readdirSync(path.join(root, 'volumes', 'race', '_data')).sort(), ['passwd-link', 'seed', 'sub']);
    // volume-nocopy leaves a new volume empty
    assert.is(await baleOk(root, ['run', '--rm', '-v', 'empty:/data:nocopy', 'app:1', 'ls', '-A', '/data']), '');
    // in use by a stopped container: refused; free once both are gone
    const busy = await bale(root, ['volume', 'rm', 'store1']);
    assert.is(busy.code, 1);
    assert.match(busy.stderr, /^bale: remove store1: volume is in use - \[[a-f0-9]{64}, [a-f0-9]{64}\]\n$/);
    assert.ok(existsSync(data));
    await baleOk(root, ['rm', 'one', 'two']);
    assert.is(await baleOk(root, ['volume', 'rm', 'store1']), 'store1\n');
    assert.not.ok(existsSync(path.join(root, 'volumes', 'store1')));
  }),
);

test(
  'an image\'s VOLUME gets an anonymous volume holding the image\'s files; a flag at the same path wins',
  withStore(async (root) => {
    await seedImage(root, {
      layers: [busyboxEntries(), [{ name: 'var/' }, { name: 'var/db/' }, { name: 'var/db/seed', content: 'seed\n' }]],
      config: { Env: ['PATH=/bin'], Cmd: ['sh'], Volumes: { '/var/db': {} } },
      tags: ['db:1'],
    });
    await baleOk(root, ['run', '--name', 'db', 'db:1', 'sh', '-c', 'echo row > /var/db/table']);
    const vols = volumes(root);
    assert.is(vols.length, 1);
    const data = path.join(root, 'volumes', vols[0]!, '_data');
    assert.equal(readdirSync(data).sort(), ['seed', 'table']);
    const id = (await containers(root)).find((c) => c.Names === 'db')!.ID;
    assert.not.ok(existsSync(path.join(root, 'containers', id, 'upper', 'var', 'db', 'table')), 'the write went to the volume, not the container');
    assert.is(await baleOk(root, ['run', '--rm', '-v', 'mine:/var/db', 'db:1', 'ls', '/var/db']), 'seed\n');
    assert.equal(volumes(root), ['mine', vols[0]!].sort(), 'no anonymous volume where a flag mounts');
    await baleOk(root, ['rm', '-v', 'db']);
    assert.equal(volumes(root), ['mine']);
  }),
);

test(
  'image symlinks at a mount target (to /, ../../.., /etc) land the mount inside the container, never on the host; not over the root, /proc or /sys; copy-up stays on the image',
  withStore(async (root, host) => {
    writeFileSync(path.join(host, 'marker'), 'mounted\n');
    const victim = mkdtempSync('/tmp/bale-victim-');
    const etcName = `bale-victim-${path.basename(victim).slice(-6)}`;
    try {
      const rel = victim.slice(1); // tmp/bale-victim-XXXXXX
      await seedBusybox(root, {
        layers: [[
          { name: 'to-root', type: 'symlink', linkname: '/' },
          { name: 'up', type: 'symlink', linkname: '../../../../../../../../../../..' },
          { name: 'to-etc', type: 'symlink', linkname: '/etc' },
          { name: 'to-proc', type: 'symlink', linkname: '/proc' },
          { name: 'to-dev', type: 'symlink', linkname: '../dev' },
          { name: 'tmp/', mode: 0o1777 },
          { name: `${rel}/` },
        ]],
      });
      const out = await baleOk(root, [
        'run', '--name', 'sym',
        '-v', `${host}:/to-root/${rel}/new1:ro`,
        '-v', `${host}:/up/${rel}/new2`,
        '--mount', `type=bind,src=${host},dst=/to-etc/${etcName}`,
        '--tmpfs', `/up/${rel}/new3`,
        'busybox', 'sh', '-c', `cat ${victim}/new1/marker ${victim}/new2/marker /etc/${etcName}/marker; grep -c " ${victim}/new3 tmpfs" /proc/mounts`,
      ]);
      assert.is(out, 'mounted\nmounted\nmounted\n1\n');
      assert.equal(readdirSync(victim), [], 'nothing made in the host dir the links point at');
      assert.not.ok(existsSync(`/etc/${etcName}`), 'nothing made in the host /etc');
      const id = (await containers(root)).find((c) => c.Names === 'sym')!.ID;
      const upper = path.join(root, 'containers', id, 'upper');
      assert.equal(readdirSync(path.join(upper, rel)).sort(), ['new1', 'new2', 'new3'], 'mount points went to the container\'s upper layer');
      assert.ok(existsSync(path.join(upper, 'etc', etcName)));
      for (const l of readdirSync(path.join(root, 'layers')).filter((n) => n !== 'l')) {
        assert.not.ok(existsSync(path.join(root, 'layers', l, 'diff', rel, 'new1')), 'image layers untouched');
      }
      // a target that is itself a link to / would cover the whole root: refused
      const whole = await bale(root, ['run', '-v', `${host}:/to-root`, 'busybox', 'true']);
      assert.is(whole.code, 125);
      assert.match(whole.stderr, /mount point \/to-root resolves to the container's root/);
      // nor one that lands in /proc or /sys
      const proc = await bale(root, ['run', '-v', 'v:/to-proc/sys', 'busybox', 'true']);
      assert.is(proc.code, 125);
      assert.match(proc.stderr, /mount point \/to-proc\/sys is in \/proc or \/sys/);
      // a volume whose target a link sends to /dev gets none of the devices: copy-up stays on the image's file system
      await baleOk(root, ['run', '--rm', '-v', 'devvol:/to-dev', 'busybox', 'true']);
      assert.equal(readdirSync(path.join(root, 'volumes', 'devvol', '_data')), []);
    } finally {
      rmSync(victim, { recursive: true, force: true });
      rmSync(`/etc/${etcName}`, { recursive: true, force: true });
    }
  }),
);

test(
  '--tmpfs: the size is a limit, nosuid,nodev,noexec by default; --mount tmpfs-mode sets the mode',
  withStore(async (root) => {
    await seedBusybox(root);
    const r = await bale(root, [
      'run', '--tmpfs', '/scratch:size=1m', '--mount', 'type=tmpfs,dst=/private,tmpfs-mode=700', 'busybox', 'sh', '-c',
      'dd if=/dev/zero of=/scratch/big bs=1k count=2000 2>/tmp/dd.err; echo rc=$?; cat /tmp/dd.err >&2; wc -c < /scratch/big; grep " /scratch " /proc/mounts | cut -d" " -f4; stat -c %a /private /scratch',
    ]);
    const lines = r.stdout.trim().split('\n');
    assert.is(lines[0], 'rc=1');
    assert.is(Number(lines[1]), 1024 * 1024, 'stopped at 1 MiB');
    assert.match(lines[2]!, /^rw,nosuid,nodev,noexec,.*size=1024k/);
    assert.equal(lines.slice(3), ['700', '1777']);
    assert.match(r.stderr, /No space left on device/);
  }),
);

test(
  'binds, volumes and tmpfs are nodev: a block device root makes there does not open the host disk',
  withStore(async (root, host) => {
    await seedBusybox(root);
    const st = statSync('/');
    const major = Math.floor(st.dev / 256) & 0xfff;
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    const script = ['/h', '/v', '/t'].map((d) => `mknod ${d}/disk b ${major} ${minor} && echo made; head -c 1 ${d}/disk >/dev/null && echo OPENED ${d}`).join('; ');
    const r = await bale(root, ['run', '--rm', '-v', `${host}:/h`, '-v', 'v:/v', '--tmpfs', '/t', 'busybox', 'sh', '-c', script]);
    assert.is(r.stdout, 'made\nmade\nmade\n', r.stdout + r.stderr);
    assert.match(r.stderr, /Permission denied/);
    assert.match(await baleOk(root, ['run', '--rm', '-v', `${host}:/h`, 'busybox', 'grep', ' /h ', '/proc/mounts']), /nodev/);
  }),
);

test(
  '--read-only: / refuses writes; volumes, binds, tmpfs and /dev/shm stay writable',
  withStore(async (root, host) => {
    await seedBusybox(root);
    const script = 'touch /root/x 2>/dev/null && echo root-rw || echo root-ro; touch /v/x /h/x /t/x /dev/shm/x && echo others-rw';
    const ro = await baleOk(root, ['run', '--rm', '--read-only', '-v', 'v:/v', '-v', `${host}:/h`, '--tmpfs', '/t', 'busybox', 'sh', '-c', script]);
    assert.is(ro, 'root-ro\nothers-rw\n');
    const rw = await baleOk(root, ['run', '--rm', '-v', 'v:/v', '-v', `${host}:/h`, '--tmpfs', '/t', 'busybox', 'sh', '-c', script]);
    assert.is(rw, 'root-rw\nothers-rw\n', 'without --read-only the same script writes /');
    assert.ok(existsSync(path.join(host, 'x')));
  }),
);

test(
  '--env-file sets variables (then -e overrides); a missing or bad file is refused',
  withStore(async (root, host) => {
    await seedBusybox(root);
    const f = path.join(host, 'env');
    writeFileSync(f, '# settings\nA=from file\n\nB=b\nFROM_HOST\nC=c\n');
    const g = path.join(host, 'env2');
    writeFileSync(g, 'C=second file\n');
    const out = await baleOk(root, ['run', '--rm', '--env-file', f, '--env-file', g, '-e', 'B=flag', 'busybox', 'sh', '-c', 'echo "$A|$B|$C|$FROM_HOST"'], { env: { FROM_HOST: 'h' } });
    assert.is(out, 'from file|flag|second file|h\n');
    const missing = await bale(root, ['run', '--rm', '--env-file', path.join(host, 'none'), 'busybox', 'true']);
    assert.is(missing.stderr, `bale: open ${path.join(host, 'none')}: no such file or directory\n`);
    writeFileSync(f, '=oops\n');
    const bad = await bale(root, ['run', '--rm', '--env-file', f, 'busybox', 'true']);
    assert.is(bad.code, 125);
    assert.match(bad.stderr, /no variable name on line '=oops'/);
  }),
);

test(
  'volume verb: create, ls (-q, json), inspect (-f), rm, prune; rm -v and --rm drop anonymous volumes; gc keeps volumes',
  withStore(async (root) => {
    await seedBusybox(root);
    const help = await bale(root, ['volume', '--help']);
    assert.is(help.code, 0);
    assert.match(help.stdout, /^Usage: bale volume COMMAND/);
    for (const sub of ['create', 'ls', 'inspect', 'rm', 'prune']) assert.match(await baleOk(root, ['volume', sub, '--help']), new RegExp(`^Usage: bale volume ${sub}`));
    assert.match(await baleOk(root, ['--help']), /volume +Manage volumes/);
    assert.is(await baleOk(root, ['volume', 'create', '--label', 'team=db', 'named']), 'named\n');
    assert.is(await baleOk(root, ['volume', 'create', 'named']), 'named\n', 'an existing name is fine');
    const bad = await bale(root, ['volume', 'create', 'a/b']);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /includes invalid characters for a local volume name/);
    const anon = (await baleOk(root, ['volume', 'create'])).trim();
    assert.match(anon, /^[a-f0-9]{64}$/);
    assert.is(await baleOk(root, ['volume', 'ls', '-q']), [anon, 'named'].sort().join('\n') + '\n');
    assert.match(await baleOk(root, ['volume', 'ls']), /^DRIVER {4}VOLUME NAME\nlocal {5}/);
    const json = (await baleOk(root, ['volume', 'ls', '--format', 'json'])).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    assert.equal(json.find((v) => v['Name'] === 'named'), { Driver: 'local', Labels: 'team=db', Mountpoint: path.join(root, 'volumes/named/_data'), Name: 'named', Scope: 'local' });
    const ins = JSON.parse(await baleOk(root, ['volume', 'inspect', 'named'])) as Record<string, unknown>[];
    assert.equal(Object.keys(ins[0]!).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    assert.equal(ins[0]!['Labels'], { team: 'db' });
    assert.is(await baleOk(root, ['volume', 'inspect', '-f', '{{.Mountpoint}}', 'named']), path.join(root, 'volumes/named/_data') + '\n');
    const none = await bale(root, ['volume', 'inspect', 'ghost']);
    assert.is(none.code, 1);
    assert.match(none.stderr, /no such volume/);
    // gc never removes volumes
    await baleOk(root, ['gc', '-q']);
    assert.equal(volumes(root), [anon, 'named'].sort());
    // prune: unused anonymous ones (made for a container's -v /path) only, -a for all unused
    await baleOk(root, ['create', '--name', 'c0', '-v', '/anon', 'busybox', 'true']);
    const made = volumes(root).filter((v) => v !== anon && v !== 'named');
    assert.is(made.length, 1);
    assert.is(await baleOk(root, ['volume', 'prune']), 'Total reclaimed space: 0B\n', 'still used by c0');
    await baleOk(root, ['rm', 'c0']);
    assert.is(await baleOk(root, ['volume', 'prune', '-f']), `Deleted Volumes:\n${made[0]}\n\nTotal reclaimed space: 0B\n`);
    assert.equal(volumes(root), [anon, 'named'].sort(), '`volume create` without a name is not anonymous');
    // rm -v removes the container's anonymous volume, never a named one
    await baleOk(root, ['create', '--name', 'user', '-v', 'named:/n', 'busybox', 'true']);
    assert.is(await baleOk(root, ['volume', 'ls', '-q', '-f', 'dangling=true']), anon + '\n');
    assert.is(await baleOk(root, ['volume', 'ls', '-q', '--filter', 'dangling=false', '-f', 'name=am']), 'named\n');
    assert.is((await bale(root, ['volume', 'ls', '-f', 'colour=red'])).code, 2);
    await baleOk(root, ['rm', 'user']);
    await baleOk(root, ['volume', 'rm', anon]);
    await baleOk(root, ['create', '--name', 'c1', '-v', '/anon', '-v', 'named:/n', 'busybox', 'true']);
    assert.is(volumes(root).length, 2);
    await baleOk(root, ['rm', '-v', 'c1']);
    assert.equal(volumes(root), ['named']);
    await baleOk(root, ['run', '--rm', '-v', '/anon', 'busybox', 'touch', '/anon/x']);
    assert.equal(volumes(root), ['named'], '--rm drops the anonymous volume too');
    await baleOk(root, ['create', '--name', 'c2', '-v', '/anon', 'busybox', 'true']);
    await baleOk(root, ['rm', 'c2']);
    assert.is(volumes(root).length, 2, 'plain rm keeps it');
    assert.match(await baleOk(root, ['volume', 'prune', '-a']), /^Deleted Volumes:\n/);
    assert.equal(volumes(root), []);
    mkdirSync(path.join(root, 'volumes', 'not a volume'));
    assert.is(await baleOk(root, ['volume', 'ls', '-q']), '', 'stray dirs are not volumes');
  }),
);

test.run();
