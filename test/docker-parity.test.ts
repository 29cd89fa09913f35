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
import { seedBusybox } from './images.js';

let docker: Dockerd;
const work = tmpDir('bale-parity-');
const root = path.join(work.dir, 'store');
const SAMPLE = path.join(REPO, 'samples', 'busybox.tar.gz');

test.before(async () => {
  docker = await startDockerd();
  await seedBusybox(root, { tags: ['bb:1'] });
  await baleOk(root, ['load', '-q', '-i', SAMPLE]);
  await docker.dockerOk(['load', '-q', '-i', SAMPLE]);
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
  const pax = new Map<string, Map<string, Buffer>>();
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

test.run();
