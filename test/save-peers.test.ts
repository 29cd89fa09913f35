// bale save checked by real peers: skopeo reads our archive through both its docker-archive and
// oci-archive transports (and writes it back), umoci unpacks our OCI layout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, readdirSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { sha256 } from '../src/oci/digest.js';
import type { Manifest } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { bale, baleOk, have, tmpDir } from './helpers.js';
import { APPLETS, seedBusybox } from './images.js';
import { peer, peerBytes, seedCompressed, withStore } from './save-helpers.js';

for (const tool of ['skopeo', 'umoci']) if (!have(tool)) throw new Error(`${tool} is needed for these tests (.ci/run installs it)`);

const APP_LAYER = [{ name: 'app/' }, { name: 'app/hello', content: 'hello from app\n' }, { name: 'app/link', type: 'symlink' as const, linkname: 'hello' }];

/** The layer blobs skopeo put into a dir: destination, each checked against the manifest it wrote. */
function dirLayers(dir: string): Manifest {
  const man = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  for (const l of man.layers) {
    const b = readFileSync(path.join(dir, l.digest.slice(7)));
    assert.is(sha256(b), l.digest);
  }
  return man;
}

test('skopeo: docker-archive and oci-archive of our tar copy to dir: and back, configs agree', () =>
  withStore(async (root, dir) => {
    await seedBusybox(root);
    const rec = await seedBusybox(root, { layers: [APP_LAYER], tags: ['app:1'], config: { Cmd: ['cat', '/app/hello'], Env: ['A=1'] } });
    const store = await Store.open(root);
    const cfg = await store.readBlob(rec.id);
    const ours = path.join(dir, 'ours.tar');
    await baleOk(root, ['save', '-o', ours, 'busybox', 'app:1']);

    for (const [transport, ref] of [
      ['docker-archive', `docker-archive:${ours}:app:1`],
      ['oci-archive', `oci-archive:${ours}:app:1`],
    ] as const) {
      // skopeo reads the config we wrote, byte for byte.
      assert.ok(peerBytes('skopeo', ['inspect', '--raw', '--config', ref]).equals(cfg), `${transport}: config bytes`);
      const inspect = JSON.parse(peer('skopeo', ['inspect', ref])) as { Layers: string[]; Env: string[] };
      assert.is(inspect.Layers.length, 2);
      assert.equal(inspect.Env, ['A=1']);

      const d = path.join(dir, `${transport}-dir`);
      peer('skopeo', ['copy', '-q', ref, `dir:${d}`]);
      const man = dirLayers(d);
      assert.is(man.config.digest, rec.id);
      // Uncompressed layers stay what they were: the same digests as in our store.
      assert.equal(man.layers.map((l) => l.digest), rec.layers.map((l) => l.digest));

      // And back into an archive of the same kind, which skopeo reads with the same config.
      const back = path.join(dir, `${transport}-back.tar`);
      peer('skopeo', ['copy', '-q', `dir:${d}`, `${transport}:${back}:app:1`]);
      assert.ok(peerBytes('skopeo', ['inspect', '--raw', '--config', `${transport}:${back}`]).equals(cfg), `${transport}: back`);
    }

    // The other image of the same archive, by its own name.
    const bb = await store.resolve('busybox');
    assert.ok(peerBytes('skopeo', ['inspect', '--raw', '--config', `oci-archive:${ours}:busybox:latest`]).equals(await store.readBlob(bb.id)));
    assert.ok(peerBytes('skopeo', ['inspect', '--raw', '--config', `docker-archive:${ours}:busybox:latest`]).equals(await store.readBlob(bb.id)));
  }));

test('skopeo reads gzip and zstd layers we re-encode (and gzip in the Docker half)', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root, { layers: [APP_LAYER] });
    for (const c of ['gzip', 'zstd'] as const) {
      const ours = path.join(dir, `${c}.tar`);
      await baleOk(root, ['save', ...(c === 'zstd' ? ['--format', 'oci'] : []), '--compress', c, '-o', ours, 'busybox']);
      const d = path.join(dir, `${c}-oci`);
      peer('skopeo', ['copy', '-q', `oci-archive:${ours}:busybox:latest`, `dir:${d}`]);
      const man = dirLayers(d);
      assert.is(man.config.digest, rec.id);
      assert.ok(man.layers.every((l) => l.mediaType.endsWith(c === 'gzip' ? '+gzip' : '+zstd')), `${c} media types`);
      if (c === 'gzip') {
        const dd = path.join(dir, `${c}-docker`);
        peer('skopeo', ['copy', '-q', `docker-archive:${ours}:busybox:latest`, `dir:${dd}`]);
        assert.is(dirLayers(dd).config.digest, rec.id);
      }
    }
  }));

