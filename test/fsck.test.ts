// bale fsck: a sound store passes; a flipped byte, a missing blob, a wrong size, a dangling tag fail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, openSync, readSync, rmSync, writeSync, closeSync, writeFileSync, truncateSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { hexOf, type Digest } from '../src/oci/digest.js';
import { Store } from '../src/store/store.js';
import { bale, tmpDir } from './helpers.js';
import { seedBusybox, seedImage } from './images.js';

interface JsonReport {
  blobs: number;
  bytes: number;
  images: number;
  tags: number;
  tmpFiles: number;
  problems: { kind: string; digest?: string; images?: string[]; detail: string }[];
}

async function fsckJson(root: string): Promise<{ code: number; report: JsonReport }> {
  const r = await bale(root, ['fsck', '--format', 'json']);
  assert.is(r.stderr, '', 'fsck --format json writes nothing on stderr');
  return { code: r.code, report: JSON.parse(r.stdout) as JsonReport };
}

function flipByte(file: string, at: number): void {
  chmodSync(file, 0o644);
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

async function twoImages(root: string) {
  const bb = await seedBusybox(root);
  const app = await seedImage(root, {
    layers: [[{ name: 'app/' }, { name: 'app/data.bin', content: Buffer.alloc(300_000, 7) }], [{ name: 'app/README', content: 'hello\n' }]],
    tags: ['app:1', 'app:latest'],
  });
  return { bb, app };
}

test('a sound store: exit 0, every blob hashed, no problems (table and json)', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const { bb, app } = await twoImages(dir);
    const { code, report } = await fsckJson(dir);
    assert.is(code, 0);
    assert.equal(report.problems, []);
    // busybox: 1 layer + config + manifest; app: 2 layers + config + manifest
    const expected = new Set<Digest>([bb.id, bb.manifest.digest, ...bb.layers.map((l) => l.digest), app.id, app.manifest.digest, ...app.layers.map((l) => l.digest)]);
    assert.is(report.blobs, expected.size);
    assert.is(report.images, 2);
    assert.is(report.tags, 3);
    assert.ok(report.bytes > 300_000);
    const t = await bale(dir, ['fsck']);
    assert.is(t.code, 0, t.stderr);
    assert.match(t.stdout, /checked \d+ blobs .*no problems/);
    const q = await bale(dir, ['fsck', '-q']);
    assert.is(q.code, 0);
    assert.is(q.stdout, '');
  } finally {
    cleanup();
  }
});

test('a flipped byte in a layer blob is reported as corrupt, naming the image; exit 1', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const { app } = await twoImages(dir);
    const store = await Store.open(dir);
    const victim = app.layers[0]!.digest;
    flipByte(store.blobPath(victim), 123_456);
    const { code, report } = await fsckJson(dir);
    assert.is(code, 1);
    assert.is(report.problems.length, 1, JSON.stringify(report.problems));
    const p = report.problems[0]!;
    assert.is(p.kind, 'corrupt');
    assert.is(p.digest, victim);
    assert.equal(p.images, [app.id]);
    assert.match(p.detail, /hashes to sha256:[a-f0-9]{64}/);
    const t = await bale(dir, ['fsck']);
    assert.is(t.code, 1);
    assert.match(t.stdout, new RegExp(`corrupt\\s+${victim}.*image ${hexOf(app.id).slice(0, 12)}`));
    assert.match(t.stdout, /1 problem/);
  } finally {
    cleanup();
  }
});

test('a flipped byte in a config blob and in a manifest blob are both found', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const { bb } = await twoImages(dir);
    const store = await Store.open(dir);
    flipByte(store.blobPath(bb.id), 10);
    flipByte(store.blobPath(bb.manifest.digest), 5);
    const { code, report } = await fsckJson(dir);
    assert.is(code, 1);
    const corrupt = report.problems.filter((p) => p.kind === 'corrupt').map((p) => p.digest).sort();
    assert.equal(corrupt, [bb.id, bb.manifest.digest].sort());
  } finally {
    cleanup();
  }
});

test('a missing blob referenced by an image is reported once, with every image that uses it', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const bb = await seedBusybox(dir);
    // A second image sharing the busybox layer.
    const two = await seedBusybox(dir, { layers: [[{ name: 'etc/motd', content: 'hi\n' }]], tags: ['bb2:latest'] });
    const store = await Store.open(dir);
    const shared = bb.layers[0]!.digest;
    assert.is(two.layers[0]!.digest, shared);
    rmSync(store.blobPath(shared));
    const { code, report } = await fsckJson(dir);
    assert.is(code, 1);
    assert.is(report.problems.length, 1, JSON.stringify(report.problems));
    assert.is(report.problems[0]!.kind, 'missing');
    assert.is(report.problems[0]!.digest, shared);
    assert.equal([...report.problems[0]!.images!].sort(), [bb.id, two.id].sort());
  } finally {
    cleanup();
  }
});

test('a truncated blob is corrupt; a dangling tag and a stray file are reported', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    const { app } = await twoImages(dir);
    const store = await Store.open(dir);
    const victim = app.layers[0]!.digest;
    chmodSync(store.blobPath(victim), 0o644);
    truncateSync(store.blobPath(victim), 1000);
    const tags = JSON.parse(JSON.stringify(await store.tags())) as Record<string, string>;
    tags['ghost:latest'] = `sha256:${'ab'.repeat(32)}`;
    writeFileSync(store.tagsFile, JSON.stringify(tags));
    writeFileSync(path.join(store.blobDir, 'not-a-digest'), 'x');
    mkdirSync(path.join(store.blobDir, 'c'.repeat(64)));
    const { code, report } = await fsckJson(dir);
    assert.is(code, 1);
    const kinds = report.problems.map((p) => p.kind).sort();
    assert.equal(kinds, ['corrupt', 'stray', 'stray', 'tag']);
    assert.is(report.problems.find((p) => p.kind === 'corrupt')!.digest, victim);
    assert.match(report.problems.find((p) => p.kind === 'tag')!.detail, /ghost:latest/);
  } finally {
    cleanup();
  }
});

test('temp files are counted, not reported as problems; bad flags are usage errors', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    await seedBusybox(dir);
    const store = await Store.open(dir);
    writeFileSync(store.tmpPath('leftover'), 'partial');
    const { code, report } = await fsckJson(dir);
    assert.is(code, 0);
    assert.is(report.tmpFiles, 1);
    const t = await bale(dir, ['fsck']);
    assert.match(t.stdout, /1 temp file left/);
    const bad = await bale(dir, ['fsck', '--jobs', '0']);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /^bale: .*--jobs/);
    const extra = await bale(dir, ['fsck', 'foo']);
    assert.is(extra.code, 2);
    const h = await bale(dir, ['fsck', '--help']);
    assert.is(h.code, 0);
    assert.match(h.stdout, /Usage: bale fsck/);
  } finally {
    cleanup();
  }
});

test.run();
