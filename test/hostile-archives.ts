// Archives built from raw parts, so a test can make them lie: the plain OCI image layout and the
// `docker save` layout, with layer blobs given as bytes (plain, compressed, truncated, anything).
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { layerTar } from './images.js';
import { sha256, type Digest } from '../src/oci/digest.js';
import { MT } from '../src/oci/media.js';

export type Layout = 'oci' | 'docker';

export interface RawLayer {
  /** The blob as it goes into the archive. */
  blob: Buffer;
  /** What the config claims as its diff_id (by default the sha256 of the blob: plain layer). */
  diffId?: Digest;
  /** OCI media type (default: plain OCI layer). */
  mediaType?: string;
}

export interface RawImage {
  layers: RawLayer[];
  tag: string;
  /** Leave this layer's blob out of the archive (the manifest still names it). */
  omitLayer?: number;
  /** Extra outer entries, written after the regular ones (e.g. a second copy of a blob). */
  extra?: { name: string; data: Buffer }[];
  config?: Record<string, unknown>;
}

export interface OuterEntry {
  name: string;
  data?: Buffer;
  type?: 'file' | 'directory';
}

/** A tar of outer entries, in memory (test archives are small), made by the test layer writer. */
export function outerTar(entries: OuterEntry[]): Promise<Buffer> {
  return layerTar(entries.map((e) => ({ name: e.name, type: e.type ?? 'file', content: e.type === 'directory' ? undefined : e.data ?? Buffer.alloc(0) })));
}

/** The config an image's layers call for (diff_ids as claimed). */
export function rawConfig(img: RawImage): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: img.layers.map((l) => l.diffId ?? sha256(l.blob)) },
      history: img.layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `hostile layer ${i}` })),
      ...(img.config ?? {}),
    }),
  );
}

/** The archive's outer entries in the given layout. */
export function archiveEntries(layout: Layout, img: RawImage): OuterEntry[] {
  const config = rawConfig(img);
  const configHex = sha256(config).slice(7);
  const out: OuterEntry[] = [];
  if (layout === 'oci') {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: `sha256:${configHex}`, size: config.length },
        layers: img.layers.map((l) => ({ mediaType: l.mediaType ?? MT.ociLayer, digest: sha256(l.blob), size: l.blob.length })),
      }),
    );
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        {
          mediaType: MT.ociManifest,
          digest: sha256(manifest),
          size: manifest.length,
          annotations: { 'io.containerd.image.name': img.tag, 'org.opencontainers.image.ref.name': img.tag.split(':').pop()! },
        },
      ],
    };
    out.push({ name: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) });
    out.push({ name: 'index.json', data: Buffer.from(JSON.stringify(index)) });
    out.push({ name: 'blobs/', type: 'directory' });
    out.push({ name: 'blobs/sha256/', type: 'directory' });
    img.layers.forEach((l, i) => {
      if (i !== img.omitLayer) out.push({ name: `blobs/sha256/${sha256(l.blob).slice(7)}`, data: l.blob });
    });
    out.push({ name: `blobs/sha256/${configHex}`, data: config });
    out.push({ name: `blobs/sha256/${sha256(manifest).slice(7)}`, data: manifest });
  } else {
    const names = img.layers.map((l) => `${sha256(l.blob).slice(7)}/layer.tar`);
    img.layers.forEach((l, i) => {
      if (i === img.omitLayer) return;
      out.push({ name: `${sha256(l.blob).slice(7)}/`, type: 'directory' });
      out.push({ name: names[i]!, data: l.blob });
    });
    out.push({ name: `${configHex}.json`, data: config });
    out.push({ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [img.tag], Layers: names }])) });
  }
  for (const e of img.extra ?? []) out.push(e);
  return out;
}

/** Write the archive to `file`; returns the outer entry names (for building variants). */
export async function writeArchive(file: string, layout: Layout, img: RawImage): Promise<string[]> {
  const entries = archiveEntries(layout, img);
  writeFileSync(file, await outerTar(entries));
  return entries.map((e) => e.name);
}

/** Where a layer blob lands in an archive of this layout. */
export function blobEntryName(layout: Layout, blob: Buffer): string {
  return layout === 'oci' ? `blobs/sha256/${sha256(blob).slice(7)}` : `${sha256(blob).slice(7)}/layer.tar`;
}

/**
 * A listing of the store for before/after comparisons: every path under the root except tmp/ and
 * locks/, with its type, mode, size, and the sha256 of files or the target of symlinks.
 */
export function storeListing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = rel ? path.join(root, rel) : root;
    for (const n of readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (r === 'tmp' || r === 'locks') continue;
      const st = lstatSync(path.join(root, r));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`d ${mode} ${r}`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`l ${r} -> ${readlinkSync(path.join(root, r))}`);
      else if (st.isFile()) out.push(`f ${mode} ${st.size} ${sha256(readFileSync(path.join(root, r)))} ${r}`);
      else out.push(`? ${mode} ${r}`);
    }
  };
  walk('');
  return out;
}
