// Where a docker user would notice a difference, docker itself is the oracle: a private dockerd
// (test/dockerd.ts) loads what bale writes, runs the same commands, and both outputs are compared.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { packEntries } from '../src/layer/pack.js';
import { readTar } from '../src/layer/tar-reader.js';
import { walkDir } from '../src/layer/tree.js';
import { containerPaths, findContainer } from '../src/runtime/container.js';
import { Store } from '../src/store/store.js';
import { baleOk, REPO, tmpDir } from './helpers.js';
import { startDockerd, type Dockerd } from './dockerd.js';
import { busyboxEntries, seedBusybox, seedImage } from './images.js';

let docker: Dockerd;
const work = tmpDir('bale-parity-');
const root = path.join(work.dir, 'store');
const SAMPLE = path.join(REPO, 'samples', 'busybox.tar.gz');

test.before(async () => {
  docker = await startDockerd();
  // a busybox with every applet the tests use, loaded by both (so both measured its layer)
  const seeded = path.join(work.dir, 'seed');
  await seedBusybox(seeded, { tags: ['bb:1'] });
  const bb = path.join(work.dir, 'bb.tar');
  await baleOk(seeded, ['save', '-o', bb, 'bb:1']);
  for (const archive of [SAMPLE, bb]) {
    await baleOk(root, ['load', '-q', '-i', archive]);
    await docker.dockerOk(['load', '-q', '-i', archive]);
  }
});

test.after(async () => {
  await docker?.stop();
  work.cleanup();
});

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const getcap = (file: string) => sh('getcap', [file]).trim();

test('pack: a hardlink entry repeats its file\'s xattrs (security.capability included)', async () => {
  const dir = path.join(work.dir, 'caps');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'a'), 'x');
  sh('setcap', ['cap_net_raw+ep', path.join(dir, 'a')]);
  linkSync(path.join(dir, 'a'), path.join(dir, 'b'));
  const pax = new Map<string, ReadonlyMap<string, Buffer>>();
  const types = new Map<string, string>();
  for await (const ev of readTar(Readable.from(packEntries(walkDir(dir))))) {
    if ('header' in ev) {
      pax.set(ev.header.name, ev.header.pax);
      types.set(ev.header.name, ev.header.typeflag);
    }
  }
  assert.is(types.get('a'), '0');
  assert.is(types.get('b'), '1');
  const cap = pax.get('a')!.get('SCHILY.xattr.security.capability');
  assert.ok(cap && cap.length > 0);
  assert.ok(pax.get('b')!.get('SCHILY.xattr.security.capability')?.equals(cap));
});

test('a hardlinked file keeps its capability when docker unpacks what commit, squash and export wrote', async () => {
  await baleOk(root, ['run', '--name', 'capc', 'bb:1', 'sh', '-c', 'echo hi > /capfile; ln /capfile /caplink']);
  const store = await Store.open(root);
  const upper = containerPaths(store, (await findContainer(store, 'capc')).id).upper;
  sh('setcap', ['cap_net_raw+ep', path.join(upper, 'capfile')]);
  await baleOk(root, ['commit', 'capc', 'bb:cap']);
  await baleOk(root, ['squash', 'bb:cap', 'bb:capsq']);
  const archive = path.join(work.dir, 'cap.tar');
  const exported = path.join(work.dir, 'cap-export.tar');
  await baleOk(root, ['save', '-o', archive, 'bb:cap', 'bb:capsq']);
  await baleOk(root, ['export', '-o', exported, 'capc']);
  await docker.dockerOk(['load', '-q', '-i', archive]);
  await docker.dockerOk(['import', exported, 'bb:capimp']);
  for (const img of ['bb:cap', 'bb:capsq', 'bb:capimp']) {
    const diff = (await docker.dockerOk(['image', 'inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', img])).trim();
    for (const f of ['capfile', 'caplink']) {
      assert.match(getcap(path.join(diff, f)), /cap_net_raw=ep$/, `${img} /${f}`);
    }
  }
});


/** One column of a table (header `name`, up to the next header `next`), row by row. */
function column(table: string, name: string, next: string): string[] {
  const [head, ...rows] = table.trimEnd().split('\n');
  const from = head!.indexOf(name);
  const to = next ? head!.indexOf(next) : -1;
  return rows.map((r) => (to < 0 ? r.slice(from) : r.slice(from, to)).trimEnd());
}

test('SIZE in images, history and inspect is the sum of file sizes, as docker shows it', async () => {
  // a layer with hardlinks and symlinks, made by commit, squashed, exported and imported
  await baleOk(root, ['run', '--name', 'szc', 'bb:1', 'sh', '-c', 'mkdir /d; echo 12345 > /d/f; ln /d/f /d/h; ln -s /d/f /d/s; ln -s x /d/t; head -c 70000 /bin/busybox > /d/big']);
  await baleOk(root, ['commit', 'szc', 'sz:commit']);
  await baleOk(root, ['squash', 'sz:commit', 'sz:squash']);
  const exported = path.join(work.dir, 'sz-export.tar');
  await baleOk(root, ['export', '-o', exported, 'szc']);
  await baleOk(root, ['import', exported, 'sz:import']);
  await docker.dockerOk(['import', exported, 'sz:import']);
  const archive = path.join(work.dir, 'sz.tar');
  await baleOk(root, ['save', '-o', archive, 'sz:commit', 'sz:squash']);
  await docker.dockerOk(['load', '-q', '-i', archive]);
  for (const img of ['busybox:latest', 'sz:commit', 'sz:squash', 'sz:import']) {
    const mine = JSON.parse(await baleOk(root, ['inspect', img]))[0] as { Size: number; RepoDigests: string[] };
    const theirs = JSON.parse(await docker.dockerOk(['image', 'inspect', img]))[0] as { Size: number; RepoDigests: string[] };
    assert.is(mine.Size, theirs.Size, `${img} inspect Size`);
    assert.equal(mine.RepoDigests, theirs.RepoDigests, `${img} RepoDigests`);
    const hist = (await baleOk(root, ['history', '-H=false', '--format', '{{.Size}}', img])).trim().split('\n').map(Number);
    const dhist = (await docker.dockerOk(['history', '-H=false', '--format', '{{.Size}}', img])).trim().split('\n').map(Number);
    assert.equal(hist, dhist, `${img} history sizes`);
    const [name, tag] = img.split(':');
    const size = column(await baleOk(root, ['images', img]), 'SIZE', '');
    assert.equal(size, [(await docker.dockerOk(['images', '--format', '{{.Size}}', `${name}:${tag}`])).trim()], `${img} images SIZE`);
  }
});

