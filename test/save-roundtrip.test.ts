// Round trips through bale load: archives made by a peer (skopeo) load and save back with the same
// layer bytes and manifest digest; our archives load into a fresh store and save back byte for byte;
// delta archives load on a store that has the base and fail clearly on one that has not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sha256, type Digest } from '../src/oci/digest.js';
import type { DockerArchiveEntry, Index, Manifest } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { spawnSync } from 'node:child_process';
import { bale, baleOk, BALE, tmpDir } from './helpers.js';
import { seedBusybox } from './images.js';
import { APP_LAYER, entryMap, jsonOf, peer, readTar } from './save-helpers.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tmpDir();
  try {
    await fn(dir);
  } finally {
    cleanup();
  }
}

/** Blob name → bytes for every blob in an archive. */
async function blobsOf(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readTar(file)) if (e.type === 'file' && e.name.startsWith('blobs/sha256/')) out.set(e.name.slice(13), e.body);
  return out;
}

test('a skopeo oci-archive with gzip layers: load then save gives the same manifest digest and layer bytes', () =>
  withDir(async (dir) => {
    const src = path.join(dir, 'src');
    await seedBusybox(src, { layers: [APP_LAYER], tags: ['app:1'] });
    const plain = path.join(dir, 'plain.tar');
    await baleOk(src, ['save', '-o', plain, 'app:1']);
    // skopeo writes the archive we load: its own manifest, its own gzip encoding of the layers.
    const theirs = path.join(dir, 'skopeo-oci.tar');
    peer('skopeo', ['copy', '-q', '--dest-compress', '--dest-compress-format', 'gzip', `oci-archive:${plain}:app:1`, `oci-archive:${theirs}:app:1`]);
    const tm = entryMap(await readTar(theirs));
    const theirIndex = jsonOf<Index>(tm, 'index.json');
    const theirManifest = theirIndex.manifests[0]!;
    const theirLayers = jsonOf<Manifest>(tm, `blobs/sha256/${theirManifest.digest.slice(7)}`).layers;
    assert.ok(theirLayers.every((l) => l.mediaType.endsWith('+gzip')));

    const store = path.join(dir, 'store');
    await baleOk(store, ['load', '-q', '-i', theirs]);
    const ours = path.join(dir, 'ours.tar');
    await baleOk(store, ['save', '-o', ours, 'app:1']);
    const om = entryMap(await readTar(ours));
    assert.is(jsonOf<Index>(om, 'index.json').manifests[0]!.digest, theirManifest.digest, 'same manifest digest');
    const theirBlobs = await blobsOf(theirs);
    const ourBlobs = await blobsOf(ours);
    for (const l of theirLayers) {
      assert.ok(ourBlobs.get(l.digest.slice(7))?.equals(theirBlobs.get(l.digest.slice(7))!), `layer ${l.digest} byte-identical`);
    }
    // And skopeo reads our save of it back.
    peer('skopeo', ['inspect', `docker-archive:${ours}:app:1`]);
  }));

test('a skopeo docker-archive: load then save gives byte-identical layers', () =>
  withDir(async (dir) => {
    const src = path.join(dir, 'src');
    await seedBusybox(src, { layers: [APP_LAYER], tags: ['app:1'] });
    const plain = path.join(dir, 'plain.tar');
    await baleOk(src, ['save', '-o', plain, 'app:1']);
    const theirs = path.join(dir, 'skopeo-docker.tar');
    peer('skopeo', ['copy', '-q', `oci-archive:${plain}:app:1`, `docker-archive:${theirs}:app:1`]);
    const tm = entryMap(await readTar(theirs));
    const entry = jsonOf<DockerArchiveEntry[]>(tm, 'manifest.json')[0]!;
    const theirLayerBytes = entry.Layers.map((p) => tm.get(p)!.body);

    const store = path.join(dir, 'store');
    await baleOk(store, ['load', '-q', '-i', theirs]);
    const ours = path.join(dir, 'ours.tar');
    await baleOk(store, ['save', '-o', ours, 'app:1']);
    const om = entryMap(await readTar(ours));
    const ourEntry = jsonOf<DockerArchiveEntry[]>(om, 'manifest.json')[0]!;
    assert.equal(ourEntry.RepoTags, ['app:1']);
    assert.ok(om.get(ourEntry.Config)!.body.equals(tm.get(entry.Config)!.body), 'config bytes');
    assert.equal(ourEntry.Layers.map((p) => sha256(om.get(p)!.body)), theirLayerBytes.map((b) => sha256(b)));
  }));

