// commit, diff and export of a container whose read-write layer is made by hand in overlay form
// (whiteout devices from mknod, opaque dirs from the trusted.overlay.opaque xattr), so these verbs
// are tested without the launcher.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, linkSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { removeAttributeSync, setAttributeSync } from 'fs-xattr';
import { Store, type ImageRecord } from '../src/store/store.js';
import type { ImageConfig } from '../src/oci/types.js';
import { containerPaths, saveContainer, type ContainerRecord } from '../src/runtime/container.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { seedImage, type Entry } from './images.js';
import { extract, getfattr, tarNames } from './flatten-util.js';
import { listing } from './listing.js';

const BASE: Entry[] = [
  { name: 'a/' },
  { name: 'a/x', content: 'x' },
  { name: 'a/y', content: 'y' },
  { name: 'b/' },
  { name: 'b/old', content: 'old' },
  { name: 'b/sub/' },
  { name: 'b/sub/deep', content: 'deep' },
  { name: 'c', content: 'c' },
  { name: 'keep', content: 'keep' },
];

/** A container record and dirs for image `img`, with an upper dir in overlay form. */
async function handMadeContainer(root: string, img: ImageRecord, name: string): Promise<ContainerRecord> {
  const store = await Store.open(root);
  const rec: ContainerRecord = {
    id: randomBytes(32).toString('hex'),
    name,
    image: img.id,
    imageRef: 't:1',
    created: new Date().toISOString(),
    process: { args: ['sh', '-c', 'make changes'], env: ['PATH=/bin'], cwd: '/', user: '0:0', tty: false },
    hostname: 'h',
    net: 'none',
    autoRemove: false,
    state: { status: 'exited', exitCode: 0 },
  };
  const p = containerPaths(store, rec.id);
  for (const d of [p.init, p.upper, p.work]) mkdirSync(d, { recursive: true });
  mkdirSync(path.join(p.init, 'etc'));
  writeFileSync(path.join(p.init, 'etc/hostname'), 'h\n');
  // a/x deleted, b replaced by a new directory, c changed, new files and dirs added
  mkdirSync(path.join(p.upper, 'a'));
  mknod(path.join(p.upper, 'a/x'));
  mkdirSync(path.join(p.upper, 'b'));
  setAttributeSync(path.join(p.upper, 'b'), 'trusted.overlay.opaque', 'y');
  writeFileSync(path.join(p.upper, 'b/new'), 'new');
  writeFileSync(path.join(p.upper, 'c'), 'changed');
  mknod(path.join(p.upper, 'keep2')); // whiteout of something the image never had
  mkdirSync(path.join(p.upper, 'n/m'), { recursive: true });
  writeFileSync(path.join(p.upper, 'n/m/f'), 'f');
  linkSync(path.join(p.upper, 'n/m/f'), path.join(p.upper, 'n/hl'));
  setAttributeSync(path.join(p.upper, 'n/m/f'), 'user.k', 'v');
  await saveContainer(store, rec);
  return rec;
}

/** An image t:1 of BASE and a hand-made container "box" of it: the store and the container's paths. */
async function seededBox(dir: string): Promise<{ store: Store; p: ReturnType<typeof containerPaths> }> {
  const img = await seedImage(dir, { layers: [BASE], tags: ['t:1'] });
  const ctr = await handMadeContainer(dir, img, 'box');
  const store = await Store.open(dir);
  return { store, p: containerPaths(store, ctr.id) };
}

function mknod(p: string): void {
  const r = spawnSync('mknod', [p, 'c', '0', '0']);
  if (r.status !== 0) throw new Error(`mknod ${p}: ${r.stderr}`);
}

test('commit: whiteout devices and opaque dirs become .wh. entries; config kept, changed, history appended', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const img = await seedImage(dir, { layers: [BASE], config: { Env: ['PATH=/bin'], Cmd: ['sh'] }, tags: ['t:1'] });
    const ctr = await handMadeContainer(dir, img, 'box');
    const id = (await baleOk(dir, ['commit', '-m', 'my changes', '-a', 'me', '-c', 'ENV X=1', 'box', 'committed:1'])).trim();
    const store = await Store.open(dir);
    const rec = await store.resolve('committed:1');
    assert.is(rec.id, id);
    assert.is(rec.layers.length, 2);
    assert.is(rec.diffIds[0], img.diffIds[0]);
    const layer = store.blobPath(rec.layers[1]!.digest);
    assert.equal(tarNames(layer), ['a/', 'a/.wh.x', 'b/', 'b/.wh..wh..opq', 'b/new', 'c', '.wh.keep2', 'n/', 'n/hl', 'n/m/', 'n/m/f']);
    const cfg = await store.readJsonBlob<ImageConfig>(rec.id);
    assert.equal(cfg.config, { Env: ['PATH=/bin', 'X=1'], Cmd: ['sh'] });
    assert.is(cfg.author, 'me');
    assert.is(cfg.history!.length, 2);
    assert.equal({ ...cfg.history![1]!, created: undefined }, { created: undefined, created_by: 'sh -c make changes', author: 'me', comment: 'my changes' });
    assert.equal(cfg.rootfs.diff_ids, rec.diffIds);

    // the committed image's merged tree: what the container saw, minus the init layer
    const out = path.join(dir, 'img.tar');
    await baleOk(dir, ['export', '-o', out, 'committed:1']);
    assert.equal(tarNames(out), ['a/', 'a/y', 'b/', 'b/new', 'c', 'keep', 'n/', 'n/hl', 'n/m/', 'n/m/f']);
    const x = path.join(dir, 'x');
    extract(out, x);
    assert.is(readFileSync(path.join(x, 'c'), 'utf8'), 'changed');
    assert.is(getfattr(path.join(x, 'n/m/f'), 'user.k'), 'v');

    // exporting the container shows the same tree plus its init layer
    const cout = path.join(dir, 'ctr.tar');
    await baleOk(dir, ['export', '-o', cout, ctr.id.slice(0, 12)]);
    assert.equal(tarNames(cout), ['a/', 'a/y', 'b/', 'b/new', 'c', 'etc/', 'etc/hostname', 'keep', 'n/', 'n/hl', 'n/m/', 'n/m/f']);

    // squashing the committed image keeps the tree and both history entries
    await baleOk(dir, ['squash', 'committed:1', 'sq:1']);
    const sq = await store.resolve('sq:1');
    const sout = path.join(dir, 'sq.tar');
    await baleOk(dir, ['export', '-o', sout, 'sq:1']);
    assert.ok(readFileSync(sout).equals(readFileSync(out)));
    const scfg = await store.readJsonBlob<ImageConfig>(sq.id);
    assert.equal(scfg.config, cfg.config);
    assert.equal(scfg.history!.map((h) => Boolean(h.empty_layer)), [true, true, false]);
  } finally {
    cleanup();
  }
});

