// `load`: an archive in, images out. Scan once, read the layouts, verify, then move the blobs into the
// store and record images and tags last (the commit point). On any failure the store is as it was:
// nothing but temp files was written, and those are removed.
import { promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import os from 'node:os';
import { sha256, type Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import type { ImageRecord, Store } from '../store/store.js';
import { BaleError, oneLine } from '../util/errors.js';
import { scanArchive, type ScannedArchive, type ScanOptions } from './scan.js';
import { scanDirectory } from './dir-reader.js';
import { readImages, type FoundImage } from './layouts.js';

export interface LoadResult {
  images: { id: Digest; tags: string[] }[];
}

export interface LoadOptions {
  label: string;
  onProgress?: (bytes: number) => void;
  platform?: { os: string; architecture: string; variant?: string };
  allPlatforms?: boolean;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function hostPlatform(): { os: string; architecture: string } {
  return { os: 'linux', architecture: ARCH[os.arch()] ?? os.arch() };
}

/** Where a load reads from: an archive stream, a directory, or another source's scan (a registry). */
export type LoadInput = Readable | { dir: string } | { scan: (o: ScanOptions) => Promise<ScannedArchive> };

function scanInput(input: LoadInput, o: ScanOptions): Promise<ScannedArchive> {
  if (input instanceof Readable) return scanArchive(input, o);
  return 'dir' in input ? scanDirectory(input.dir, o) : input.scan(o);
}

export async function loadArchive(store: Store, input: LoadInput, opts: LoadOptions): Promise<LoadResult> {
  const lock = await store.writerLock();
  const temps: string[] = [];
  try {
    let arc;
    try {
      arc = await scanInput(input, { tmpPath: (p) => store.tmpPath(p), onProgress: opts.onProgress, label: opts.label });
    } catch (e) {
      throw new BaleError(oneLine(e), { cause: e });
    }
    for (const f of arc.files.values()) temps.push(f.tmp);
    let images: FoundImage[];
    try {
      images = await readImages(
        arc,
        {
          hasBlob: (d) => store.hasBlob(d),
          layerByDiffId: (d) => layerByDiffId(store, d),
        },
        { label: opts.label, ...(opts.platform ?? hostPlatform()), allPlatforms: opts.allPlatforms },
      );
    } catch (e) {
      throw new BaleError(oneLine(e), { cause: e });
    }
    if (images.length === 0) throw new BaleError(`${opts.label}: the archive holds no image`);

    // The blobs must be durable before they become visible under their names: each file's fsync
    // was started as soon as the scan had written it.
    for (const f of arc.files.values()) {
      const err = await f.synced;
      if (err) throw new BaleError(`${opts.label}: cannot write ${f.name} to the store: ${err.message}`);
    }
    const placed = new Set<string>();
    const place = async (tmp: string, d: Digest) => {
      if (placed.has(d)) return;
      placed.add(d);
      await store.putBlobFile(tmp, d);
    };
    const byDigest = new Map([...arc.files.values()].map((f) => [f.digest, f]));
    const records: { rec: ImageRecord; tags: string[] }[] = [];
    for (const img of images) {
      const cfgFile = byDigest.get(img.configDigest);
      if (cfgFile) await place(cfgFile.tmp, img.configDigest);
      else await store.putBlobBytes(img.configBytes);
      for (const l of img.layers) {
        if (l.source.kind === 'archive') await place(l.source.file.tmp, l.source.file.digest);
      }
      const manifestDigest = sha256(img.manifestBytes);
      const mf = byDigest.get(manifestDigest);
      if (mf) await place(mf.tmp, manifestDigest);
      else await store.putBlobBytes(img.manifestBytes);
      if (img.index) await place(img.index.file.tmp, img.index.file.digest);
      const config: Descriptor = { mediaType: configMediaType(img), digest: img.configDigest, size: img.configBytes.length };
      records.push({
        rec: {
          id: img.configDigest,
          manifest: { mediaType: img.manifestMediaType, digest: manifestDigest, size: img.manifestBytes.length },
          config,
          layers: img.layers.map((l) => l.descriptor),
          diffIds: img.layers.map((l) => l.diffId),
          ...(await diffSizes(store, img)),
          added: new Date().toISOString(),
          ...(img.index ? { index: { mediaType: img.index.descriptor.mediaType, digest: img.index.descriptor.digest, size: img.index.descriptor.size } } : {}),
        },
        tags: img.tags,
      });
    }

    // The commit point: image records and tags.
    await store.transaction(async () => {
      for (const { rec, tags } of records) {
        const existing = await store.image(rec.id);
        // Loading an image again keeps the manifest it had unless the new one is the archive's own.
        if (!existing || (rec.index && !existing.index)) await store.putImage(existing ? { ...existing, index: rec.index } : rec);
        await store.setTags(rec.id, tags);
      }
    });
    return { images: records.map(({ rec, tags }) => ({ id: rec.id, tags })) };
  } finally {
    await Promise.allSettled(temps.map((t) => fsp.rm(t, { force: true })));
    await lock.release();
  }
}

function configMediaType(img: FoundImage): string {
  try {
    const m = JSON.parse(img.manifestBytes.toString('utf8')) as { config?: { mediaType?: string } };
    return m.config?.mediaType ?? 'application/vnd.oci.image.config.v1+json';
  } catch {
    return 'application/vnd.oci.image.config.v1+json';
  }
}

/** Uncompressed layer sizes: from the scan, or for layers a delta archive left out, from the store's records. */
async function diffSizes(store: Store, img: FoundImage): Promise<{ diffSizes?: number[] }> {
  const known = new Map<Digest, number>();
  if (img.layers.some((l) => l.diffSize === undefined)) {
    for (const rec of await store.images()) rec.diffSizes?.forEach((n, i) => known.set(rec.diffIds[i]!, n));
  }
  const sizes = img.layers.map((l) => l.diffSize ?? known.get(l.diffId));
  return sizes.every((n) => n !== undefined) ? { diffSizes: sizes as number[] } : {};
}

/** A layer blob in the store whose diff_id is `diffId` (for delta archives that omit it). */
export async function layerByDiffId(store: Store, diffId: Digest): Promise<Descriptor | undefined> {
  for (const rec of await store.images()) {
    const i = rec.diffIds.indexOf(diffId);
    if (i >= 0 && (await store.hasBlob(rec.layers[i]!.digest))) return rec.layers[i];
  }
  return undefined;
}