test('skopeo reads an image stored with zstd layers saved as OCI, as stored', () =>
  withStore(async (root, dir) => {
    const z = await seedCompressed(root, { layers: [[{ name: 'z/' }, { name: 'z/f', content: 'zstd layer\n' }]], tags: ['zimg:1'] }, 'zstd');
    const ours = path.join(dir, 'z.tar');
    await baleOk(root, ['save', '--format', 'oci', '-o', ours, 'zimg:1']);
    const d = path.join(dir, 'z-dir');
    peer('skopeo', ['copy', '-q', `oci-archive:${ours}:zimg:1`, `dir:${d}`]);
    assert.equal(dirLayers(d).layers.map((l) => l.digest), z.layers.map((l) => l.digest));
  }));

test('umoci unpacks our OCI layout and the tree is the image', () =>
  withStore(async (root, dir) => {
    await seedBusybox(root, { layers: [APP_LAYER], tags: ['app:1'] });
    const ours = path.join(dir, 'ours.tar');
    await baleOk(root, ['save', '-o', ours, 'app:1']);
    const layout = path.join(dir, 'layout');
    mkdirSync(layout);
    peer('tar', ['-xf', ours, '-C', layout]);
    assert.match(peer('umoci', ['ls', '--layout', layout]), /^app:1$/m);
    const bundle = path.join(dir, 'bundle');
    peer('umoci', ['unpack', '--image', `${layout}:app:1`, bundle]);
    const rootfs = path.join(bundle, 'rootfs');
    assert.equal(readdirSync(rootfs).sort(), ['app', 'bin', 'dev', 'etc', 'home', 'proc', 'root', 'sys', 'tmp']);
    assert.ok(readFileSync(path.join(rootfs, 'bin', 'busybox')).equals(readFileSync('/bin/busybox')));
    assert.equal(readdirSync(path.join(rootfs, 'bin')).sort(), ['busybox', ...APPLETS].sort());
    assert.is(readFileSync(path.join(rootfs, 'app', 'hello'), 'utf8'), 'hello from app\n');
    assert.ok(lstatSync(path.join(rootfs, 'app', 'link')).isSymbolicLink());
    assert.is(readlinkSync(path.join(rootfs, 'app', 'link')), 'hello');
    assert.is(lstatSync(path.join(rootfs, 'home', 'user')).uid, 1000);
    assert.is(lstatSync(path.join(rootfs, 'tmp')).mode & 0o7777, 0o1777);
    const conf = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { process: { args: string[] } };
    assert.equal(conf.process.args, ['sh']);
  }));

test('save -o DIR/ --format oci: a layout directory skopeo and umoci read, with the stored manifest digest; bale loads it back', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root, { layers: [APP_LAYER], tags: ['app:1'] });
    const layout = path.join(dir, 'layout');
    await baleOk(root, ['save', '-q', '--format', 'oci', '-o', `${layout}/`, 'app:1']);
    assert.equal(readdirSync(layout).sort(), ['blobs', 'index.json', 'oci-layout']);
    assert.is(peer('skopeo', ['inspect', '--format', '{{.Digest}}', `oci:${layout}:app:1`]).trim(), rec.manifest.digest);
    assert.match(peer('umoci', ['ls', '--layout', layout]), /^app:1$/m);
    const other = path.join(dir, 'other-store');
    await baleOk(other, ['load', '-q', '-i', layout]);
    assert.match(await baleOk(other, ['images', '-q', '--no-trunc']), rec.id);
    // An existing directory that is not empty is never written into.
    const r = await bale(root, ['save', '--format', 'oci', '-o', layout, 'app:1']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /not empty/);
    assert.equal(readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temp left beside it');
  }));

test.run();