test('our archive loads into a fresh store, and saving from there gives the same bytes', () =>
  withDir(async (dir) => {
    const a = path.join(dir, 'a');
    const bb = await seedBusybox(a);
    const app = await seedBusybox(a, { layers: [APP_LAYER], tags: ['app:1', 'app:latest'] });
    for (const fmt of ['both', 'docker', 'oci']) {
      const first = path.join(dir, `first-${fmt}.tar`);
      await baleOk(a, ['save', '--format', fmt, '-o', first, 'busybox', 'app:1', 'app:latest']);
      const b = path.join(dir, `b-${fmt}`);
      await baleOk(b, ['load', '-q', '-i', first]);
      const sb = await Store.open(b);
      assert.is((await sb.resolve('busybox')).id, bb.id, fmt);
      assert.is((await sb.resolve('app:1')).id, app.id, fmt);
      assert.equal(await sb.tagsOf(app.id), ['app:1', 'app:latest'], fmt);
      const second = path.join(dir, `second-${fmt}.tar`);
      await baleOk(b, ['save', '--format', fmt, '-o', second, 'busybox', 'app:1', 'app:latest']);
      assert.ok(readFileSync(first).equals(readFileSync(second)), `${fmt}: byte-identical after a round trip`);
    }
  }));

test('bale save | bale load through a pipe', () =>
  withDir(async (dir) => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    const app = await seedBusybox(a, { layers: [APP_LAYER], tags: ['app:1'] });
    const r = spawnSync('sh', ['-c', `BALE_ROOT=${a} ${BALE} save app:1 | BALE_ROOT=${b} ${BALE} load`], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /Loaded image: app:1/);
    assert.is((await (await Store.open(b)).resolve('app:1')).id, app.id);
  }));

test('a delta archive loads where the base is, and names the missing layers where it is not', () =>
  withDir(async (dir) => {
    const a = path.join(dir, 'a');
    const bb = await seedBusybox(a);
    const app = await seedBusybox(a, { layers: [APP_LAYER], tags: ['app:1'] });
    const base = path.join(dir, 'base.tar');
    await baleOk(a, ['save', '-o', base, 'busybox']);
    const delta = path.join(dir, 'delta.tar');
    await baleOk(a, ['save', '--exclude-from', base, '-o', delta, 'app:1']);
    const missing: Digest = bb.layers[0]!.digest;

    // Docker-only and OCI-only deltas (by --exclude-image) are refused the same way on an empty store.
    for (const fmt of ['docker', 'oci']) {
      const d = path.join(dir, `delta-${fmt}.tar`);
      await baleOk(a, ['save', '--format', fmt, '--exclude-image', 'busybox', '-o', d, 'app:1']);
      const r = await bale(path.join(dir, `empty-${fmt}`), ['load', '-i', d]);
      assert.is.not(r.code, 0, fmt);
      assert.ok(r.stderr.includes(missing.slice(7, 19)), `${fmt}: names the missing layer: ${r.stderr}`);
      // The delta markers let load say why, instead of calling the archive damaged.
      assert.match(r.stderr, 'a delta archive whose base layers this store lacks', fmt);
    }

    // A store without the base: refused, naming the layer, and nothing recorded.
    const empty = path.join(dir, 'empty');
    const r = await bale(empty, ['load', '-i', delta]);
    assert.is.not(r.code, 0);
    assert.ok(r.stderr.includes(missing.slice(7, 19)), `names the missing layer: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1);
    assert.equal(await (await Store.open(empty)).images(), []);

    // A store that loaded the base: the delta completes the image.
    const b = path.join(dir, 'b');
    await baleOk(b, ['load', '-q', '-i', base]);
    await baleOk(b, ['load', '-q', '-i', delta]);
    const sb = await Store.open(b);
    const rec = await sb.resolve('app:1');
    assert.is(rec.id, app.id);
    assert.equal(rec.diffIds, app.diffIds);
    // Now the full image saves from b exactly as from a.
    const fa = path.join(dir, 'full-a.tar');
    const fb = path.join(dir, 'full-b.tar');
    await baleOk(a, ['save', '-o', fa, 'app:1']);
    await baleOk(b, ['save', '-o', fb, 'app:1']);
    assert.ok(readFileSync(fa).equals(readFileSync(fb)));
  }));

test.run();
