// Archives in the layouts other tools write, made here by hand (not with bale's own writer) so that
// `bale load` is tested against the formats as specified, not against itself.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { compress as zstdCompress } from 'zstd-napi';
import tar from 'tar-stream';
import { sha256, hexOf, type Digest } from '../src/oci/digest.js';
import { MT } from '../src/oci/media.js';
import type { Descriptor, ImageConfig, Index, Manifest } from '../src/oci/types.js';
import { buildImage, type BuiltImage, type ImageSpec } from './images.js';

export interface ArchiveFile {
  name: string;
  data?: Buffer;
  /** A symlink (relative target) or hardlink (archive path) instead of a file. */
  symlink?: string;
  hardlink?: string;
}

/** Pack archive entries into one tar, in the order given. */
export async function packArchive(files: ArchiveFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (b: unknown) => {
    chunks.push(b as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/') + '/';
      if (dirs.has(d)) continue;
      dirs.add(d);
      await new Promise<void>((res, rej) => pack.entry({ name: d, type: 'directory', mode: 0o755 }, Buffer.alloc(0), (e) => (e ? rej(e) : res())));
    }
    const header = f.symlink
      ? { name: f.name, type: 'symlink' as const, linkname: f.symlink }
      : f.hardlink
        ? { name: f.name, type: 'link' as const, linkname: f.hardlink }
        : { name: f.name, type: 'file' as const, mode: 0o644, size: f.data!.length };
    await new Promise<void>((res, rej) => pack.entry(header, f.data ?? Buffer.alloc(0), (e) => (e ? rej(e) : res())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Docker's v1 layer id derivation is internal to docker; any stable 64-hex name per chain will do. */
function v1Id(chain: string[]): string {
  return createHash('sha256').update(chain.join('\n')).digest('hex');
}

export type Compress = 'none' | 'gzip' | 'zstd';

export function compressBlob(b: Buffer, c: Compress): Buffer {
  return c === 'gzip' ? gzipSync(b) : c === 'zstd' ? zstdCompress(b) : b;
}

function layerMediaType(c: Compress): string {
  return c === 'gzip' ? MT.ociLayerGzip : c === 'zstd' ? MT.ociLayerZstd : MT.ociLayer;
}

/**
 * docker save before 25: `<v1id>/{VERSION,json,layer.tar}`, `<config hex>.json`, manifest.json,
 * repositories. A layer shared by a later image appears once; the later image's layer.tar is a
 * symlink to the first, as docker writes it.
 */
export function dockerLegacy(images: { img: BuiltImage; tags: string[] }[]): ArchiveFile[] {
  const files: ArchiveFile[] = [];
  const manifest: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Map<Digest, string>();
  for (const { img, tags } of images) {
    const layerPaths: string[] = [];
    const chain: string[] = [];
    let top = '';
    img.layers.forEach((layer, i) => {
      chain.push(img.diffIds[i]!);
      const id = v1Id([...chain, hexOf(img.configDigest)]);
      top = id;
      files.push({ name: `${id}/VERSION`, data: Buffer.from('1.0') });
      files.push({ name: `${id}/json`, data: Buffer.from(JSON.stringify({ id, created: '2024-01-01T00:00:00Z' })) });
      const first = written.get(img.diffIds[i]!);
      if (first) files.push({ name: `${id}/layer.tar`, symlink: `../${first}` });
      else {
        files.push({ name: `${id}/layer.tar`, data: layer });
        written.set(img.diffIds[i]!, `${id}/layer.tar`);
      }
      layerPaths.push(`${id}/layer.tar`);
    });
    files.push({ name: `${hexOf(img.configDigest)}.json`, data: img.config });
    manifest.push({ Config: `${hexOf(img.configDigest)}.json`, RepoTags: tags, Layers: layerPaths });
    for (const t of tags) {
      const i = t.lastIndexOf(':');
      (repositories[t.slice(0, i)] ??= {})[t.slice(i + 1)] = top;
    }
  }
  files.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) });
  files.push({ name: 'repositories', data: Buffer.from(JSON.stringify(repositories)) });
  return files;
}

/** skopeo's docker-archive: `<diff_id hex>.tar`, `<config hex>.json`, manifest.json. */
export function skopeoStyle(img: BuiltImage, tags: string[]): ArchiveFile[] {
  const files: ArchiveFile[] = img.layers.map((l, i) => ({ name: `${hexOf(img.diffIds[i]!)}.tar`, data: l }));
  files.push({ name: `${hexOf(img.configDigest)}.json`, data: img.config });
  files.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${hexOf(img.configDigest)}.json`, RepoTags: tags, Layers: img.diffIds.map((d) => `${hexOf(d)}.tar`) }])) });
  return files;
}

/** crane's tarball: compressed layers named by their blob digest, `.tar.gz`. */
export function craneStyle(img: BuiltImage, tags: string[]): ArchiveFile[] {
  const gz = img.layers.map((l) => gzipSync(l));
  const names = gz.map((b) => `${hexOf(sha256(b))}.tar.gz`);
  const files: ArchiveFile[] = [{ name: `sha256:${hexOf(img.configDigest)}`, data: img.config }];
  gz.forEach((b, i) => files.push({ name: names[i]!, data: b }));
  files.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `sha256:${hexOf(img.configDigest)}`, RepoTags: tags, Layers: names }])) });
  return files;
}

export interface OciOptions {
  compress?: Compress;
  /** Annotations per image: defaults to containerd name + ref.name tag, as docker 25 writes. */
  annotations?: (tag: string) => Record<string, string>;
  /** Also write docker's manifest.json (docker >= 25 writes both). */
  withDockerManifest?: boolean;
}

export interface OciImage {
  img: BuiltImage;
  tags: string[];
  /** The manifest as written (layers maybe compressed): its digest is what a round trip keeps. */
  manifest: Buffer;
  layerBlobs: Buffer[];
}

/** Make the OCI manifest for an image with its layers compressed as asked. */
export function ociImage(img: BuiltImage, tags: string[], compress: Compress = 'none'): OciImage {
  const layerBlobs = img.layers.map((l) => compressBlob(l, compress));
  const m: Manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: img.configDigest, size: img.config.length },
    layers: layerBlobs.map((b) => ({ mediaType: layerMediaType(compress), digest: sha256(b), size: b.length })),
  };
  return { img, tags, manifest: Buffer.from(JSON.stringify(m)), layerBlobs };
}

/** An OCI image layout (oci-layout, index.json, blobs/sha256), optionally with docker's manifest.json. */
export function ociLayout(images: OciImage[], opts: OciOptions = {}): ArchiveFile[] {
  const blobs = new Map<string, Buffer>();
  const index: Index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
  const dockerManifest: unknown[] = [];
  const annotate =
    opts.annotations ??
    ((t: string) => {
      const i = t.lastIndexOf(':');
      const name = t.slice(0, i);
      const full = name.includes('/') ? (name.split('/')[0]!.includes('.') ? name : `docker.io/${name}`) : `docker.io/library/${name}`;
      return { 'io.containerd.image.name': `${full}:${t.slice(i + 1)}`, 'org.opencontainers.image.ref.name': t.slice(i + 1) };
    });
  for (const o of images) {
    blobs.set(hexOf(o.img.configDigest), o.img.config);
    o.layerBlobs.forEach((b) => blobs.set(hexOf(sha256(b)), b));
    blobs.set(hexOf(sha256(o.manifest)), o.manifest);
    const desc: Descriptor = { mediaType: MT.ociManifest, digest: sha256(o.manifest), size: o.manifest.length };
    if (o.tags.length === 0) index.manifests.push(desc);
    for (const t of o.tags) index.manifests.push({ ...desc, annotations: annotate(t) });
    dockerManifest.push({ Config: `blobs/sha256/${hexOf(o.img.configDigest)}`, RepoTags: o.tags, Layers: o.layerBlobs.map((b) => `blobs/sha256/${hexOf(sha256(b))}`) });
  }
  const files: ArchiveFile[] = [...blobs.entries()].map(([hex, data]) => ({ name: `blobs/sha256/${hex}`, data }));
  files.push({ name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) });
  files.push({ name: 'index.json', data: Buffer.from(JSON.stringify(index)) });
  if (opts.withDockerManifest) files.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify(dockerManifest)) });
  return files;
}

/** A multi-platform layout: index.json → image index → one manifest per image, listed under the platform its config names. */
export function multiPlatform(images: OciImage[], tag: string): ArchiveFile[] {
  const blobs = new Map<string, Buffer>();
  const inner: Index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
  for (const image of images) {
    const { os, architecture, variant } = JSON.parse(image.img.config.toString()) as ImageConfig;
    const platform = { os, architecture, ...(variant ? { variant } : {}) };
    blobs.set(hexOf(image.img.configDigest), image.img.config);
    image.layerBlobs.forEach((b) => blobs.set(hexOf(sha256(b)), b));
    blobs.set(hexOf(sha256(image.manifest)), image.manifest);
    inner.manifests.push({ mediaType: MT.ociManifest, digest: sha256(image.manifest), size: image.manifest.length, platform });
  }
  const innerBytes = Buffer.from(JSON.stringify(inner));
  blobs.set(hexOf(sha256(innerBytes)), innerBytes);
  const i = tag.lastIndexOf(':');
  const index: Index = {
    schemaVersion: 2,
    manifests: [{ mediaType: MT.ociIndex, digest: sha256(innerBytes), size: innerBytes.length, annotations: { 'org.opencontainers.image.ref.name': tag, 'io.containerd.image.name': `docker.io/library/${tag.slice(0, i)}:${tag.slice(i + 1)}` } }],
  };
  return [
    ...[...blobs.entries()].map(([hex, data]) => ({ name: `blobs/sha256/${hex}`, data })),
    { name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { name: 'index.json', data: Buffer.from(JSON.stringify(index)) },
  ];
}

export async function writeArchive(file: string, files: ArchiveFile[]): Promise<Buffer> {
  const buf = await packArchive(files);
  writeFileSync(file, buf);
  return buf;
}

export { buildImage, type ImageSpec };
