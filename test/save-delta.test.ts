// Delta archives: bale save --exclude-from BASE.tar / --exclude-image REF leave out the layers the
// target already has, and say so in index.json and manifest.json.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DockerArchiveEntry, Index } from '../src/oci/types.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { seedBusybox } from './images.js';
import { APP_LAYER, entryMap, jsonOf, peer, readTar, withStore } from './save-helpers.js';

test('--exclude-image leaves out the base layers and lists them', () =>
  withStore(async (root, dir) => {
    const base = await seedBusybox(root);
    const app = await seedBusybox(root, { layers: [APP_LAYER], tags: ['app:1'] });
    const out = path.join(dir, 'delta.tar');
    await baleOk(root, ['save', '--exclude-image', 'busybox', '-o', out, 'app:1']);
    const entries = await readTar(out);
    const m = entryMap(entries);
    const baseLayer = base.layers[0]!.digest;
    const appLayer = app.layers[1]!.digest;
    assert.not.ok(m.has(`blobs/sha256/${baseLayer.slice(7)}`), 'base layer left out');
    assert.ok(m.has(`blobs/sha256/${appLayer.slice(7)}`), 'own layer kept');
    assert.ok(m.has(`blobs/sha256/${app.id.slice(7)}`) && m.has(`blobs/sha256/${app.manifest.digest.slice(7)}`));

    const idx = jsonOf<Index>(m, 'index.json');
    assert.equal(idx.annotations, { 'dev.bale.excluded-layers': baseLayer });
    assert.is(idx.manifests[0]!.digest, app.manifest.digest, 'the manifest is the stored one, unchanged');
    const entry = jsonOf<(DockerArchiveEntry & { 'bale.excluded'?: string[] })[]>(m, 'manifest.json')[0]!;
    assert.is(entry.Layers.length, 2, 'manifest.json still lists every layer');
    assert.equal(entry['bale.excluded'], [baseLayer]);
    // Legacy dirs: no layer.tar symlink dangling at the missing blob, the parent chain whole.
    const links = entries.filter((e) => e.type === 'symlink');
    assert.is(links.length, 1);
    assert.is(links[0]!.linkname, `../blobs/sha256/${appLayer.slice(7)}`);
    const top = jsonOf<Record<string, Record<string, string>>>(m, 'repositories')['app']!['1']!;
    const parent = jsonOf<{ parent: string }>(m, `${top}/json`).parent;
    assert.ok(m.has(`${parent}/json`));
    assert.not.ok(m.has(`${parent}/layer.tar`));

    // A full archive has no delta markers.
    const full = path.join(dir, 'full.tar');
    await baleOk(root, ['save', '-o', full, 'app:1']);
    const fm = entryMap(await readTar(full));
    assert.is(jsonOf<Index>(fm, 'index.json').annotations, undefined);
    assert.is(jsonOf<(DockerArchiveEntry & { 'bale.excluded'?: string[] })[]>(fm, 'manifest.json')[0]!['bale.excluded'], undefined);
  }));

test('--exclude-from reads a base archive of any layout, plain or gzip, without its layers', () =>
  withStore(async (root, dir) => {
    const base = await seedBusybox(root);
    const app = await seedBusybox(root, { layers: [APP_LAYER], tags: ['app:1'] });
    const baseLayer = base.layers[0]!.digest;
    const bases: Record<string, string> = {};
    for (const fmt of ['docker', 'oci', 'both']) {
      bases[fmt] = path.join(dir, `base-${fmt}.tar`);
      await baleOk(root, ['save', '--format', fmt, '-o', bases[fmt]!, 'busybox']);
    }
    // A base written by another tool (skopeo's docker-archive: old <id>/layer.tar layout).
    bases['skopeo'] = path.join(dir, 'base-skopeo.tar');
    peer('skopeo', ['copy', '-q', `oci-archive:${bases['oci']}:busybox:latest`, `docker-archive:${bases['skopeo']}:busybox:latest`]);
    bases['gzip'] = path.join(dir, 'base.tar.gz');
    writeFileSync(bases['gzip'], gzipSync(readFileSync(bases['both']!)));

    for (const [kind, file] of Object.entries(bases)) {
      const out = path.join(dir, `delta-${kind}.tar`);
      await baleOk(root, ['save', '--exclude-from', file, '-o', out, 'app:1']);
      const m = entryMap(await readTar(out));
      assert.not.ok(m.has(`blobs/sha256/${baseLayer.slice(7)}`), `${kind}: base layer left out`);
      assert.ok(m.has(`blobs/sha256/${app.layers[1]!.digest.slice(7)}`), `${kind}: own layer kept`);
      assert.equal(jsonOf<Index>(m, 'index.json').annotations, { 'dev.bale.excluded-layers': baseLayer }, kind);
    }

    // Excluding by diff_id works when the base carried the layer compressed differently.
    const gz = path.join(dir, 'base-gz-layers.tar');
    await baleOk(root, ['save', '--compress', 'gzip', '-o', gz, 'busybox']);
    const out = path.join(dir, 'delta-gz.tar');
    await baleOk(root, ['save', '--exclude-from', gz, '-o', out, 'app:1']);
    assert.not.ok(entryMap(await readTar(out)).has(`blobs/sha256/${baseLayer.slice(7)}`));

    // Not an archive, or not there: one clear line.
    const junk = path.join(dir, 'junk.tar');
    spawnSync('tar', ['-cf', junk, '-C', dir, 'base-oci.tar']);
    let r = await bale(root, ['save', '--exclude-from', junk, '-o', out, 'app:1']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^bale: .*junk\.tar: not an image archive/);
    r = await bale(root, ['save', '--exclude-from', path.join(dir, 'nope.tar'), '-o', out, 'app:1']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /nope\.tar: cannot open: ENOENT/);
  }));

test.run();
