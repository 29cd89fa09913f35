// export and squash: the merged view of layers with deletions, opaque dirs, replaced hardlink
// targets and xattrs, checked with GNU tar (an independent reader) and by extracting it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { Store } from '../src/store/store.js';
import type { ImageConfig } from '../src/oci/types.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { gnuTarList, seedImage, type Entry } from './images.js';
import { extract, getfattr, tarNames } from './flatten-util.js';

const LOWER: Entry[] = [
  { name: 'a/' },
  { name: 'a/x', content: 'x' },
  { name: 'a/y', content: 'y' },
  { name: 'b/' },
  { name: 'b/old1', content: 'old1' },
  { name: 'b/sub/' },
  { name: 'b/sub/old2', content: 'old2' },
  { name: 'c', content: 'c' },
  { name: 'd/' },
  { name: 'd/e/' },
  { name: 'd/e/f', content: 'f' },
  { name: 'h1', content: 'one' },
  { name: 'h2', type: 'link', linkname: 'h1' },
  { name: 'k1', content: 'kept' },
  { name: 'k2', type: 'link', linkname: 'k1' },
  { name: 'ln', type: 'symlink', linkname: '/a/y' },
  { name: 'owned', content: 'o', uid: 1234, gid: 5678, mode: 0o4750 },
];

const UPPER: Entry[] = [
  { name: 'a/' },
  { name: 'a/.wh.x', content: '' },
  { name: 'b/' },
  { name: 'b/.wh..wh..opq', content: '' },
  { name: 'b/new', content: 'new' },
  { name: '.wh.c', content: '' },
  { name: 'd/' },
  { name: 'd/.wh.e', content: '' },
  { name: 'h1', content: 'two' },
  { name: 'x.txt', content: 'xattr', pax: { 'SCHILY.xattr.user.k': 'v1' } },
];

const EXPECTED = ['a/', 'a/y', 'b/', 'b/new', 'd/', 'h1', 'h2', 'k1', 'k2', 'ln', 'owned', 'x.txt'];

test('export IMAGE: whiteouts and opaque dirs applied, hardlinks kept, a replaced link target splits', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    await seedImage(dir, { layers: [LOWER, UPPER], tags: ['t:1'] });
    const out = path.join(dir, 'out.tar');
    await baleOk(dir, ['export', '-o', out, 't:1']);
    assert.equal(tarNames(out), EXPECTED);
    const list = gnuTarList(out);
    // k2 still names k1; h2 is a file of its own with the old content
    assert.ok(list.some((l) => /^h.* k2 link to k1$/.test(l)), list.join('\n'));
    assert.ok(list.some((l) => /^-.* h2$/.test(l)), list.join('\n'));
    assert.ok(list.some((l) => /^-rwsr-x--- 1234\/5678 .* owned$/.test(l)), list.join('\n'));
    assert.ok(list.some((l) => /^l.* ln -> \/a\/y$/.test(l)), list.join('\n'));
    const x = path.join(dir, 'x');
    extract(out, x);
    assert.is(readFileSync(path.join(x, 'h1'), 'utf8'), 'two');
    assert.is(readFileSync(path.join(x, 'h2'), 'utf8'), 'one');
    assert.is(readFileSync(path.join(x, 'b/new'), 'utf8'), 'new');
    assert.is(statSync(path.join(x, 'k1')).ino, statSync(path.join(x, 'k2')).ino);
    assert.is(getfattr(path.join(x, 'x.txt'), 'user.k'), 'v1');
    // reproducible: the same image exports to the same bytes
    const out2 = path.join(dir, 'out2.tar');
    await baleOk(dir, ['export', '-o', out2, 't:1']);
    assert.ok(readFileSync(out).equals(readFileSync(out2)));
  } finally {
    cleanup();
  }
});

test('export to stdout streams the same tar; unknown names fail in one line', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    await seedImage(dir, { layers: [LOWER, UPPER], tags: ['t:1'] });
    const out = path.join(dir, 'out.tar');
    await baleOk(dir, ['export', '-o', out, 't:1']);
    const r = spawnSync(path.join(process.cwd(), 'bin', 'bale'), ['export', 't:1'], { env: { ...process.env, BALE_ROOT: dir }, maxBuffer: 1 << 26 });
    assert.is(r.status, 0);
    assert.ok(readFileSync(out).equals(r.stdout));
    const bad = await bale(dir, ['export', 'nope:1']);
    assert.is(bad.code, 1);
    assert.is(bad.stderr, 'bale: No such container or image: nope:1\n');
  } finally {
    cleanup();
  }
});

