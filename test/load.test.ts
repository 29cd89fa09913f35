// bale load against every archive layout a user meets, and against broken archives.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { sha256, hexOf } from '../src/oci/digest.js';
import { Store } from '../src/store/store.js';
import { humanSize } from '../src/cli/output.js';
import { bale, baleOk, have, storeListing, tmpDir } from './helpers.js';
import { buildImage, busyboxEntries, type BuiltImage } from './images.js';
import { craneStyle, dockerLegacy, multiPlatform, ociImage, ociLayout, skopeoStyle, writeArchive } from './archives.js';
import type { Manifest } from '../src/oci/types.js';

let base: BuiltImage;
let app: BuiltImage;
const scratch = tmpDir('bale-load-');

test.before(async () => {
  base = await buildImage({ layers: [[{ name: 'etc/' }, { name: 'etc/os-release', content: 'ID=test\n' }]], config: { Cmd: ['/bin/sh'], Env: ['A=1'] } });
  app = await buildImage({
    layers: [
      [{ name: 'etc/' }, { name: 'etc/os-release', content: 'ID=test\n' }],
      [{ name: 'app/' }, { name: 'app/run', content: '#!/bin/sh\necho hi\n', mode: 0o755 }],
    ],
    config: { Entrypoint: ['/app/run'], Env: ['B=2'] },
    history: [
      { created: '2024-01-01T00:00:00Z', created_by: 'ADD os' },
      { created: '2024-01-01T00:00:00Z', created_by: 'ENV B=2', empty_layer: true },
      { created: '2024-01-01T00:00:00Z', created_by: 'COPY app' },
    ],
  });
});
test.after(() => scratch.cleanup());

function newStore(): { root: string; cleanup: () => void } {
  const t = tmpDir('bale-store-');
  return { root: t.dir, cleanup: t.cleanup };
}

