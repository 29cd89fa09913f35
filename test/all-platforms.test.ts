// load --all-platforms keeps a multi-platform image whole, and save writes the same index back: the
// archive round-trips with the index digest it came with, and skopeo reads every platform of it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { sha256, type Digest } from '../src/oci/digest.js';
import type { Index } from '../src/oci/types.js';
import { baleOk, tmpDir } from './helpers.js';
import { buildImage } from './images.js';
import { multiPlatform, ociImage, writeArchive } from './archives.js';
import { readTar } from './save-helpers.js';

test('a two-platform archive loads whole and saves back with the same index digest', async () => {
  const t = tmpDir('bale-allplat-');
  try {
    const amd = await buildImage({ layers: [[{ name: 'amd/' }, { name: 'amd/f', content: 'amd64\n' }]], config: { Cmd: ['amd'] } });
    const arm = await buildImage({ layers: [[{ name: 'arm/' }, { name: 'arm/f', content: 'arm64\n' }]], config: { Cmd: ['arm'] } });
    const files = multiPlatform(
      [
        { platform: { os: 'linux', architecture: 'arm64' }, image: ociImage(arm, []) },
        { platform: { os: 'linux', architecture: 'amd64' }, image: ociImage(amd, []) },
      ],
      'multi:1',
    );
    const indexDigest = (JSON.parse(files.find((f) => f.name === 'index.json')!.data!.toString()) as Index).manifests[0]!.digest;
    const src = path.join(t.dir, 'multi.tar');
    await writeArchive(src, files);

    const root = path.join(t.dir, 'store');
    await baleOk(root, ['load', '-q', '--all-platforms', '--platform', 'linux/amd64', '-i', src]);
    for (const img of [amd, arm]) assert.is(JSON.parse(await baleOk(root, ['inspect', img.configDigest]))[0].Id, img.configDigest, 'every platform loaded');
    assert.is(JSON.parse(await baleOk(root, ['inspect', 'multi:1']))[0].Id, amd.configDigest, 'tags go to --platform');

    const out = path.join(t.dir, 'saved.tar');
    await baleOk(root, ['save', '--format', 'oci', '-o', out, 'multi:1']);
    const entries = await readTar(out);
    const index = JSON.parse(entries.find((e) => e.name === 'index.json')!.body.toString()) as Index;
    assert.is(index.manifests.length, 1);
    assert.is(index.manifests[0]!.digest, indexDigest, 'index.json names the same index');
    const blob = entries.find((e) => e.name === `blobs/sha256/${indexDigest.slice(7)}`)!;
    assert.is(sha256(blob.body), indexDigest as Digest);
    for (const img of [amd, arm]) assert.ok(entries.some((e) => e.name === `blobs/sha256/${img.configDigest.slice(7)}`), `config of ${img.configDigest} saved`);

    // skopeo reads the other platform out of bale's archive.
    const r = spawnSync('skopeo', ['inspect', '--override-arch', 'arm64', '--format', '{{.Digest}}', `oci-archive:${out}:multi:1`], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    // A second store loading bale's archive whole gets the same index again.
    const root2 = path.join(t.dir, 'store2');
    await baleOk(root2, ['load', '-q', '--all-platforms', '-i', out]);
    await baleOk(root2, ['save', '--format', 'oci', '-o', path.join(t.dir, 'again.tar'), 'multi:1']);
    assert.ok(readFileSync(path.join(t.dir, 'again.tar')).equals(readFileSync(out)), 'byte-identical round trip');
  } finally {
    t.cleanup();
  }
});

test.run();
