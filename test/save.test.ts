// bale save: the archive's layout (Docker and OCI in one tar), blob sharing, reproducibility, flags
// and errors, read back with tar-stream and GNU tar.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { sha256, type Digest } from '../src/oci/digest.js';
import { MT } from '../src/oci/media.js';
import type { DockerArchiveEntry, ImageConfig, Index, Manifest } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { bale, baleOk, BALE, tmpDir } from './helpers.js';
import { gnuTarList, layerTar, seedBusybox, seedImage } from './images.js';
import { APP_LAYER, entryMap, jsonOf, readTar, seedCompressed, withStore, zstdDecompress } from './save-helpers.js';

test('both layouts in one tar: manifest.json, repositories, legacy dirs, oci-layout, index.json', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root);
    const store = await Store.open(root);
    const out = path.join(dir, 'bb.tar');
    const stdout = await baleOk(root, ['save', '-o', out, 'busybox']);
    assert.is(stdout, '');
    const m = entryMap(await readTar(out));

    assert.equal(jsonOf(m, 'oci-layout'), { imageLayoutVersion: '1.0.0' });
    const index = jsonOf<Index>(m, 'index.json');
    assert.is(index.manifests.length, 1);
    assert.is(index.manifests[0]!.digest, rec.manifest.digest);
    assert.equal(index.manifests[0]!.annotations, {
      'io.containerd.image.name': 'docker.io/library/busybox:latest',
      'org.opencontainers.image.ref.name': 'busybox:latest',
    });

    const manifest = jsonOf<DockerArchiveEntry[]>(m, 'manifest.json');
    assert.is(manifest.length, 1);
    assert.is(manifest[0]!.Config, `blobs/sha256/${rec.id.slice(7)}`);
    assert.equal(manifest[0]!.RepoTags, ['busybox:latest']);
    assert.equal(manifest[0]!.Layers, rec.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`));

    // Every blob byte-identical to the store's, named by its digest.
    for (const d of [rec.id, rec.manifest.digest, ...rec.layers.map((l) => l.digest)]) {
      const e = m.get(`blobs/sha256/${d.slice(7)}`);
      assert.ok(e, `blob ${d} present`);
      assert.ok(e!.body.equals(await store.readBlob(d)));
    }

    // Legacy dir: VERSION, json and a layer.tar that is a symlink to the blob, not a copy.
    const repos = jsonOf<Record<string, Record<string, string>>>(m, 'repositories');
    const top = repos['busybox']!['latest']!;
    assert.match(top, /^[a-f0-9]{64}$/);
    assert.is(m.get(`${top}/VERSION`)!.body.toString(), '1.0');
    const v1 = jsonOf<{ id: string; config: { Cmd: string[] }; os: string; parent?: string }>(m, `${top}/json`);
    assert.is(v1.id, top);
    assert.equal(v1.config.Cmd, ['sh']);
    assert.is(v1.os, 'linux');
    assert.is(v1.parent, undefined);
    const lt = m.get(`${top}/layer.tar`)!;
    assert.is(lt.type, 'symlink');
    assert.is(lt.linkname, `../blobs/sha256/${rec.layers[0]!.digest.slice(7)}`);
    assert.is(lt.body.length, 0);

    // Reproducible headers: uid/gid 0, mtime 0.
    for (const e of m.values()) {
      assert.is(e.uid, 0);
      assert.is(e.gid, 0);
      assert.is(e.mtime!.getTime(), 0);
    }
    // GNU tar reads it cleanly and sees the same entries.
    const listed = gnuTarList(out);
    assert.is(listed.length, m.size);
    assert.ok(listed.some((l) => l.startsWith('l') && l.includes(`${top}/layer.tar -> ../blobs/sha256/`)));
  }));

test('several images share each layer once; the legacy chain links parents', () =>
  withStore(async (root, dir) => {
    const bb = await seedBusybox(root);
    const app = await seedBusybox(root, { layers: [APP_LAYER], tags: ['app:1'], config: { Cmd: ['cat', '/app/hello'] } });
    const app2 = await seedBusybox(root, { layers: [APP_LAYER], tags: ['app:2'], config: { Cmd: ['sh', '-c', 'echo two'] } });
    const out = path.join(dir, 'all.tar');
    await baleOk(root, ['save', '-o', out, 'busybox', 'app:1', 'app:2']);
    const entries = await readTar(out);
    const m = entryMap(entries);
    const blobs = entries.filter((e) => e.name.startsWith('blobs/sha256/') && e.type === 'file').map((e) => e.name);
    assert.is(new Set(blobs).size, blobs.length, 'no blob written twice');
    // 2 distinct layers + 3 configs + 3 manifests.
    assert.is(blobs.length, 2 + 3 + 3);
    assert.is(bb.layers[0]!.digest, app.layers[0]!.digest);

    const manifest = jsonOf<DockerArchiveEntry[]>(m, 'manifest.json');
    assert.equal(manifest.map((e) => e.RepoTags), [['busybox:latest'], ['app:1'], ['app:2']]);
    const repos = jsonOf<Record<string, Record<string, string>>>(m, 'repositories');
    assert.equal(Object.keys(repos), ['app', 'busybox']);
    const top1 = jsonOf<{ id: string; parent: string }>(m, `${repos['app']!['1']}/json`);
    const top2 = jsonOf<{ id: string; parent: string }>(m, `${repos['app']!['2']}/json`);
    assert.is.not(top1.id, top2.id);
    assert.is(top1.parent, top2.parent, 'the shared base layer has one legacy dir');
    assert.ok(m.has(`${top1.parent}/layer.tar`));
    // Three tops plus one shared lower dir.
    const dirs = entries.filter((e) => /^[a-f0-9]{64}\/$/.test(e.name));
    assert.is(dirs.length, 4);
    assert.is(jsonOf<Index>(m, 'index.json').manifests.length, 3);
    void app2;
  }));

test('the same inputs give a byte-identical archive, to a file or to stdout', () =>
  withStore(async (root, dir) => {
    await seedBusybox(root);
    await seedBusybox(root, { layers: [APP_LAYER], tags: ['app:1'] });
    const a = path.join(dir, 'a.tar');
    const b = path.join(dir, 'b.tar');
    await baleOk(root, ['save', '-o', a, 'app:1', 'busybox']);
    await baleOk(root, ['save', '-o', b, 'app:1', 'busybox']);
    assert.ok(readFileSync(a).equals(readFileSync(b)));
    const r = spawnSync(BALE, ['save', 'app:1', 'busybox'], { env: { ...process.env, BALE_ROOT: root }, maxBuffer: 1 << 28 });
    assert.is(r.status, 0, String(r.stderr));
    assert.ok(r.stdout.equals(readFileSync(a)), 'stdout gives the same bytes');
    assert.equal(readdirSync(dir).sort(), ['a.tar', 'b.tar', 'store'], 'no temp file left next to the output');
  }));

test('saving by id records no tag; several names of one image merge into one entry', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root, { tags: ['busybox:latest', 'busybox:1.36'] });
    const byId = path.join(dir, 'id.tar');
    await baleOk(root, ['save', '-o', byId, rec.id.slice(7, 19)]);
    let m = entryMap(await readTar(byId));
    assert.equal(jsonOf<DockerArchiveEntry[]>(m, 'manifest.json')[0]!.RepoTags, null);
    const idx = jsonOf<Index>(m, 'index.json');
    assert.is(idx.manifests.length, 1);
    assert.is(idx.manifests[0]!.annotations, undefined);
    assert.not.ok(m.has('repositories'));

    const both = path.join(dir, 'both.tar');
    await baleOk(root, ['save', '-o', both, 'busybox:1.36', 'busybox', rec.id]);
    m = entryMap(await readTar(both));
    const manifest = jsonOf<DockerArchiveEntry[]>(m, 'manifest.json');
    assert.is(manifest.length, 1);
    assert.equal(manifest[0]!.RepoTags, ['busybox:1.36', 'busybox:latest']);
    const refs = jsonOf<Index>(m, 'index.json').manifests.map((d) => d.annotations?.['org.opencontainers.image.ref.name']);
    assert.equal(refs, ['busybox:1.36', 'busybox:latest']);
    assert.equal(Object.keys(jsonOf<Record<string, object>>(m, 'repositories')['busybox']!), ['1.36', 'latest']);
  }));

test('--format oci has no Docker parts; --format docker has no OCI parts', () =>
  withStore(async (root, dir) => {
    await seedBusybox(root);
    const oci = path.join(dir, 'oci.tar');
    await baleOk(root, ['save', '--format', 'oci', '-o', oci, 'busybox']);
    let names = (await readTar(oci)).map((e) => e.name);
    assert.ok(names.includes('index.json') && names.includes('oci-layout'));
    assert.not.ok(names.includes('manifest.json'));
    assert.not.ok(names.includes('repositories'));
    assert.not.ok(names.some((n) => /^[a-f0-9]{64}\//.test(n)), 'no legacy dirs');

    const docker = path.join(dir, 'docker.tar');
    await baleOk(root, ['save', '--format', 'docker', '-o', docker, 'busybox']);
    names = (await readTar(docker)).map((e) => e.name);
    assert.ok(names.includes('manifest.json') && names.includes('repositories'));
    assert.not.ok(names.includes('index.json'));
    assert.not.ok(names.includes('oci-layout'));
    // Only the config and the layer: a Docker archive needs no manifest blob.
    assert.is(names.filter((n) => /^blobs\/sha256\/./.test(n)).length, 2);

    const bad = await bale(root, ['save', '--format', 'tarball', '-o', docker, 'busybox']);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /--format takes docker, oci or both/);
  }));

test('--compress gzip and zstd re-encode layers: new OCI manifest, same config and diff_ids', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root, { layers: [APP_LAYER] });
    const store = await Store.open(root);
    for (const c of ['gzip', 'zstd'] as const) {
      const out = path.join(dir, `${c}.tar`);
      const fmt = c === 'zstd' ? ['--format', 'oci'] : [];
      await baleOk(root, ['save', ...fmt, '--compress', c, '-o', out, 'busybox']);
      const m = entryMap(await readTar(out));
      const idx = jsonOf<Index>(m, 'index.json');
      const md = idx.manifests[0]!;
      assert.is.not(md.digest, rec.manifest.digest, 'a new manifest');
      const mblob = m.get(`blobs/sha256/${md.digest.slice(7)}`)!.body;
      assert.is(sha256(mblob), md.digest);
      assert.is(mblob.length, md.size);
      const man = JSON.parse(mblob.toString()) as Manifest;
      assert.is(man.mediaType, MT.ociManifest);
      assert.is(man.config.digest, rec.id);
      assert.is(man.layers.length, 2);
      for (const [i, l] of man.layers.entries()) {
        assert.is(l.mediaType, c === 'gzip' ? MT.ociLayerGzip : MT.ociLayerZstd);
        const blob = m.get(`blobs/sha256/${l.digest.slice(7)}`)!.body;
        assert.is(sha256(blob), l.digest);
        assert.is(blob.length, l.size);
        const plain = c === 'gzip' ? gunzipSync(blob) : zstdDecompress(blob);
        assert.is(sha256(plain), rec.diffIds[i]);
      }
      const cfg = m.get(`blobs/sha256/${rec.id.slice(7)}`)!.body;
      assert.ok(cfg.equals(await store.readBlob(rec.id)), 'config unchanged');
      // Reproducible with compression too.
      const again = path.join(dir, `${c}-2.tar`);
      await baleOk(root, ['save', ...fmt, '--compress', c, '-o', again, 'busybox']);
      assert.ok(readFileSync(out).equals(readFileSync(again)));
      // Into a file each layer is compressed in place; into a pipe through a temp file: the same bytes.
      const piped = spawnSync(BALE, ['save', ...fmt, '--compress', c, 'busybox'], { env: { ...process.env, BALE_ROOT: root }, maxBuffer: 1 << 28 });
      assert.is(piped.status, 0, piped.stderr.toString());
      assert.ok(piped.stdout.equals(readFileSync(out)), 'stdout and -o FILE: the same bytes');
    }
    // Layers already in the asked-for compression are kept as stored: same manifest digest.
    const gz = await seedCompressed(root, { layers: [[{ name: 'g', content: 'gzip layer\n' }]], tags: ['gz:1'] }, 'gzip');
    const keep = path.join(dir, 'keep.tar');
    await baleOk(root, ['save', '--compress', 'gzip', '-o', keep, 'gz:1']);
    const km = entryMap(await readTar(keep));
    assert.is(jsonOf<Index>(km, 'index.json').manifests[0]!.digest, gz.manifest.digest);
    assert.ok(km.get(`blobs/sha256/${gz.layers[0]!.digest.slice(7)}`)!.body.equals(await store.readBlob(gz.layers[0]!.digest)));
    // Nothing re-encoded is left behind in the store's temp space.
    assert.equal(readdirSync(path.join(root, 'tmp')), []);
  }));

test('zstd where a Docker archive would hold it (docker and both) is refused with one line', () =>
  withStore(async (root, dir) => {
    await seedBusybox(root);
    const out = path.join(dir, 'x.tar');
    let r;
    // dockerd 20.10 reads a zstd layer named by manifest.json as "archive/tar: invalid tar header".
    for (const fmt of ['docker', 'both']) {
      r = await bale(root, ['save', '--format', fmt, '--compress', 'zstd', '-o', out, 'busybox']);
      assert.is(r.code, 2, fmt);
      assert.match(r.stderr, /^bale: --compress zstd needs --format oci: the Docker half of an archive holds only layers docker reads/);
      assert.is(r.stderr.trim().split('\n').length, 1);
      assert.not.ok(existsSync(out));
    }

    // An image stored with zstd layers: both and docker refuse unless told to re-encode.
    const z = await seedCompressed(root, { layers: [[{ name: 'z/' }, { name: 'z/f', content: 'zstd layer\n' }]], tags: ['zimg:1'] }, 'zstd');
    for (const fmt of ['docker', 'both']) {
      r = await bale(root, ['save', '--format', fmt, '-o', out, 'zimg:1']);
      assert.is.not(r.code, 0, fmt);
      assert.match(r.stderr, /zimg:1: has zstd layers/);
      assert.not.ok(existsSync(out));
    }
    await baleOk(root, ['save', '--format', 'oci', '-o', out, 'zimg:1']);
    let m = entryMap(await readTar(out));
    assert.is(jsonOf<Index>(m, 'index.json').manifests[0]!.digest, z.manifest.digest, 'kept as stored');
    await baleOk(root, ['save', '--compress', 'gzip', '-o', out, 'zimg:1']);
    m = entryMap(await readTar(out));
    const layer = jsonOf<DockerArchiveEntry[]>(m, 'manifest.json')[0]!.Layers[0]!;
    assert.is(sha256(gunzipSync(m.get(layer)!.body)), z.diffIds[0]);
    await baleOk(root, ['save', '--compress', 'none', '--format', 'docker', '-o', out, 'zimg:1']);
    m = entryMap(await readTar(out));
    const plain = m.get(jsonOf<DockerArchiveEntry[]>(m, 'manifest.json')[0]!.Layers[0]!)!.body;
    assert.is(sha256(plain), z.diffIds[0]);
  }));

test('unknown images, terminals and unwritable outputs fail with one line and leave nothing', () =>
  withStore(async (root, dir) => {
    await seedBusybox(root);
    const out = path.join(dir, 'x.tar');
    let r = await bale(root, ['save', '-o', out, 'busybox', 'nosuch:1']);
    assert.is(r.code, 1);
    assert.is(r.stderr, 'bale: No such image: nosuch:1\n');
    assert.not.ok(existsSync(out));

    r = await bale(root, ['save', '-o', path.join(dir, 'no', 'such', 'dir.tar'), 'busybox']);
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /^bale: .*cannot write/);

    r = await bale(root, ['save']);
    assert.is(r.code, 2);

    // stdout a terminal: refused (script gives the child a pty).
    const s = spawnSync('script', ['-qec', `${BALE} save busybox`, '/dev/null'], { env: { ...process.env, BALE_ROOT: root }, encoding: 'utf8' });
    assert.is.not(s.status, 0);
    assert.match(s.stdout, /refusing to write an archive to a terminal/);
  }));

test('a damaged blob in the store fails the save and leaves no archive', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root);
    const store = await Store.open(root);
    const p = store.blobPath(rec.layers[0]!.digest);
    chmodSync(p, 0o644);
    const b = readFileSync(p);
    b[1000] = b[1000]! ^ 0xff;
    writeFileSync(p, b);
    const out = path.join(dir, 'x.tar');
    const r = await bale(root, ['save', '-o', out, 'busybox']);
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /blob sha256:[a-f0-9]{64} in the store is damaged/);
    assert.equal(readdirSync(dir).sort(), ['store']);
  }));

test('progress on a terminal, nothing with -q', () =>
  withStore(async (root, dir) => {
    await seedBusybox(root);
    const out = path.join(dir, 'x.tar');
    const run = (q: string) =>
      spawnSync('script', ['-qec', `${BALE} save ${q} -o ${out} busybox`, '/dev/null'], { env: { ...process.env, BALE_ROOT: root }, encoding: 'utf8' });
    const loud = run('');
    assert.is(loud.status, 0, loud.stdout);
    assert.match(loud.stdout, /Saved 1 image \(3 blobs/);
    const quiet = run('-q');
    assert.is(quiet.status, 0, quiet.stdout);
    assert.is(quiet.stdout, '');
    assert.ok(existsSync(out));
  }));

test('images with several layers and an image with a digest-named layer list: blobs match the manifest', () =>
  withStore(async (root, dir) => {
    const rec = await seedImage(root, {
      layers: [[{ name: 'a', content: 'a' }], [{ name: 'b', content: 'b' }], [{ name: '.wh.a', content: '' }]],
      tags: ['multi:3'],
    });
    const out = path.join(dir, 'multi.tar');
    await baleOk(root, ['save', '-o', out, 'multi:3']);
    const m = entryMap(await readTar(out));
    const cfg = jsonOf<ImageConfig>(m, `blobs/sha256/${rec.id.slice(7)}`);
    assert.equal(cfg.rootfs.diff_ids, rec.diffIds);
    const top = jsonOf<Record<string, Record<string, string>>>(m, 'repositories')['multi']!['3']!;
    // Walk the parent chain from the top: three legacy dirs, bottom has no parent, each links its layer.
    const chain: string[] = [];
    for (let id: string | undefined = top; id; id = jsonOf<{ parent?: string }>(m, `${id}/json`).parent) chain.unshift(id);
    assert.is(chain.length, 3);
    chain.forEach((id, i) => assert.is(m.get(`${id}/layer.tar`)!.linkname, `../blobs/sha256/${(rec.layers[i]!.digest as Digest).slice(7)}`));
  }));

test('a Docker-manifest image with mixed layers: --compress gzip re-encodes the plain one into an OCI manifest', () =>
  withStore(async (root, dir) => {
    // Stored as docker would hand it over: schema 2 manifest, one gzip layer, one plain layer.
    const l1 = await layerTar([{ name: 'a', content: 'one' }]);
    const l2 = await layerTar([{ name: 'b', content: 'two' }]);
    const g1 = gzipSync(l1);
    const store = await Store.open(root);
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [sha256(l1), sha256(l2)] } }));
    const layers = [
      { mediaType: MT.dockerLayerGzip, digest: await store.putBlobBytes(g1), size: g1.length },
      { mediaType: MT.dockerLayer, digest: await store.putBlobBytes(l2), size: l2.length },
    ];
    const id = await store.putBlobBytes(cfg);
    const man = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerManifest, config: { mediaType: MT.dockerConfig, digest: id, size: cfg.length }, layers }));
    const md = await store.putBlobBytes(man);
    await store.transaction(async () => {
      await store.putImage({ id, manifest: { mediaType: MT.dockerManifest, digest: md, size: man.length }, config: { mediaType: MT.dockerConfig, digest: id, size: cfg.length }, layers, diffIds: [sha256(l1), sha256(l2)], added: new Date().toISOString() });
      await store.setTags(id, ['mixed:1']);
    });

    const asStored = path.join(dir, 'stored.tar');
    await baleOk(root, ['save', '-o', asStored, 'mixed:1']);
    let d = jsonOf<Index>(entryMap(await readTar(asStored)), 'index.json').manifests[0]!;
    assert.equal([d.mediaType, d.digest], [MT.dockerManifest, md], 'the stored Docker manifest, as is');

    const out = path.join(dir, 'gz.tar');
    await baleOk(root, ['save', '--compress', 'gzip', '-o', out, 'mixed:1']);
    const m = entryMap(await readTar(out));
    d = jsonOf<Index>(m, 'index.json').manifests[0]!;
    assert.is(d.mediaType, MT.ociManifest);
    const oci = jsonOf<Manifest>(m, `blobs/sha256/${d.digest.slice(7)}`);
    assert.equal(oci.layers.map((l) => l.mediaType), [MT.ociLayerGzip, MT.ociLayerGzip]);
    assert.is(oci.layers[0]!.digest, layers[0]!.digest, 'the gzip layer is kept as stored');
    assert.is(sha256(gunzipSync(m.get(`blobs/sha256/${oci.layers[1]!.digest.slice(7)}`)!.body)), sha256(l2));
    assert.is(oci.config.mediaType, MT.ociConfig);
  }));

test.run();