async function imagesJson(root: string): Promise<{ Repository: string; Tag: string; ID: string }[]> {
  const out = await baleOk(root, ['images', '--no-trunc', '--format', 'json']);
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function assertLoads(file: string, expect: { id: string; tags: string[] }[], diffIds?: Map<string, string[]>): Promise<string> {
  const s = newStore();
  try {
    const out = await baleOk(s.root, ['load', '-i', file]);
    const rows = await imagesJson(s.root);
    for (const e of expect) {
      const tags = rows.filter((r) => r.ID === e.id).map((r) => `${r.Repository}:${r.Tag}`).filter((t) => t !== '<none>:<none>');
      assert.equal(tags.sort(), [...e.tags].sort(), `tags of ${e.id}`);
      assert.ok(rows.some((r) => r.ID === e.id), `image ${e.id} listed`);
      const inspect = JSON.parse(await baleOk(s.root, ['inspect', e.id]))[0];
      if (diffIds?.get(e.id)) assert.equal(inspect.RootFS.Layers, diffIds.get(e.id));
    }
    assert.is(new Set(rows.map((r) => r.ID)).size, expect.length, 'no other images');
    // Every stored blob hashes to its name.
    const store = await Store.open(s.root);
    for (const hex of readdirSync(store.blobDir)) assert.is(hexOf(sha256(readFileSync(path.join(store.blobDir, hex)))), hex);
    return out;
  } finally {
    s.cleanup();
  }
}

test('docker save <25 layout with a symlinked shared layer, two images', async () => {
  const f = path.join(scratch.dir, 'legacy.tar');
  await writeArchive(f, dockerLegacy([{ img: base, tags: ['base:1'] }, { img: app, tags: ['app:latest', 'example.com:5000/team/app:v2'] }]));
  const out = await assertLoads(
    f,
    [
      { id: base.configDigest, tags: ['base:1'] },
      { id: app.configDigest, tags: ['app:latest', 'example.com:5000/team/app:v2'] },
    ],
    new Map([[app.configDigest, app.diffIds]]),
  );
  assert.match(out, 'Loaded image: app:latest');
  assert.match(out, 'Loaded image: base:1');
});

test('docker save >=25 layout (OCI layout + manifest.json), tags from containerd annotations', async () => {
  const f = path.join(scratch.dir, 'docker25.tar');
  await writeArchive(f, ociLayout([ociImage(app, ['app:latest'])], { withDockerManifest: true }));
  await assertLoads(f, [{ id: app.configDigest, tags: ['app:latest'] }]);
});

test('skopeo docker-archive layout (<diff_id>.tar) and crane layout (gzip .tar.gz layers)', async () => {
  const f1 = path.join(scratch.dir, 'skopeo.tar');
  await writeArchive(f1, skopeoStyle(app, ['docker.io/library/app:1']));
  await assertLoads(f1, [{ id: app.configDigest, tags: ['app:1'] }]);
  const f2 = path.join(scratch.dir, 'crane.tar');
  await writeArchive(f2, craneStyle(app, ['app:crane']));
  await assertLoads(f2, [{ id: app.configDigest, tags: ['app:crane'] }]);
});

test('plain OCI archive with gzip and with zstd layers; ref.name holding a full reference', async () => {
  for (const c of ['gzip', 'zstd'] as const) {
    const f = path.join(scratch.dir, `oci-${c}.tar`);
    const o = ociImage(app, ['app:oci'], c);
    await writeArchive(f, ociLayout([o], { annotations: () => ({ 'org.opencontainers.image.ref.name': 'app:oci' }) }));
    const s = newStore();
    try {
      await baleOk(s.root, ['load', '-i', f]);
      const info = JSON.parse(await baleOk(s.root, ['inspect', 'app:oci']))[0];
      assert.is(info.Id, app.configDigest);
      // The manifest is kept byte for byte: its digest is the one the archive had.
      assert.is(info.Descriptor.digest, sha256(o.manifest));
      const store = await Store.open(s.root);
      for (const b of o.layerBlobs) assert.ok(await store.hasBlob(sha256(b)), `${c} layer blob stored as received`);
      // SIZE, as docker shows it, is the sum of the files' sizes in the layers: neither the blobs as
      // stored nor the tars' length (headers, padding, directories).
      const files = Buffer.byteLength('ID=test\n') + Buffer.byteLength('#!/bin/sh\necho hi\n');
      assert.is(info.Size, files, `${c}: size of the files in the layers`);
      assert.is.not(info.Size, o.layerBlobs.reduce((n, l) => n + l.length, 0));
      assert.is.not(info.Size, app.layers.reduce((n, l) => n + l.length, 0));
      assert.is((await baleOk(s.root, ['images', '--format', '{{.Size}}'])).trim(), humanSize(files));
    } finally {
      s.cleanup();
    }
  }
});

test('an OCI index entry with only a tag in ref.name loads untagged', async () => {
  const f = path.join(scratch.dir, 'oci-tagonly.tar');
  await writeArchive(f, ociLayout([ociImage(base, ['x:latest'])], { annotations: () => ({ 'org.opencontainers.image.ref.name': 'latest' }) }));
  const s = newStore();
  try {
    const out = await baleOk(s.root, ['load', '-i', f]);
    assert.match(out, `Loaded image ID: ${base.configDigest}`);
  } finally {
    s.cleanup();
  }
});

test('multi-platform index: the host platform is chosen, --platform picks another, a missing one is named', async () => {
  const other = await buildImage({ layers: [[{ name: 'arm/' }]], config: { Cmd: ['arm'] }, platform: { os: 'linux', architecture: 'arm64' } });
  const f = path.join(scratch.dir, 'multi.tar');
  await writeArchive(f, multiPlatform([ociImage(other, []), ociImage(base, [])], 'multi:1'));
  const s = newStore();
  try {
    const loaded = async (platform: string) => {
      await baleOk(s.root, ['load', '-i', f, '--platform', platform]);
      const i = JSON.parse(await baleOk(s.root, ['inspect', 'multi:1']))[0] as { Id: string; Os: string; Architecture: string };
      return [i.Id, `${i.Os}/${i.Architecture}`];
    };
    assert.equal(await loaded('linux/amd64'), [base.configDigest, 'linux/amd64']);
    assert.equal(await loaded('linux/arm64'), [other.configDigest, 'linux/arm64']);
    const r = await bale(s.root, ['load', '-i', f, '--platform', 'linux/s390x']);
    assert.is.not(r.code, 0);
    assert.match(r.stderr, 'no image for linux/s390x');
    assert.match(r.stderr, 'linux/arm64');
  } finally {
    s.cleanup();
  }
});

test('load from stdin, and a gzip-compressed archive', async () => {
  const tarBuf = await writeArchive(path.join(scratch.dir, 'stdin.tar'), skopeoStyle(base, ['base:stdin']));
  const s = newStore();
  try {
    const out = await baleOk(s.root, ['load'], { input: tarBuf });
    assert.match(out, 'Loaded image: base:stdin');
    const gz = path.join(scratch.dir, 'archive.tar.gz');
    writeFileSync(gz, gzipSync(await writeArchive(path.join(scratch.dir, 'for-gz.tar'), skopeoStyle(app, ['app:gz']))));
    assert.match(await baleOk(s.root, ['load', '-q', '-i', gz]), /^$/);
    assert.is(JSON.parse(await baleOk(s.root, ['inspect', 'app:gz']))[0].Id, app.configDigest);
  } finally {
    s.cleanup();
  }
});

// ---- broken archives: a one-line error naming the problem, and the store exactly as before ----

async function assertRefused(file: string | Buffer, pattern: RegExp | string): Promise<void> {
  const s = newStore();
  try {
    // A store with something in it already, to show nothing of it changes.
    await baleOk(s.root, ['load', '-i', path.join(scratch.dir, 'legacy.tar')]);
    const before = storeListing(s.root);
    const r = typeof file === 'string' ? await bale(s.root, ['load', '-i', file]) : await bale(s.root, ['load'], { input: file });
    assert.is.not(r.code, 0, 'exit code');
    assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(storeListing(s.root), before, 'store unchanged');
    assert.equal(readdirSync(path.join(s.root, 'tmp')), [], 'no temp files left');
  } finally {
    s.cleanup();
  }
}

test('truncated archive is refused', async () => {
  const buf = await writeArchive(path.join(scratch.dir, 'full.tar'), skopeoStyle(app, ['app:t']));
  const cut = buf.subarray(0, Math.floor(buf.length / 2) + 100);
  await assertRefused(cut, /truncated|Unexpected end|not a readable tar/);
});

test('a flipped byte in a layer is refused (diff_id mismatch / digest mismatch)', async () => {
  const files = skopeoStyle(app, ['app:flip']);
  const layer = files.find((f) => f.name.endsWith('.tar') && f.data!.includes('echo hi'))!;
  const data = Buffer.from(layer.data!);
  data[data.indexOf('echo hi')] ^= 0x01; // inside file content, not a header
  layer.data = data;
  const f = path.join(scratch.dir, 'flip.tar');
  await writeArchive(f, files);
  await assertRefused(f, /diff_id mismatch/);

  const o = ociImage(app, ['app:flip'], 'gzip');
  const oci = ociLayout([o]);
  const blob = oci.find((x) => x.name === `blobs/sha256/${hexOf(sha256(o.layerBlobs[1]!))}`)!;
  const flipped = Buffer.from(blob.data!);
  flipped[20] ^= 0xff;
  blob.data = flipped;
  const f2 = path.join(scratch.dir, 'flip-oci.tar');
  await writeArchive(f2, oci);
  await assertRefused(f2, /digest mismatch/);
});

test('a layer large enough to be examined in a worker as it arrives: damaged, cut short or hostile, it is refused with the store and tmp/ as they were', async () => {
  // 6 MiB of content: above the size examined in the loading thread, so its chunks go to a worker
  // while they are written; the traversal entry comes after all of them.
  const big = randomBytes(6 << 20);
  const clean = await buildImage({ layers: [[{ name: 'data/' }, { name: 'data/big', content: big }]] });
  const hostile = await buildImage({ layers: [[{ name: 'data/' }, { name: 'data/big', content: big }, { name: '../escaped', content: 'x' }]] });
  const f = path.join(scratch.dir, 'big-layer.tar');

  // A flipped byte in the middle: the blob is not the one the manifest names.
  const files = skopeoStyle(clean, ['big:damaged']);
  const layer = files.find((x) => x.name.endsWith('.tar'))!;
  const flipped = Buffer.from(layer.data!);
  flipped[flipped.length >> 1] ^= 0x01;
  await writeArchive(f, files.map((x) => (x === layer ? { ...x, data: flipped } : x)));
  await assertRefused(f, /diff_id mismatch/);

  // Cut inside the layer, from a pipe: the bytes stop while the worker is examining them.
  const whole = await writeArchive(f, skopeoStyle(clean, ['big:cut']));
  await assertRefused(whole.subarray(0, whole.indexOf(big.subarray(3 << 20, (3 << 20) + 64))), /truncated|Unexpected end|not a readable tar/);

  // A layer that breaks the rules after 6 MiB of good content; and the same layer (gzip, in an OCI
  // layout, whose manifest names its digest) damaged as well: named by its digest mismatch first.
  await writeArchive(f, skopeoStyle(hostile, ['big:hostile']));
  await assertRefused(f, /path traversal/);
  const o = ociImage(hostile, ['big:both'], 'gzip');
  const good = o.layerBlobs[0]!;
  const damaged = Buffer.from(good);
  damaged[damaged.length >> 1] ^= 0x01;
  await writeArchive(f, ociLayout([o]).map((x) => (x.name === `blobs/sha256/${hexOf(sha256(good))}` ? { ...x, data: damaged } : x)));
  await assertRefused(f, `: layer ${sha256(good)}: digest mismatch (content is ${sha256(damaged)})`);
});

test('a damaged gzip layer is refused for its digest mismatch; the same bytes named by their own digest for not being a layer', async () => {
  // A few MiB of hex lines: deflate codes them with Huffman tables, so a flipped byte garbles what
  // follows and the gzip check fails while the blob's later chunks are still to be hashed.
  const lines = Array.from({ length: 60_000 }, (_, i) => `${i} ${hexOf(sha256(Buffer.from(String(i))))}\n`).join('');
  const noisy = await buildImage({ layers: [[{ name: 'noise', content: lines }]] });
  const o = ociImage(noisy, ['noise:damaged'], 'gzip');
  const good = o.layerBlobs[0]!;
  const bad = Buffer.from(good);
  bad[bad.length >> 1] ^= 0xff;
  const f = path.join(scratch.dir, 'damaged-gzip.tar');
  // The manifest names the good blob; the archive holds the damaged bytes under that name.
  await writeArchive(f, ociLayout([o]).map((x) => (x.name === `blobs/sha256/${hexOf(sha256(good))}` ? { ...x, data: bad } : x)));
  await assertRefused(f, `: layer ${sha256(good)}: digest mismatch (content is ${sha256(bad)})`);

  // A manifest naming the damaged bytes by their digest: the archive is whole, the layer is what is wrong.
  const m = JSON.parse(o.manifest.toString()) as Manifest;
  m.layers[0] = { ...m.layers[0]!, digest: sha256(bad), size: bad.length };
  await writeArchive(f, ociLayout([{ ...o, manifest: Buffer.from(JSON.stringify(m)), layerBlobs: [bad] }]));
  await assertRefused(f, new RegExp(`: layer ${sha256(bad)}: (incorrect data check|not a valid layer tar)`));
});

test('a missing blob is refused, naming it', async () => {
  // An image none of whose layers the store has already (a store that had it would make this a delta archive).
  const lonely = await buildImage({ layers: [[{ name: 'lonely', content: 'only here' }]] });
  const o = ociImage(lonely, ['lonely:missing']);
  const missing = sha256(o.layerBlobs[0]!);
  const files = ociLayout([o]).filter((x) => x.name !== `blobs/sha256/${hexOf(missing)}`);
  const f = path.join(scratch.dir, 'missing.tar');
  await writeArchive(f, files);
  await assertRefused(f, new RegExp(`missing from the archive.*${missing}`));
});

test('not an archive at all, and an archive without a manifest, are refused', async () => {
  await assertRefused(Buffer.from('hello, this is not a tar file at all'.repeat(40)), /not a readable tar|empty archive|no manifest/);
  const f = path.join(scratch.dir, 'nomanifest.tar');
  await writeArchive(f, [{ name: 'hello.txt', data: Buffer.from('hi') }]);
  await assertRefused(f, /not an image archive/);
});

test('a layer that writes through its own symlink is refused at load', async () => {
  const evil = await buildImage({ layers: [[{ name: 'etc', type: 'symlink', linkname: '/tmp' }, { name: 'etc/pwned', content: 'x' }]] });
  const f = path.join(scratch.dir, 'evil.tar');
  await writeArchive(f, skopeoStyle(evil, ['evil:1']));
  await assertRefused(f, /path traversal via symlink/);
});

// ---- real peers as producers ----

test('archives written by skopeo (docker-archive and oci-archive, gzip and zstd)', async () => {
  if (!have('skopeo')) {
    assert.unreachable('skopeo is not installed: .ci/run installs it');
  }
  const img = await buildImage({ layers: [busyboxEntries()], config: { Cmd: ['sh'], Env: ['FOO=bar'] } });
  const layout = path.join(scratch.dir, 'layout');
  // Write an OCI layout directory by hand for skopeo to read.
  const o = ociImage(img, ['bb:1']);
  for (const f of ociLayout([o], { annotations: () => ({ 'org.opencontainers.image.ref.name': 'bb' }) })) {
    const p = path.join(layout, f.name);
    spawnSync('mkdir', ['-p', path.dirname(p)]);
    writeFileSync(p, f.data!);
  }
  const run = (args: string[]) => {
    const r = spawnSync('skopeo', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')}: ${r.stderr}`);
  };
  const da = path.join(scratch.dir, 'skopeo-da.tar');
  run(['copy', '-q', `oci:${layout}:bb`, `docker-archive:${da}:busybox:skopeo`]);
  await assertLoads(da, [{ id: img.configDigest, tags: ['busybox:skopeo'] }]);
  for (const c of ['gzip', 'zstd']) {
    const oa = path.join(scratch.dir, `skopeo-oa-${c}.tar`);
    run(['copy', '-q', '--dest-compress-format', c, `oci:${layout}:bb`, `oci-archive:${oa}:busybox:${c}`]);
    await assertLoads(oa, [{ id: img.configDigest, tags: [`busybox:${c}`] }]);
  }
});

test.run();
