// layer/apply.ts and store/layers.ts against real tars on a real disk.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { getAttribute, listAttributes } from 'fs-xattr';
import { applyLayer } from '../src/layer/apply.js';
import { collectLayers, layersInUse, layerShortPath, unpackLayers } from '../src/store/layers.js';
import { Store, type ImageRecord } from '../src/store/store.js';
import { chainIds } from '../src/oci/chain.js';
import { hexOf, sha256 } from '../src/oci/digest.js';
import { MT } from '../src/oci/media.js';
import { tmpDir } from './helpers.js';
import { encodeHeader, END_OF_ARCHIVE, padding } from '../src/layer/tar-header.js';
import { layerTar, seedBusybox, seedImage, type Entry } from './images.js';

async function apply(entries: Entry[]): Promise<{ dir: string; cleanup: () => void }> {
  const t = tmpDir();
  const dest = path.join(t.dir, 'd');
  mkdirSync(dest);
  await applyLayer(Readable.from([await layerTar(entries)]), dest);
  return { dir: dest, cleanup: t.cleanup };
}

async function applyError(entries: Entry[]): Promise<{ msg: string; dir: string; root: string; cleanup: () => void }> {
  const t = tmpDir();
  const dest = path.join(t.dir, 'd');
  mkdirSync(dest);
  try {
    await applyLayer(Readable.from([await layerTar(entries)]), dest);
  } catch (e) {
    return { msg: (e as Error).message, dir: dest, root: t.dir, cleanup: t.cleanup };
  }
  t.cleanup();
  throw new Error('apply succeeded but should have failed');
}

const T1 = new Date('2020-02-02T02:02:02Z');
const T2 = new Date('2021-03-03T03:03:03Z');