test('export -o copies large files in the kernel: the bytes of the stdout export, onto the same file system and onto a tmpfs', async () => {
  const { dir, cleanup } = tmpDir();
  const tmpfs = path.join(dir, 'tmpfs');
  mkdirSync(tmpfs);
  try {
    // Files just over, well over and under the packer's 256 KiB chunk, each followed by a small
    // one: a copied file's padding and the next header land right after it.
    const big1 = randomBytes(256 * 1024 + 1);
    const big2 = randomBytes(3 * 1024 * 1024 + 5);
    const lower: Entry[] = [{ name: 'a', content: big1 }, { name: 'b', content: 'b' }, { name: 'c', content: big2, mode: 0o600 }, { name: 'd', content: randomBytes(1000) }];
    const upper: Entry[] = [{ name: 'e', content: big1 }, { name: 'f', content: 'f' }];
    await seedImage(dir, { layers: [lower, upper], tags: ['t:1'] });
    const r = spawnSync(path.join(process.cwd(), 'bin', 'bale'), ['export', 't:1'], { env: { ...process.env, BALE_ROOT: dir }, maxBuffer: 1 << 26 });
    assert.is(r.status, 0, r.stderr?.toString());
    // a tmpfs is another file system type: copy_file_range refuses, the copy is made by hand
    assert.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', tmpfs]).status, 0, 'mount tmpfs');
    for (const out of [path.join(dir, 'out.tar'), path.join(tmpfs, 'out.tar')]) {
      await baleOk(dir, ['export', '-o', out, 't:1']);
      assert.ok(readFileSync(out).equals(r.stdout), out);
      const x = path.join(dir, 'x');
      rmSync(x, { recursive: true, force: true });
      extract(out, x);
      assert.ok(readFileSync(path.join(x, 'a')).equals(big1));
      assert.ok(readFileSync(path.join(x, 'c')).equals(big2));
      assert.ok(readFileSync(path.join(x, 'e')).equals(big1));
      assert.is(readFileSync(path.join(x, 'f'), 'utf8'), 'f');
    }
  } finally {
    spawnSync('umount', [tmpfs]);
    cleanup();
  }
});

test('squash: one layer, same tree as export, config and history kept with old entries marked', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const cfg = { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh', '-c', 'echo hi'], WorkingDir: '/a', Labels: { l: 'v' } };
    await seedImage(dir, {
      layers: [LOWER, UPPER],
      config: cfg,
      history: [
        { created: '2024-01-01T00:00:00Z', created_by: 'ADD lower' },
        { created: '2024-01-01T00:00:00Z', created_by: 'ENV A=1', empty_layer: true },
        { created: '2024-01-01T00:00:00Z', created_by: 'ADD upper' },
      ],
      tags: ['t:1'],
    });
    const id = (await baleOk(dir, ['squash', 't:1', 'flat:1'])).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const store = await Store.open(dir);
    const rec = await store.resolve('flat:1');
    assert.is(rec.id, id);
    assert.is(rec.layers.length, 1);
    const c = await store.readJsonBlob<ImageConfig>(rec.id);
    assert.equal(c.config, cfg);
    assert.equal(c.rootfs.diff_ids, rec.diffIds);
    const h = c.history!;
    assert.is(h.length, 4);
    assert.equal(h.slice(0, 3).map((e) => [e.created_by, e.empty_layer]), [['ADD lower', true], ['ENV A=1', true], ['ADD upper', true]]);
    assert.is(h[3]!.created_by, 'bale squash');
    assert.not.ok(h[3]!.empty_layer);
    assert.is(h.filter((e) => !e.empty_layer).length, c.rootfs.diff_ids.length);
    // the layer blob is the flat tree
    const blob = store.blobPath(rec.layers[0]!.digest);
    assert.equal(tarNames(blob), EXPECTED);
    // and exporting the squashed image gives the same bytes as exporting the original
    const a = path.join(dir, 'a.tar');
    const b = path.join(dir, 'b.tar');
    await baleOk(dir, ['export', '-o', a, 't:1']);
    await baleOk(dir, ['export', '-o', b, 'flat:1']);
    assert.ok(readFileSync(a).equals(readFileSync(b)));
  } finally {
    cleanup();
  }
});

test.run();
