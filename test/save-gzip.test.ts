// save --compress gzip writes each layer as a series of gzip members (one per MiB of tar, compressed
// in parallel): the bytes are the same whatever the threads, every member is a plain one, and every
// peer reads all of them: the diff_ids they find are ours, and the files they unpack are whole.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createCipheriv } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { sha256 } from '../src/oci/digest.js';
import type { DockerArchiveEntry, Index, Manifest } from '../src/oci/types.js';
import { GZIP_MEMBER_BYTES } from '../src/layer/compression.js';
import { baleOk, have } from './helpers.js';
import { seedBusybox } from './images.js';
import { withDockerd } from './dockerd.js';
import { entryMap, jsonOf, peer, readTar, withStore } from './save-helpers.js';

for (const tool of ['skopeo', 'umoci', 'podman']) if (!have(tool)) throw new Error(`${tool} is needed for these tests (.ci/run installs it)`);

/** Bytes that do not compress (AES-CTR of zeros) and text that does: members of both kinds. */
const NOISE = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 9)).update(Buffer.alloc(3 * 1024 * 1024 + 12345));
const TEXT = Buffer.from(Array.from({ length: 60000 }, (_, i) => `line ${i} of a text file that compresses\n`).join(''));
const BIG_LAYER = [{ name: 'data/' }, { name: 'data/noise', content: NOISE }, { name: 'data/text', content: TEXT }];

