// The layers an archive carries (blob digests and diff_ids), read from its manifests alone: the
// base a delta archive (`bale save --exclude-from BASE.tar`) leaves out.
//
// One pass over the tar: small JSON bodies (index.json, manifest.json, manifests, configs) are kept,
// every other body is skipped as it streams by; never a layer in memory. Works for Docker archives
// (old `<id>/layer.tar` and docker >= 25 `blobs/`), OCI layouts and both in one, plain or compressed.
import { createReadStream, promises as fsp } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { isDigest, type Digest } from '../oci/digest.js';
import { isIndexType } from '../oci/media.js';
import type { DockerArchiveEntry, ImageConfig, Index, Manifest } from '../oci/types.js';
import { BaleError } from '../util/errors.js';
import { decompressor, sniffCompression, sniffFile } from '../layer/compression.js';
import type { LayerSet } from './writer.js';

const MAX_JSON = 8 * 1024 * 1024;

function clean(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}

async function sniffArchive(file: string): Promise<ReturnType<typeof sniffCompression>> {
  return sniffFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new BaleError(`${file}: cannot open: ${e.code ?? e.message}`);
  });
}

/** Read the layer identities of the images in an archive file. */
export async function archiveLayerSet(file: string): Promise<LayerSet> {
  const bodies = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (h, stream, next) => {
    const name = clean(h.name);
    const small = h.type === 'file' && (h.size ?? 0) <= MAX_JSON;
    if (!small) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let first = true;
    let keep = true;
    stream.on('data', (data: unknown) => {
      const c = data as Buffer;
      if (first && c.length) {
        first = false;
        keep = c[0] === 0x7b || c[0] === 0x5b; // { or [
      }
      if (keep) chunks.push(c);
    });
    stream.on('end', () => {
      if (keep) bodies.set(name, Buffer.concat(chunks));
      next();
    });
  });
  const c = await sniffArchive(file);
  if (c === 'bzip2' || c === 'xz') throw new BaleError(`${file}: ${c}-compressed archives are not supported`);
  try {
    await pipeline(createReadStream(file), decompressor(c), extract);
  } catch (e) {
    if (e instanceof BaleError) throw e;
    throw new BaleError(`${file}: cannot read archive: ${(e as Error).message}`);
  }

  const parse = <T>(name: string): T | undefined => {
    const b = bodies.get(name);
    if (!b) return undefined;
    try {
      return JSON.parse(b.toString('utf8')) as T;
    } catch {
      return undefined;
    }
  };
  const set: LayerSet = { digests: new Set(), diffIds: new Set() };
  const addConfig = (path: string) => {
    const cfg = parse<ImageConfig>(path);
    for (const d of cfg?.rootfs?.diff_ids ?? []) if (isDigest(d)) set.diffIds.add(d);
  };
  const blobName = (d: string) => `blobs/${d.replace(':', '/')}`;

  let found = false;
  const index = parse<Index>('index.json');
  if (index && Array.isArray(index.manifests)) {
    found = true;
    const seen = new Set<string>();
    const walk = (descs: Index['manifests'], mediaType?: string) => {
      for (const d of descs) {
        if (!isDigest(d?.digest) || seen.has(d.digest)) continue;
        seen.add(d.digest);
        const doc = parse<Manifest & Index>(blobName(d.digest));
        if (!doc) continue;
        if (isIndexType(d.mediaType ?? mediaType) || Array.isArray(doc.manifests)) {
          walk(doc.manifests ?? []);
          continue;
        }
        for (const l of doc.layers ?? []) if (isDigest(l.digest)) set.digests.add(l.digest);
        if (isDigest(doc.config?.digest)) addConfig(blobName(doc.config.digest));
      }
    };
    walk(index.manifests);
  }
  const manifest = parse<DockerArchiveEntry[]>('manifest.json');
  if (Array.isArray(manifest)) {
    found = true;
    for (const e of manifest) {
      if (typeof e?.Config === 'string') addConfig(clean(e.Config));
      for (const l of e?.Layers ?? []) {
        const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(clean(String(l)));
        if (m) set.digests.add(`sha256:${m[1]}`);
      }
    }
  }
  if (!found) throw new BaleError(`${file}: not an image archive (no index.json or manifest.json)`);
  return set;
}
