// Creating images in the store from layers and a config: what import, squash and commit share.
//
// writeLayer streams a layer tar into a blob (diff_id hashed and docker's size measured on the way
// in, optional compression, blob digest hashed on the way out), never holding it in memory. createImage writes the config and
// an OCI manifest and records the image and its tags in one transaction. Callers hold
// store.writerLock() from the first blob written until createImage returns, so gc never takes a
// blob that is about to be named by an image.
import { createWriteStream, promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressor } from '../layer/compression.js';
import type { PackStats } from '../layer/pack.js';
import { measureLayer } from '../layer/size.js';
import { HashCounter, type Digest } from '../oci/digest.js';
import { layerCompression, MT, ociLayerType, type Compression } from '../oci/media.js';
import type { Descriptor, HistoryEntry, ImageConfig, Manifest } from '../oci/types.js';
import type { ImageRecord, Store } from '../store/store.js';
import { BaleError } from '../util/errors.js';

/**
 * Bytes the blob file's stream may hold before the pipeline waits for the disk. Small on purpose:
 * a chunk is written while it is still in the CPU's cache; at 8 MiB the writes came in batches of
 * 7 MiB, read back from memory, and a squash took more system time.
 */
const WRITE_BUFFER = 512 * 1024;

export interface StoredLayer {
  /** The blob as stored. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  /** The layer's size as docker counts it (layer/size.ts: file contents, not tar bytes), where known. */
  diffSize?: number;
}

/**
 * Stream a layer tar into the store as a blob. Call with store.writerLock() held. `packed`: the
 * packer's stats for `tarStream` when packEntries made it; its diffSize, complete once the stream
 * has ended, saves reading the tar's headers again to measure it.
 */
export async function writeLayer(store: Store, tarStream: Readable, compression: Compression = 'none', onBytes?: (tarBytes: number) => void, packed?: PackStats): Promise<StoredLayer> {
  const tmp = store.tmpPath('layer');
  const diff = new HashCounter();
  const blob = new HashCounter();
  const measured: { diffSize?: number } = packed ?? { diffSize: 0 };
  const measure = (src: AsyncIterable<Buffer>) => (packed ? src : measureLayer(src, measured as { diffSize: number }));
  if (onBytes) diff.on('data', () => onBytes(diff.bytes));
  // A deep write buffer, so the tar is made while earlier megabytes are still being written.
  const file = createWriteStream(tmp, { mode: 0o644, highWaterMark: WRITE_BUFFER });
  try {
    if (compression === 'none') {
      await pipeline(tarStream, measure, diff, file);
    } else {
      await pipeline(tarStream, measure, diff, compressor(compression), blob, file);
    }
    const digest = compression === 'none' ? diff.digest() : blob.digest();
    const size = compression === 'none' ? diff.bytes : blob.bytes;
    await store.putBlobFile(tmp, digest);
    return { descriptor: { mediaType: ociLayerType(compression), digest, size }, diffId: diff.digest(), diffSize: measured.diffSize ?? 0 };
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** An existing image's layer descriptors with OCI media types (an OCI manifest names them). */
export function ociLayers(rec: ImageRecord): StoredLayer[] {
  return rec.layers.map((l, i) => {
    const c = layerCompression(l.mediaType);
    return { descriptor: { ...l, mediaType: c ? ociLayerType(c) : l.mediaType }, diffId: rec.diffIds[i]!, diffSize: rec.diffSizes?.[i] };
  });
}

/** GOARCH-style architecture of this host, as image configs name it. */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

/** Does the history describe exactly the layers the config names? (non-empty entries = diff_ids) */
export function checkHistory(cfg: ImageConfig): void {
  if (!cfg.history) return;
  const nonEmpty = cfg.history.filter((h) => !h.empty_layer).length;
  if (nonEmpty !== cfg.rootfs.diff_ids.length) {
    throw new BaleError(`internal: history has ${nonEmpty} layer entries for ${cfg.rootfs.diff_ids.length} layers`);
  }
}

/**
 * A config's history made consistent with its layers, to build on: when an image came with fewer
 * layer entries than layers (or none), placeholders stand in for the missing ones at the start.
 */
export function baseHistory(cfg: ImageConfig): HistoryEntry[] {
  const h = [...(cfg.history ?? [])];
  const missing = cfg.rootfs.diff_ids.length - h.filter((e) => !e.empty_layer).length;
  for (let i = 0; i < missing; i++) h.unshift({ comment: 'history not recorded in the image' });
  return h;
}

export interface NewImage {
  /** The config; its rootfs.diff_ids are replaced by the layers'. */
  config: ImageConfig;
  /** All layers, bottom first; every blob already in the store. */
  layers: StoredLayer[];
  tags?: string[];
}

/** Write the config and manifest blobs, then record the image and point the tags at it. Call with store.writerLock() held. */
export async function createImage(store: Store, img: NewImage): Promise<ImageRecord> {
  const cfg: ImageConfig = { ...img.config, rootfs: { type: 'layers', diff_ids: img.layers.map((l) => l.diffId) } };
  checkHistory(cfg);
  const configBytes = Buffer.from(JSON.stringify(cfg));
  const configDigest = await store.putBlobBytes(configBytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDigest, size: configBytes.length },
    layers: img.layers.map((l) => l.descriptor),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = await store.putBlobBytes(manifestBytes);
  const rec: ImageRecord = {
    id: configDigest,
    manifest: { mediaType: MT.ociManifest, digest: manifestDigest, size: manifestBytes.length },
    config: manifest.config,
    layers: manifest.layers,
    diffIds: cfg.rootfs.diff_ids,
    ...(img.layers.every((l) => l.diffSize !== undefined) ? { diffSizes: img.layers.map((l) => l.diffSize!) } : {}),
    added: new Date().toISOString(),
  };
  await store.transaction(async () => {
    await store.putImage(rec);
    await store.setTags(rec.id, img.tags ?? []);
  });
  return rec;
}

/** A history entry stamped now. */
export function historyEntry(fields: Omit<HistoryEntry, 'created'>, created = new Date().toISOString()): HistoryEntry {
  const h: HistoryEntry = { created };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== '') (h as Record<string, unknown>)[k] = v;
  return h;
}

