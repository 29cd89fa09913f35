// Test images built here from host binaries: layer tars made with tar-stream, put into a real store
// through the Store API (independent of `bale load`, so load can be tested against them too).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import tar from 'tar-stream';
import { sha256, type Digest } from '../src/oci/digest.js';
import { MT } from '../src/oci/media.js';
import type { HistoryEntry, ImageConfig, Manifest, RunConfig } from '../src/oci/types.js';
import { Store, type ImageRecord } from '../src/store/store.js';

export interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** PAX records, e.g. { 'SCHILY.xattr.user.k': 'v' }. */
  pax?: Record<string, string>;
}

const EPOCH = new Date('2024-01-01T00:00:00Z');

/** A layer tar, in memory (test layers are small). Entries are written in the order given. */
export async function layerTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (b: unknown) => {
    chunks.push(b as Buffer);
  });
  const ended = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? (e.content !== undefined ? 'file' : 'directory');
    const body = e.content === undefined ? undefined : Buffer.from(e.content);
    await new Promise<void>((resolve, reject) => {
      pack.entry(
        {
          name: e.name,
          type,
          mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
          uid: e.uid ?? 0,
          gid: e.gid ?? 0,
          mtime: e.mtime ?? EPOCH,
          linkname: e.linkname,
          devmajor: e.devmajor,
          devminor: e.devminor,
          pax: e.pax,
          size: type === 'file' ? body?.length ?? 0 : 0,
        } as tar.Header,
        type === 'file' ? body ?? Buffer.alloc(0) : Buffer.alloc(0),
        (err?: Error | null) => (err ? reject(err) : resolve()),
      );
    });
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** The applets test images link to busybox. */
export const APPLETS = ['sh', 'ls', 'cat', 'echo', 'hostname', 'id', 'env', 'sleep', 'pwd', 'mkdir', 'rm', 'touch', 'true', 'false', 'test', 'grep', 'stat', 'wc', 'ps', 'kill', 'mount', 'readlink', 'tr', 'head', 'sha256sum', 'find', 'ln', 'chmod', 'whoami', 'printf', 'cp', 'mv', 'tar', 'sed'];

/** The entries of a busybox root filesystem: /bin/busybox from the host's busybox-static. */
export function busyboxEntries(): Entry[] {
  const bb = readFileSync('/bin/busybox');
  return [
    { name: 'bin/' },
    { name: 'bin/busybox', content: bb, mode: 0o755 },
    ...APPLETS.map((a): Entry => ({ name: `bin/${a}`, type: 'link', linkname: 'bin/busybox' })),
    { name: 'dev/' },
    { name: 'etc/' },
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n' },
    { name: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n' },
    { name: 'home/' },
    { name: 'home/user/', uid: 1000, gid: 1000 },
    { name: 'proc/' },
    { name: 'root/', mode: 0o700 },
    { name: 'sys/' },
    { name: 'tmp/', mode: 0o1777 },
  ];
}

export interface ImageSpec {
  /** Each layer's entries, bottom first. */
  layers: Entry[][];
  config?: RunConfig;
  /** History; by default one entry per layer plus none empty. */
  history?: HistoryEntry[];
  created?: string;
  tags?: string[];
  /** The platform the config says the image is for: linux/amd64 unless told. */
  platform?: { os: string; architecture: string; variant?: string };
}

export interface BuiltImage {
  config: Buffer;
  configDigest: Digest;
  layers: Buffer[];
  diffIds: Digest[];
  manifest: Buffer;
  manifestDigest: Digest;
}

/** Build an image (uncompressed layers) in memory: layer tars, config and OCI manifest bytes. */
export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const layers = await Promise.all(spec.layers.map((l) => layerTar(l)));
  const diffIds = layers.map((l) => sha256(l));
  const created = spec.created ?? '2024-01-01T00:00:00Z';
  const cfg: ImageConfig = {
    created,
    architecture: spec.platform?.architecture ?? 'amd64',
    os: spec.platform?.os ?? 'linux',
    ...(spec.platform?.variant ? { variant: spec.platform.variant } : {}),
    config: spec.config ?? { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: spec.history ?? layers.map((_, i) => ({ created, created_by: `test layer ${i}` })),
  };
  const config = Buffer.from(JSON.stringify(cfg));
  const configDigest = sha256(config);
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
    layers: layers.map((l, i) => ({ mediaType: MT.ociLayer, digest: diffIds[i]!, size: l.length })),
  };
  const manifest = Buffer.from(JSON.stringify(m));
  return { config, configDigest, layers, diffIds, manifest, manifestDigest: sha256(manifest) };
}

/** Put a built image straight into the store at `root` (not through `bale load`). */
export async function seedImage(root: string, spec: ImageSpec): Promise<ImageRecord> {
  const img = await buildImage(spec);
  const store = await Store.open(root);
  for (const l of img.layers) await store.putBlobBytes(l);
  await store.putBlobBytes(img.config);
  await store.putBlobBytes(img.manifest);
  const rec: ImageRecord = {
    id: img.configDigest,
    manifest: { mediaType: MT.ociManifest, digest: img.manifestDigest, size: img.manifest.length },
    config: { mediaType: MT.ociConfig, digest: img.configDigest, size: img.config.length },
    layers: img.layers.map((l, i) => ({ mediaType: MT.ociLayer, digest: img.diffIds[i]!, size: l.length })),
    diffIds: img.diffIds,
    added: new Date().toISOString(),
  };
  return recordImage(store, rec, spec.tags ?? []);
}

/** Record a seeded image (its blobs already in place) and point its tags at it. */
export async function recordImage(store: Store, rec: ImageRecord, tags: string[]): Promise<ImageRecord> {
  await store.transaction(async () => {
    await store.putImage(rec);
    await store.setTags(rec.id, tags);
  });
  return rec;
}

/** A busybox image in the store, tagged `busybox:latest` unless told otherwise. */
export function seedBusybox(root: string, extra: Partial<ImageSpec> = {}): Promise<ImageRecord> {
  return seedImage(root, { layers: [busyboxEntries(), ...(extra.layers ?? [])], config: extra.config, history: extra.history, tags: extra.tags ?? ['busybox:latest'] });
}

/** List a tar's entries with GNU tar (an independent reader): `type name` lines, sorted. */
export function gnuTarList(file: string): string[] {
  const r = spawnSync('tar', ['-tvf', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar -tvf ${file}: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean);
}

/** A static binary built from C source, for a test image (for what busybox has no applet for). */
export function staticProgram(dir: string, name: string, source: string): Buffer {
  const src = path.join(dir, `${name}.c`);
  const out = path.join(dir, name);
  writeFileSync(src, source);
  const r = spawnSync('cc', ['-static', '-O1', '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cc ${name}: ${r.stderr}`);
  return readFileSync(out);
}
