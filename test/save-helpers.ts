// Helpers for the save tests: read an archive back with tar-stream (small test archives only), and
// put images with compressed layers into a store.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { sha256, type Digest } from '../src/oci/digest.js';
import { MT, ociLayerType, type Compression } from '../src/oci/media.js';
import type { ImageConfig, Manifest } from '../src/oci/types.js';
import { Store, type ImageRecord } from '../src/store/store.js';
import { buildImage, recordImage, type ImageSpec } from './images.js';
import { tmpDir } from './helpers.js';

export interface TarEntry {
  name: string;
  type: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  body: Buffer;
}

/** Every entry of a tar file, in order, bodies included. */
export async function readTar(file: string): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.push({ name: h.name, type: h.type ?? 'file', linkname: h.linkname ?? undefined, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime, body: Buffer.concat(chunks) });
        next();
      });
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  ex.end(readFileSync(file));
  await done;
  return out;
}

export function entryMap(entries: TarEntry[]): Map<string, TarEntry> {
  return new Map(entries.map((e) => [e.name, e]));
}

export function jsonOf<T>(m: Map<string, TarEntry>, name: string): T {
  const e = m.get(name);
  if (!e) throw new Error(`no ${name} in archive`);
  return JSON.parse(e.body.toString('utf8')) as T;
}

/** Compress a buffer with the zstd command (an independent encoder). */
export function zstdCompress(b: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c'], { input: b });
  if (r.status !== 0) throw new Error(`zstd: ${r.stderr}`);
  return r.stdout;
}

export function zstdDecompress(b: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-d', '-c'], { input: b, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd -d: ${r.stderr}`);
  return r.stdout;
}

/** Like seedImage, but the layers are stored compressed (gzip or zstd) under an OCI manifest. */
export async function seedCompressed(root: string, spec: ImageSpec, c: Exclude<Compression, 'none'>): Promise<ImageRecord> {
  const img = await buildImage(spec);
  const blobs = img.layers.map((l) => (c === 'gzip' ? gzipSync(l) : zstdCompress(l)));
  const store = await Store.open(root);
  const layers = blobs.map((b) => ({ mediaType: ociLayerType(c), digest: sha256(b), size: b.length }));
  for (const b of blobs) await store.putBlobBytes(b);
  await store.putBlobBytes(img.config);
  const m: Manifest = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: img.configDigest, size: img.config.length }, layers };
  const mb = Buffer.from(JSON.stringify(m));
  const md: Digest = await store.putBlobBytes(mb);
  const rec: ImageRecord = {
    id: img.configDigest,
    manifest: { mediaType: MT.ociManifest, digest: md, size: mb.length },
    config: { mediaType: MT.ociConfig, digest: img.configDigest, size: img.config.length },
    layers,
    diffIds: img.diffIds,
    added: new Date().toISOString(),
  };
  return recordImage(store, rec, spec.tags ?? []);
}

export function configOf(root: string, rec: ImageRecord): Promise<ImageConfig> {
  return Store.open(root).then((s) => s.config(rec));
}

/** Run a peer tool; throw with its stderr when it fails. */
export function peer(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export function peerBytes(cmd: string, args: string[]): Buffer {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A layer most save tests put on top of busybox. */
export const APP_LAYER = [{ name: 'app/' }, { name: 'app/hello', content: 'hello\n' }];

/** Run fn with a fresh store root inside a fresh temp dir (both removed afterwards). */
export async function withStore(fn: (root: string, dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tmpDir();
  try {
    await fn(path.join(dir, 'store'), dir);
  } finally {
    cleanup();
  }
}