test('diff lists A/C/D sorted by path, removed children of replaced dirs included, a whiteout of nothing left out', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const img = await seedImage(dir, { layers: [BASE], tags: ['t:1'] });
    await handMadeContainer(dir, img, 'box');
    const out = await baleOk(dir, ['diff', 'box']);
    assert.is(out, ['C /a', 'D /a/x', 'C /b', 'A /b/new', 'D /b/old', 'D /b/sub', 'C /c', 'A /n', 'A /n/hl', 'A /n/m', 'A /n/m/f', ''].join('\n'));
    const json = JSON.parse(await baleOk(dir, ['diff', '--format', 'json', 'box'])) as { Path: string; Kind: number }[];
    assert.equal(json.slice(0, 3), [{ Path: '/a', Kind: 0 }, { Path: '/a/x', Kind: 2 }, { Path: '/b', Kind: 0 }]);
    const r = await bale(dir, ['diff', 'nobox']);
    assert.is(r.code, 1);
    assert.is(r.stderr, 'bale: No such container: nobox\n');
  } finally {
    cleanup();
  }
});

test('commit of a container with an empty upper adds an empty layer; bad tag refused first', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const { store, p } = await seededBox(dir);
    spawnSync('rm', ['-rf', p.upper]);
    mkdirSync(p.upper);
    const r = await bale(dir, ['commit', 'box', 'Bad:Tag!']);
    assert.is(r.code, 2);
    assert.is((await store.images()).length, 1);
    await baleOk(dir, ['commit', 'box', 'empty:1']);
    const rec = await store.resolve('empty:1');
    assert.equal(tarNames(store.blobPath(rec.layers[1]!.digest)), []);
    assert.is(await baleOk(dir, ['diff', 'box']), '');
  } finally {
    cleanup();
  }
});

test('an upper dir with overlay metacopy or redirect xattrs is refused in one line, the store as it was', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const { store, p } = await seededBox(dir);
    for (const [file, xattr] of [['c', 'trusted.overlay.metacopy'], ['b', 'trusted.overlay.redirect']] as const) {
      setAttributeSync(path.join(p.upper, file), xattr, file === 'b' ? '/a' : '');
      for (const args of [['commit', 'box', 'meta:1'], ['export', '-o', path.join(dir, 'out.tar'), 'box']]) {
        const r = await bale(dir, args);
        assert.is.not(r.code, 0, args[0]);
        assert.match(r.stderr, new RegExp(`^bale: \\S+/${file}: has ${xattr.replace(/\./g, '\\.')} \\(overlay redirect_dir/metacopy\\)[^\\n]*\\n$`));
      }
      removeAttributeSync(path.join(p.upper, file), xattr);
    }
    assert.is((await store.images()).length, 1);
    assert.equal(readdirSync(dir).filter((n) => n.includes('out.tar')), []);
  } finally {
    cleanup();
  }
});

test("export and commit read a symlink's own xattrs, never those of the host file it points at", async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const { p } = await seededBox(dir);
    const hostFile = path.join(dir, 'host-secret');
    writeFileSync(hostFile, 'x');
    setAttributeSync(hostFile, 'user.secret', 'host');
    symlinkSync(hostFile, path.join(p.upper, 'peek')); // made in the container: resolved on the host by a walk that follows it
    const out = path.join(dir, 'out.tar');
    await baleOk(dir, ['export', '-o', out, 'box']);
    await baleOk(dir, ['commit', 'box', 'peek:1']);
    const store = await Store.open(dir);
    const layer = store.blobPath((await store.resolve('peek:1')).layers[1]!.digest);
    for (const tar of [out, layer]) {
      const row = (await listing(tar)).find((l) => l.startsWith('/peek\t'));
      assert.is(row, `/peek\tsymlink\t120777\t0:0\t0\t${hostFile}\t`, tar);
    }
  } finally {
    cleanup();
  }
});

test.run();