test('/etc/mtab is a link to /proc/mounts in a container', async () => {
  const probe = ['sh', '-c', '[ -L /etc/mtab ] && [ /etc/mtab -ef /proc/mounts ] && echo link to mounts'];
  const mine = await baleOk(root, ['run', '--rm', 'busybox', ...probe]);
  const theirs = await docker.dockerOk(['run', '--rm', '--network', 'none', 'busybox', ...probe]);
  assert.is(mine, theirs);
  assert.is(mine, 'link to mounts\n');
});

test('history prints CREATED BY as docker does: spacing kept, tabs as spaces, cut at 45 columns', async () => {
  const history = [
    { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:0123456789abcdef in / ' },
    { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
    { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c\tapk add  --no-cache\tca-certificates && echo done', empty_layer: true },
    { created: '2024-01-01T00:00:00Z', created_by: 'short', comment: 'a comment that is long enough to be cut somewhere', empty_layer: true },
  ];
  await seedImage(root, { layers: [busyboxEntries()], history, tags: ['hist:1'] });
  const archive = path.join(work.dir, 'hist.tar');
  await baleOk(root, ['save', '-o', archive, 'hist:1']);
  await docker.dockerOk(['load', '-q', '-i', archive]);
  for (const flags of [[], ['--no-trunc']]) {
    const mine = await baleOk(root, ['history', ...flags, 'hist:1']);
    const theirs = await docker.dockerOk(['history', ...flags, 'hist:1']);
    assert.equal(column(mine, 'CREATED BY', 'SIZE'), column(theirs, 'CREATED BY', 'SIZE'), `history ${flags.join(' ')}`);
    assert.equal(column(mine, 'COMMENT', ''), column(theirs, 'COMMENT', ''), `history ${flags.join(' ')} comments`);
  }
});

test('ps shows each command on one line, quoted and escaped as docker does', async () => {
  const commands = [
    ['sh', '-c', 'printf "a\\nb"'],
    ['sh', '-c', 'echo "x\ny"\tz'],
    ['echo', 'héllo wörld, a long ünïcode line'],
    ['true'],
    ['echo', 'exactly twenty c'],
  ];
  for (const [i, cmd] of commands.entries()) {
    await baleOk(root, ['create', '--name', `ps${i}`, 'busybox', ...cmd]);
    await docker.dockerOk(['create', '--name', `ps${i}`, '--network', 'none', 'busybox', ...cmd]);
  }
  for (const flags of [[], ['--no-trunc']]) {
    const mine = new Map<string, string>();
    for (const line of (await baleOk(root, ['ps', '-a', '--format', 'json', ...flags])).trim().split('\n')) {
      const c = JSON.parse(line) as { Names: string; Command: string };
      mine.set(c.Names, c.Command);
    }
    for (const [i] of commands.entries()) {
      const theirs = (await docker.dockerOk(['ps', '-a', ...flags, '--filter', `name=^ps${i}$`, '--format', '{{.Command}}'])).replace(/\n$/, '');
      assert.is(mine.get(`ps${i}`), theirs, `ps ${flags.join(' ')} ${JSON.stringify(commands[i])}`);
    }
    const table = await baleOk(root, ['ps', '-a', ...flags]);
    assert.is(table.trimEnd().split('\n').length, 1 + mine.size, 'one table line per container');
  }
});

test('diff lists what docker diff lists: no entry that was only copied up', async () => {
  const script = [
    ': >> /etc/passwd', // opened for writing: copied up, unchanged
    'mkdir /etc/x; rmdir /etc/x', // only the directory's mtime changed
    'touch /tmp/t; rm /tmp/t',
    'echo hi > /root/new',
    'chmod 700 /home',
    'rm /bin/cp',
    'mkdir -p /a/b; echo c > /a/b/c',
    'touch -d 2001-01-01 /bin/busybox',
  ].join('; ');
  await baleOk(root, ['run', '--name', 'dfc', 'busybox', 'sh', '-c', script]);
  await docker.dockerOk(['run', '--name', 'dfc', '--network', 'none', 'busybox', 'sh', '-c', script]);
  const sorted = (s: string) => s.trim().split('\n').sort((a, b) => Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2))));
  const mine = sorted(await baleOk(root, ['diff', 'dfc']));
  const theirs = sorted(await docker.dockerOk(['diff', 'dfc']));
  assert.equal(mine, theirs);
  assert.ok(!mine.some((l) => l.endsWith(' /etc/passwd') || l.endsWith(' /etc') || l.endsWith(' /tmp')), mine.join(', '));
  assert.ok(mine.includes('C /bin/busybox') && mine.includes('D /bin/cp') && mine.includes('C /home'), mine.join(', '));
});

test.run();
