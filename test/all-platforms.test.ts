// load --all-platforms keeps a multi-platform image whole, and save writes the same index back: the
// archive round-trips with the index digest it came with, and skopeo reads every platform of it.
// push sends such an image whole to a registry (docker-registry on 127.0.0.1), and pull
// --all-platforms brings it back whole: the index digest survives every hop. push --platform sends
// one platform's image alone, with the digest the index lists for it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { sha256, type Digest } from '../src/oci/digest.js';
import type { Index } from '../src/oci/types.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { startRegistry } from './registry.js';
import { buildImage } from './images.js';
import { multiPlatform, ociImage, writeArchive } from './archives.js';
import { readTar } from './save-helpers.js';

/** A two-platform archive (arm64 listed first) tagged multi:1. */
async function twoPlatforms(file: string) {
  const amd = await buildImage({ layers: [[{ name: 'amd/' }, { name: 'amd/f', content: 'amd64\n' }]], config: { Cmd: ['amd'] }, platform: { os: 'linux', architecture: 'amd64' } });
  const arm = await buildImage({ layers: [[{ name: 'arm/' }, { name: 'arm/f', content: 'arm64\n' }]], config: { Cmd: ['arm'] }, platform: { os: 'linux', architecture: 'arm64' } });
  const files = multiPlatform([ociImage(arm, []), ociImage(amd, [])], 'multi:1');
  await writeArchive(file, files);
  const indexDigest = (JSON.parse(files.find((f) => f.name === 'index.json')!.data!.toString()) as Index).manifests[0]!.digest;
  return { amd, arm, indexDigest };
}