/** The members of a gzip file: each one's header bytes and how many bytes it inflates to. */
function members(gz: Buffer): { header: string; plain: number }[] {
  const out: { header: string; plain: number }[] = [];
  let at = 0;
  while (at < gz.length) {
    const header = gz.subarray(at, at + 10).toString('hex');
    assert.is(gz[at + 3], 0, 'no optional header fields (FLG 0)');
    const { buffer, engine } = inflateRawSync(gz.subarray(at + 10), { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    at += 10 + engine.bytesWritten + 8;
    out.push({ header, plain: buffer.length });
  }
  return out;
}

/** The layer blobs of an archive's OCI half, by manifest, and the Docker half's names. */
async function savedLayers(file: string): Promise<{ oci: Buffer[]; manifest: Manifest }> {
  const m = entryMap(await readTar(file));
  const index = jsonOf<Index>(m, 'index.json');
  const manifest = jsonOf<Manifest>(m, `blobs/sha256/${index.manifests[0]!.digest.slice(7)}`);
  const docker = jsonOf<DockerArchiveEntry[]>(m, 'manifest.json')[0]!;
  assert.equal(docker.Layers, manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`));
  return { oci: manifest.layers.map((l) => m.get(`blobs/sha256/${l.digest.slice(7)}`)!.body), manifest };
}

test('gzip layers are members of one MiB each, the same bytes with one thread or many, read whole by bale', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root, { layers: [BIG_LAYER], tags: ['big:1'] });
    const a = path.join(dir, 'a.tar');
    const b = path.join(dir, 'b.tar');
    await baleOk(root, ['save', '--compress', 'gzip', '-o', a, 'big:1']);
    // One thread in libuv's pool: the members finish in another order, the bytes must not change.
    await baleOk(root, ['save', '--compress', 'gzip', '-o', b, 'big:1'], { env: { UV_THREADPOOL_SIZE: '1' } });
    assert.ok(readFileSync(a).equals(readFileSync(b)), 'the same archive whatever the threads');

    const { oci, manifest } = await savedLayers(a);
    const big = oci[1]!;
    const plainSize = rec.layers[1]!.size; // stored uncompressed
    const ms = members(big);
    assert.is(ms.length, Math.ceil(plainSize / GZIP_MEMBER_BYTES));
    for (const [i, m] of ms.entries()) {
      // ID1 ID2 CM=deflate FLG=0 MTIME=0, XFL, OS=3 (Unix): nothing of the host or the time.
      assert.match(m.header, /^1f8b080000000000(00|04)03$/, `member ${i} header`);
      assert.is(m.plain, i < ms.length - 1 ? GZIP_MEMBER_BYTES : plainSize - GZIP_MEMBER_BYTES * (ms.length - 1), `member ${i} size`);
    }
    // XFL 4 marks the members zlib coded without its match search (Huffman only, or runs only):
    // the noise, which does not compress, and not the text, which shrinks to a small fraction.
    assert.equal(ms.map((m) => m.header.slice(16, 18)), ['04', '04', '04', '00', '00', '00']);
    const textMembers = ms.length - 3;
    assert.ok(big.length < NOISE.length + (textMembers * GZIP_MEMBER_BYTES) / 5, `${big.length} bytes: the text compressed`);
    assert.is(manifest.layers[1]!.digest, sha256(big));

    assert.match(await baleOk(root, ['verify', a]), /1 image/);
    const other = path.join(dir, 'other');
    await baleOk(other, ['load', '-q', '-i', a]);
    assert.match(await baleOk(other, ['images', '-q', '--no-trunc']), rec.id);
  }));

test('skopeo, umoci and podman read every member: the diff_ids are ours and the files whole', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root, { layers: [BIG_LAYER], tags: ['big:1'] });
    const a = path.join(dir, 'a.tar');
    await baleOk(root, ['save', '--compress', 'gzip', '-o', a, 'big:1']);

    // skopeo to a docker-archive decompresses each layer and names it by the digest of the tar.
    for (const src of [`oci-archive:${a}:big:1`, `docker-archive:${a}:big:1`]) {
      const x = path.join(dir, `skopeo-${src.split(':')[0]}.tar`);
      peer('skopeo', ['copy', '-q', src, `docker-archive:${x}:big:1`]);
      const m = entryMap(await readTar(x));
      const layers = jsonOf<DockerArchiveEntry[]>(m, 'manifest.json')[0]!.Layers;
      assert.equal(layers.map((l) => sha256(m.get(l)!.body)), rec.diffIds, src);
    }

    // umoci, from the layout skopeo copies the gzip layers into unchanged.
    const layout = path.join(dir, 'layout');
    peer('skopeo', ['copy', '-q', `oci-archive:${a}:big:1`, `oci:${layout}:big`]);
    const bundle = path.join(dir, 'bundle');
    peer('umoci', ['unpack', '--image', `${layout}:big`, bundle]);
    assert.ok(readFileSync(path.join(bundle, 'rootfs', 'data', 'noise')).equals(NOISE));
    assert.ok(readFileSync(path.join(bundle, 'rootfs', 'data', 'text')).equals(TEXT));

    // podman, with a store of its own.
    const proot = path.join(dir, 'podman');
    const podman = (args: string[]) => peer('podman', ['--root', `${proot}/root`, '--runroot', `${proot}/run`, '--storage-driver', 'vfs', ...args]);
    podman(['load', '-q', '-i', a]);
    const info = JSON.parse(podman(['image', 'inspect', rec.id.slice(7)]))[0] as { RootFS: { Layers: string[] } };
    assert.equal(info.RootFS.Layers, rec.diffIds);
    const out = path.join(dir, 'podman-out');
    mkdirSync(out);
    const ctr = podman(['create', 'big:1', 'true']).trim();
    podman(['cp', `${ctr}:/data/noise`, out]);
    podman(['rm', ctr]);
    assert.ok(readFileSync(path.join(out, 'noise')).equals(NOISE));
    podman(['rmi', '-af']);
  }));

test('docker 20.10 loads the members: its diff_ids are ours and the file comes back whole', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root, { layers: [BIG_LAYER], tags: ['big:1'] });
    const a = path.join(dir, 'a.tar');
    await baleOk(root, ['save', '--compress', 'gzip', '-o', a, 'big:1']);
    await withDockerd(async (d) => {
      await d.dockerOk(['load', '-q', '-i', a]);
      assert.equal(JSON.parse(await d.dockerOk(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'big:1'])), rec.diffIds);
      assert.is((await d.dockerOk(['image', 'inspect', '-f', '{{.Id}}', 'big:1'])).trim(), rec.id);
      const ctr = (await d.dockerOk(['create', 'big:1', 'true'])).trim();
      const out = path.join(dir, 'docker-out');
      mkdirSync(out);
      await d.dockerOk(['cp', `${ctr}:/data/noise`, out]);
      assert.ok(readFileSync(path.join(out, 'noise')).equals(NOISE));
      assert.equal(readdirSync(out), ['noise']);
    });
  }));

test.run();