test('files, dirs, symlinks, hardlinks, modes, owners, mtimes, xattrs', async () => {
  const { dir, cleanup } = await apply([
    { name: 'a/', mode: 0o750, uid: 12, gid: 34, mtime: T1 },
    { name: 'a/file', content: 'hello', mode: 0o4755, uid: 1000, gid: 1000, mtime: T2 },
    { name: 'a/sticky/', mode: 0o1777 },
    { name: 'a/link', type: 'symlink', linkname: '../nowhere', uid: 5, gid: 6 },
    { name: 'a/hard', type: 'link', linkname: 'a/file' },
    { name: 'x', content: 'xattr', pax: { 'SCHILY.xattr.user.color': 'blue', 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
    { name: 'deep/implicit/f', content: 'no parents in the tar' },
  ]);
  try {
    const a = statSync(path.join(dir, 'a'));
    assert.is(a.mode & 0o7777, 0o750);
    assert.is(a.uid, 12);
    assert.is(a.gid, 34);
    assert.is(a.mtime.getTime(), T1.getTime(), 'dir mtime set after its contents were written');
    const f = statSync(path.join(dir, 'a/file'));
    assert.is(readFileSync(path.join(dir, 'a/file'), 'utf8'), 'hello');
    assert.is(f.mode & 0o7777, 0o4755, 'setuid survives chown');
    assert.is(f.uid, 1000);
    assert.is(f.mtime.getTime(), T2.getTime());
    assert.is(statSync(path.join(dir, 'a/sticky')).mode & 0o7777, 0o1777);
    assert.is(readlinkSync(path.join(dir, 'a/link')), '../nowhere');
    assert.is(lstatSync(path.join(dir, 'a/link')).uid, 5);
    assert.is(statSync(path.join(dir, 'a/hard')).ino, f.ino, 'hardlink shares the inode');
    assert.is(f.nlink, 2);
    assert.is((await getAttribute(path.join(dir, 'x'), 'user.color')).toString(), 'blue');
    assert.not.ok((await listAttributes(path.join(dir, 'x'))).includes('trusted.overlay.opaque'), 'overlay xattrs from a tar are not set');
    assert.is(readFileSync(path.join(dir, 'deep/implicit/f'), 'utf8'), 'no parents in the tar');
  } finally {
    cleanup();
  }
});

test('whiteouts become 0/0 char devices, opaque markers an xattr; neither is written as a file', async () => {
  const { dir, cleanup } = await apply([
    { name: 'etc/' },
    { name: 'etc/.wh.passwd', content: '' },
    { name: 'var/' },
    { name: 'var/.wh..wh..opq', content: '' },
    { name: 'var/keep', content: 'k' },
    { name: 'opq-first/.wh..wh..opq', content: '' },
    { name: 'opq-first/', mode: 0o700 },
  ]);
  try {
    const wh = statSync(path.join(dir, 'etc/passwd'));
    assert.ok(wh.isCharacterDevice());
    assert.is(wh.rdev, 0);
    assert.not.ok(existsSync(path.join(dir, 'etc/.wh.passwd')));
    assert.is((await getAttribute(path.join(dir, 'var'), 'trusted.overlay.opaque')).toString(), 'y');
    assert.equal(readdirSync(path.join(dir, 'var')), ['keep']);
    assert.is((await getAttribute(path.join(dir, 'opq-first'), 'trusted.overlay.opaque')).toString(), 'y', 'a later dir entry keeps the marker');
    assert.is(statSync(path.join(dir, 'opq-first')).mode & 0o777, 0o700);
  } finally {
    cleanup();
  }
});

test('devices and fifos are made (as root)', async () => {
  const { dir, cleanup } = await apply([
    { name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'blk', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660 },
    { name: 'pipe', type: 'fifo', mode: 0o600 },
  ]);
  try {
    const n = statSync(path.join(dir, 'null'));
    assert.ok(n.isCharacterDevice());
    assert.is(n.rdev, (1 << 8) | 3);
    assert.is(n.mode & 0o777, 0o666);
    assert.ok(statSync(path.join(dir, 'blk')).isBlockDevice());
    assert.ok(statSync(path.join(dir, 'pipe')).isFIFO());
  } finally {
    cleanup();
  }
});

test('a later entry replaces an earlier one; a dir over a dir merges', async () => {
  const { dir, cleanup } = await apply([
    { name: 'p', content: 'file first' },
    { name: 'p/', mode: 0o711 },
    { name: 'p/in', content: 'inside' },
    { name: 'q/' },
    { name: 'q/child', content: 'c' },
    { name: 'q', content: 'now a file' },
    { name: 'm/' },
    { name: 'm/kept', content: 'k' },
    { name: 'm/', mode: 0o700, uid: 7 },
    { name: 's', type: 'symlink', linkname: '/etc' },
    { name: 's', content: 'replaced the symlink' },
  ]);
  try {
    assert.ok(statSync(path.join(dir, 'p')).isDirectory());
    assert.is(readFileSync(path.join(dir, 'p/in'), 'utf8'), 'inside');
    assert.is(readFileSync(path.join(dir, 'q'), 'utf8'), 'now a file');
    assert.is(readFileSync(path.join(dir, 'm/kept'), 'utf8'), 'k');
    assert.is(statSync(path.join(dir, 'm')).mode & 0o777, 0o700);
    assert.is(statSync(path.join(dir, 'm')).uid, 7);
    assert.ok(lstatSync(path.join(dir, 's')).isFile());
  } finally {
    cleanup();
  }
});

test('`../x` is refused with an error naming the entry', async () => {
  const r = await applyError([{ name: '../x', content: 'escape' }]);
  try {
    assert.match(r.msg, /"\.\.\/x": path traversal/);
    assert.not.ok(existsSync(path.join(r.root, 'x')));
  } finally {
    r.cleanup();
  }
});

test('writing through a symlinked directory is refused', async () => {
  const r = await applyError([
    { name: 'evil', type: 'symlink', linkname: '../outside' },
    { name: 'evil/x', content: 'through the link' },
  ]);
  try {
    mkdirSync(path.join(r.root, 'outside'), { recursive: true });
    assert.is(r.msg, 'path traversal via symlink: evil/x would be written through the symlink evil');
    assert.equal(readdirSync(path.join(r.root, 'outside')), []);
  } finally {
    r.cleanup();
  }
});

test('an absolute symlink as a parent is refused too (no write to the host)', async () => {
  const t = tmpDir();
  const outside = path.join(t.dir, 'host');
  mkdirSync(outside);
  const r = await applyError([
    { name: 'abs', type: 'symlink', linkname: outside },
    { name: 'abs/owned', content: 'x' },
  ]);
  try {
    assert.is(r.msg, 'path traversal via symlink: abs/owned would be written through the symlink abs');
    assert.equal(readdirSync(outside), []);
  } finally {
    r.cleanup();
    t.cleanup();
  }
});

test('a whiteout through a symlinked directory is refused', async () => {
  const r = await applyError([
    { name: 'evil', type: 'symlink', linkname: '/etc' },
    { name: 'evil/.wh.passwd', content: '' },
  ]);
  try {
    assert.is(r.msg, 'path traversal via symlink: evil/.wh.passwd would be written through the symlink evil');
  } finally {
    r.cleanup();
  }
});

test('a directory replaced by a symlink does not get its mode applied through the link', async () => {
  const t = tmpDir();
  const victim = path.join(t.dir, 'victim');
  writeFileSync(victim, 'host file');
  chmodSync(victim, 0o600);
  const { dir, cleanup } = await apply([
    { name: 'x/.wh..wh..opq', content: '' },
    { name: 'x', type: 'symlink', linkname: victim },
    { name: 'y/', mode: 0o777 },
    { name: 'y', type: 'symlink', linkname: victim },
  ]);
  try {
    assert.ok(lstatSync(path.join(dir, 'x')).isSymbolicLink());
    assert.is(statSync(victim).mode & 0o777, 0o600, 'the host file kept its mode');
  } finally {
    cleanup();
    t.cleanup();
  }
});

test('hardlinks to outside the root or through a symlink are refused', async () => {
  const out = await applyError([{ name: 'pw', type: 'link', linkname: '../../../etc/passwd' }]);
  try {
    assert.match(out.msg, /hardlink pw target "\.\.\/\.\.\/\.\.\/etc\/passwd": path traversal/);
    assert.not.ok(existsSync(path.join(out.dir, 'pw')));
  } finally {
    out.cleanup();
  }
  const via = await applyError([
    { name: 'etc', type: 'symlink', linkname: '/etc' },
    { name: 'pw', type: 'link', linkname: 'etc/passwd' },
  ]);
  try {
    assert.match(via.msg, /^path traversal via symlink: pw links to etc\/passwd through the symlink etc$/);
    assert.not.ok(existsSync(path.join(via.dir, 'pw')));
  } finally {
    via.cleanup();
  }
  const missing = await applyError([{ name: 'pw', type: 'link', linkname: 'not/there' }]);
  try {
    assert.match(missing.msg, /^hardlink pw names "not\/there", which is not an earlier entry of the layer$/);
  } finally {
    missing.cleanup();
  }
});

test('a truncated tar is an error', async () => {
  const t = tmpDir();
  try {
    const buf = await layerTar([{ name: 'big', content: Buffer.alloc(10000, 1) }]);
    mkdirSync(path.join(t.dir, 'd'));
    await applyLayer(Readable.from([buf.subarray(0, 3000)]), path.join(t.dir, 'd')).then(
      () => assert.unreachable('truncated tar applied'),
      (e: Error) => assert.ok(e.message.length > 0 && !e.message.includes('\n')),
    );
  } finally {
    t.cleanup();
  }
});

test('unpackLayers: unpacks once per chain id, verifies diff ids, short links, gc', async () => {
  const t = tmpDir();
  try {
    const rec = await seedBusybox(t.dir, { layers: [[{ name: 'etc/' }, { name: 'etc/.wh.group', content: '' }, { name: 'hello', content: 'hi' }]] });
    const store = await Store.open(t.dir);
    const [a, b] = await Promise.all([unpackLayers(store, rec), unpackLayers(store, rec)]);
    assert.equal(a, b);
    const chains = chainIds(rec.diffIds);
    assert.equal(a, chains.map((c) => path.join(t.dir, 'layers', hexOf(c), 'diff')));
    assert.ok(statSync(path.join(a[0]!, 'bin/busybox')).isFile());
    assert.is(readFileSync(path.join(a[1]!, 'hello'), 'utf8'), 'hi');
    assert.not.ok(existsSync(path.join(a[1]!, 'bin')), 'a layer dir holds only its own changes');
    assert.ok(statSync(path.join(a[1]!, 'etc/group')).isCharacterDevice());
    assert.is(realpath(path.join(t.dir, 'layers', layerShortPath(chains[1]!))), a[1]);
    assert.equal(readdirSync(path.join(t.dir, 'tmp')), [], 'no temp dirs left');
    const ino = statSync(a[0]!).ino;
    await unpackLayers(store, rec);
    assert.is(statSync(a[0]!).ino, ino, 'second call reuses the unpacked layer');

    // gzip blob of the same layer in a second image: same chain, no new unpack
    const used = await layersInUse(store, async () => []);
    assert.ok(used.has(hexOf(chains[1]!)));
    await store.transaction(() => store.deleteImageRecord(rec.id));
    assert.equal(await collectLayers(store, async () => []), { layers: 2 });
    assert.not.ok(existsSync(a[0]!));
    assert.equal(readdirSync(path.join(t.dir, 'layers', 'l')), []);
  } finally {
    t.cleanup();
  }
});

function realpath(p: string): string {
  return spawnSync('realpath', [p], { encoding: 'utf8' }).stdout.trim();
}

test('unpackLayers: gzip blobs are sniffed; a wrong diff id leaves nothing behind', async () => {
  const t = tmpDir();
  try {
    const store = await Store.open(t.dir);
    const tarBuf = await layerTar([{ name: 'f', content: 'gz' }]);
    const gz = gzipSync(tarBuf);
    const blob = await store.putBlobBytes(gz);
    const cfg = await store.putBlobBytes('{}');
    const good: ImageRecord = {
      id: cfg,
      manifest: { mediaType: MT.ociManifest, digest: cfg, size: 2 },
      config: { mediaType: MT.ociConfig, digest: cfg, size: 2 },
      layers: [{ mediaType: MT.ociLayerGzip, digest: blob, size: gz.length }],
      diffIds: [sha256(tarBuf)],
      added: new Date().toISOString(),
    };
    const [dir] = await unpackLayers(store, good);
    assert.is(readFileSync(path.join(dir!, 'f'), 'utf8'), 'gz');

    const bad = { ...good, diffIds: [sha256('something else')] };
    await unpackLayers(store, bad).then(
      () => assert.unreachable('wrong diff id accepted'),
      (e: Error) => assert.match(e.message, /diff id is sha256:/),
    );
    assert.not.ok(existsSync(path.join(t.dir, 'layers', hexOf(bad.diffIds[0]!))));
    assert.equal(readdirSync(path.join(t.dir, 'tmp')), []);
  } finally {
    t.cleanup();
  }
});

test('unpackLayers: a hostile layer fails whole, with the entry named', async () => {
  const t = tmpDir();
  try {
    const rec = await seedImage(t.dir, { layers: [[{ name: 'l', type: 'symlink', linkname: '/' }, { name: 'l/tmp/pwned', content: 'x' }]] });
    const store = await Store.open(t.dir);
    await unpackLayers(store, rec).then(
      () => assert.unreachable('hostile layer unpacked'),
      (e: Error) => assert.match(e.message, /path traversal via symlink: l\/tmp\/pwned/),
    );
    assert.not.ok(existsSync('/tmp/pwned'));
    assert.equal(readdirSync(path.join(t.dir, 'layers')).filter((n) => n !== 'l'), []);
    writeFileSync(path.join(t.dir, 'probe'), '');
  } finally {
    t.cleanup();
  }
});

test('a binary xattr (security.capability) is set byte for byte, and the input is read to its end', async () => {
  const t = tmpDir();
  try {
    // cap_net_raw,cap_setuid+ep as a VFS_CAP_REVISION_2 value: byte 0x80 alone is not valid UTF-8.
    const cap = Buffer.alloc(20);
    cap.writeUInt32LE(0x02000001, 0);
    cap.writeUInt32LE((1 << 13) | (1 << 7), 4);
    const body = Buffer.from('#!/bin/sh\n');
    const tarBytes = Buffer.concat([
      encodeHeader({ name: 'bin', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 }),
      encodeHeader({ name: 'bin/ping', type: 'file', mode: 0o755, uid: 0, gid: 0, size: body.length, mtime: 0, xattrs: new Map([['security.capability', cap]]) }),
      body,
      padding(body.length),
      END_OF_ARCHIVE,
      Buffer.alloc(4096), // trailing zero blocks, as many tar writers pad to a record
    ]);
    assert.ok(cap.toString('utf8').includes('\uFFFD'), 'the value is not valid UTF-8');
    const src = Readable.from([tarBytes]);
    let read = 0;
    src.on('data', (b: Buffer) => (read += b.length));
    await applyLayer(src, t.dir);
    assert.is(read, tarBytes.length, 'every input byte consumed');
    assert.equal(Buffer.compare(await getAttribute(path.join(t.dir, 'bin/ping'), 'security.capability'), cap), 0);
  } finally {
    t.cleanup();
  }
});

test.run();