function peer(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('a two-platform archive loads whole and saves back with the same index digest', async () => {
  const t = tmpDir('bale-allplat-');
  try {
    const src = path.join(t.dir, 'multi.tar');
    const { amd, arm, indexDigest } = await twoPlatforms(src);

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

test('push sends a multi-platform image whole, or one platform of it with --platform; skopeo and pull --all-platforms get the same index back; --platform picks one', async () => {
  const t = tmpDir('bale-allplat-reg-');
  const reg = await startRegistry(path.join(t.dir, 'reg'), { tls: false });
  try {
    const src = path.join(t.dir, 'multi.tar');
    const { amd, arm, indexDigest } = await twoPlatforms(src);
    const root = path.join(t.dir, 'store');
    await baleOk(root, ['load', '-q', '--all-platforms', '-i', src]);
    const ref = `${reg.host}/team/multi:1`;
    const out = await baleOk(root, ['push', '--insecure', 'multi:1', ref]);
    assert.match(out, `1: digest: ${indexDigest} size: `);
    assert.is((out.match(/: Pushed$/gm) ?? []).length, 4, `both platforms' configs and layers: ${out}`);

    // What the registry serves under the tag is the index, byte for byte; every platform resolves.
    const raw = peer('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
    assert.is(sha256(Buffer.from(raw)), indexDigest as Digest);
    const copied = path.join(t.dir, 'skopeo-oci');
    peer('skopeo', ['copy', '-q', '--all', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', `docker://${ref}`, `oci:${copied}:multi`]);
    const layout = JSON.parse(readFileSync(path.join(copied, 'index.json'), 'utf8')) as Index;
    assert.is(layout.manifests[0]!.digest, indexDigest, 'skopeo copy --all keeps the index digest');
    for (const arch of ['amd64', 'arm64']) {
      const cfg = peer('skopeo', ['inspect', '--tls-verify=false', '--override-arch', arch, '--config', '--raw', `docker://${ref}`]);
      assert.is(sha256(Buffer.from(cfg)), (arch === 'amd64' ? amd : arm).configDigest, `${arch} config`);
    }

    // push --platform: that platform's image alone, under the manifest digest the index lists for it.
    const armEntry = (JSON.parse(raw) as Index).manifests.find((m) => m.platform?.architecture === 'arm64')!;
    const armRef = `${reg.host}/team/arm:1`;
    assert.is((await baleOk(root, ['push', '-q', '--insecure', '--platform', 'linux/arm64', 'multi:1', armRef])).trim(), armEntry.digest);
    assert.is(sha256(Buffer.from(peer('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${armRef}`]))), armEntry.digest as Digest, 'skopeo sees the arm64 manifest, not the index');
    assert.is(sha256(Buffer.from(peer('skopeo', ['inspect', '--tls-verify=false', '--config', '--raw', `docker://${armRef}`]))), arm.configDigest);
    const missing = await bale(root, ['push', '--insecure', '--platform', 'linux/s390x', 'multi:1', `${reg.host}/team/s390x:1`]);
    assert.is(missing.code, 1);
    assert.match(missing.stderr, `multi:1: no image for linux/s390x in its index ${indexDigest} (the store has linux/arm64, linux/amd64)`);
    const bad = await bale(root, ['push', '--insecure', '--platform', 'linux', 'multi:1', armRef]);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, '--platform takes os/arch[/variant], not "linux"');

    // pull --all-platforms into an empty store: both images, the index kept (save writes it again).
    const root2 = path.join(t.dir, 'store2');
    const pulled = await baleOk(root2, ['pull', '--insecure', '--all-platforms', '--platform', 'linux/arm64', ref]);
    assert.match(pulled, `Digest: ${indexDigest}`);
    for (const img of [amd, arm]) assert.is(JSON.parse(await baleOk(root2, ['inspect', img.configDigest]))[0].Id, img.configDigest, 'every platform pulled');
    assert.is(JSON.parse(await baleOk(root2, ['inspect', ref]))[0].Id, arm.configDigest, 'the tag goes to --platform');
    const saved = path.join(t.dir, 'saved.tar');
    await baleOk(root2, ['save', '--format', 'oci', '-o', saved, ref]);
    const entries = await readTar(saved);
    assert.is((JSON.parse(entries.find((e) => e.name === 'index.json')!.body.toString()) as Index).manifests[0]!.digest, indexDigest);
    // ... and pushes it on whole, to another repository (blobs mounted, the index digest kept).
    const again = await baleOk(root2, ['push', '--insecure', ref, `${reg.host}/other/multi:2`]);
    assert.match(again, `2: digest: ${indexDigest}`);

    // Without --all-platforms: one platform, the host's by default, --platform's if given; no index kept.
    const one = path.join(t.dir, 'store3');
    const [host, other] = process.arch === 'arm64' ? [arm, amd] : [amd, arm];
    const otherPlatform = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    await baleOk(one, ['pull', '-q', '--insecure', ref]);
    assert.is(JSON.parse(await baleOk(one, ['inspect', ref]))[0].Id, host.configDigest, 'the host platform');
    assert.is((await bale(one, ['inspect', other.configDigest])).code, 1, 'the other platform is not pulled');
    await baleOk(one, ['pull', '-q', '--insecure', '--platform', otherPlatform, ref]);
    const picked = JSON.parse(await baleOk(one, ['inspect', ref]))[0] as { Id: string; Architecture: string };
    assert.equal([picked.Id, picked.Architecture], [other.configDigest, otherPlatform.split('/')[1]], `--platform ${otherPlatform}: its image, whose config says so`);
    const single = await baleOk(one, ['push', '--insecure', ref, `${reg.host}/single/multi:1`]);
    assert.not.match(single, indexDigest, 'an image without its index is pushed alone');
    const none = await bale(one, ['pull', '--insecure', '--platform', 'linux/s390x', ref]);
    assert.is(none.code, 1);
    assert.match(none.stderr, /no image for linux\/s390x/);
    // push --platform of an image kept without an index: its config's platform decides.
    assert.is((await baleOk(one, ['push', '-q', '--insecure', '--platform', 'linux/amd64', amd.configDigest, `${reg.host}/single/amd:1`])).trim(), sha256(ociImage(amd, []).manifest));
    const notArm = await bale(one, ['push', '--insecure', '--platform', 'linux/arm64', amd.configDigest, `${reg.host}/single/amd:2`]);
    assert.is(notArm.code, 1);
    assert.match(notArm.stderr, `${amd.configDigest} is linux/amd64, not linux/arm64 (and has no multi-platform index)`);
    // ... and the other platform's image, kept without its index, goes up under its own platform.
    assert.is((await baleOk(one, ['push', '-q', '--insecure', '--platform', otherPlatform, other.configDigest, `${reg.host}/single/other:1`])).trim(), sha256(ociImage(other, []).manifest));
  } finally {
    await reg.stop();
    t.cleanup();
  }
});

test.run();
