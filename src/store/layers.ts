// Unpacked layers: one directory per chain id, made on demand from the blobs, ready for overlayfs.
//
//   layers/<chain hex>/diff     the layer's own changes (not merged with the layers below), with
//                               whiteouts as overlayfs wants them (see layer/apply.ts)
//   layers/<chain hex>/diff-id  the layer's uncompressed digest, for people and fsck
//   layers/l/<short>            a short symlink to ../<chain hex>/diff, so an overlay mount of many
//                               layers fits in the kernel's one-page limit on mount options
//
// A layer is unpacked into tmp/ and renamed into place whole: layers/<chain hex> existing means the
// layer is complete. Two processes unpacking the same chain both finish; the second rename loses
// and its copy is dropped.
import { createReadStream, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chainIds } from '../oci/chain.js';
import { HashCounter, hexOf, type Digest } from '../oci/digest.js';
import { exists } from '../util/fsx.js';
import { BaleError } from '../util/errors.js';
import { missingBlob, type ImageRecord, type Store } from './store.js';

/** Length of the short link names under layers/l/ (hex digits of the chain id). */
const SHORT = 20;

export function layerRoot(store: Store, chain: Digest): string {
  return path.join(store.layerDir, hexOf(chain));
}

/** The unpacked directory of the layer with this chain id. */
export function layerDiffDir(store: Store, chain: Digest): string {
  return path.join(layerRoot(store, chain), 'diff');
}

/** The short name of a layer's diff dir, relative to store.layerDir (`l/<20 hex>`). */
export function layerShortPath(chain: Digest): string {
  return `l/${hexOf(chain).slice(0, SHORT)}`;
}

/** The chain ids of an image's layers, bottom first. */
export function imageChainIds(rec: ImageRecord): Digest[] {
  return chainIds(rec.diffIds);
}

async function ensureShortLink(store: Store, chain: Digest): Promise<void> {
  const link = path.join(store.layerDir, layerShortPath(chain));
  const want = `../${hexOf(chain)}/diff`;
  const have = await fsp.readlink(link).catch(() => undefined);
  if (have === want) return;
  await fsp.mkdir(path.dirname(link), { recursive: true, mode: 0o700 });
  const tmp = store.tmpPath('link');
  await fsp.symlink(want, tmp);
  await fsp.rename(tmp, link);
}

const UNPACK_PARALLELISM = Math.max(2, Math.min(4, os.availableParallelism()));

/** One layer to apply: what the worker thread needs (plain data: it crosses a thread boundary). */
export interface ApplyJob {
  blob: Digest;
  blobFile: string;
  diffId: Digest;
  /** An empty directory to apply it onto. */
  dest: string;
}

/**
 * Apply the layer blob onto `job.dest`, verifying its diff id. Runs in a worker thread
 * (unpack-worker.ts) when several layers unpack at once.
 */
export async function applyBlob(job: ApplyJob): Promise<void> {
  const { blob, diffId } = job;
  // loaded here, not at the top: a run whose layers are unpacked never needs them (nor zlib, nor
  // fs-xattr's addon)
  const { decompressor, maxLayerBytes, SizeCap, sniffFile } = await import('../layer/compression.js');
  const { applyLayer } = await import('../layer/apply.js');
  const compression = await sniffFile(job.blobFile);
  if (compression === 'bzip2' || compression === 'xz') {
    throw new BaleError(`layer ${blob}: ${compression} compression is not supported`);
  }
  const hasher = new HashCounter();
  const source = new PassThrough({ highWaterMark: 1024 * 1024 });
  const feeding = pipeline(
    createReadStream(job.blobFile, { highWaterMark: 1024 * 1024 }),
    decompressor(compression),
    new SizeCap(maxLayerBytes(), `layer ${blob}`),
    hasher,
    source,
  );
  const [fed, applied] = await Promise.allSettled([feeding, applyLayer(source, job.dest)]);
  if (fed.status === 'rejected' || applied.status === 'rejected') {
    // The applier's error names the entry; the feeder's names a broken blob. Prefer whichever
    // is not just the echo of the other side closing.
    const errs = [applied, fed].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
    const e = errs.find((x) => (x as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') ?? errs[0]!;
    throw new BaleError(`layer ${blob}: ${e.message.split('\n')[0]}`);
  }
  if (hasher.digest() !== diffId) {
    throw new BaleError(`layer ${blob}: uncompressed content is ${hasher.digest()}, but the image says its diff id is ${diffId}`);
  }
}

/** Unpack one layer blob into place as chain `chain`, applying it with `apply`. */
async function unpackOne(store: Store, blob: Digest, diffId: Digest, chain: Digest, apply: (job: ApplyJob) => Promise<void>): Promise<void> {
  const tmp = store.tmpPath('layer');
  await fsp.mkdir(path.join(tmp, 'diff'), { recursive: true, mode: 0o755 });
  try {
    await apply({ blob, blobFile: store.blobPath(blob), diffId, dest: path.join(tmp, 'diff') });
    await fsp.writeFile(path.join(tmp, 'diff-id'), diffId + '\n');
    try {
      await fsp.rename(tmp, layerRoot(store, chain));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Someone else unpacked the same chain meanwhile: theirs is as good as ours.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The unpacked directories of an image's layers, bottom first, unpacking the missing ones (and
 * holding the writer lock while it does, so gc does not collect what it is making).
 */
export async function unpackLayers(store: Store, rec: ImageRecord): Promise<string[]> {
  const chains = imageChainIds(rec);
  if (chains.length !== rec.layers.length) {
    throw new BaleError(`image ${rec.id}: ${rec.layers.length} layer blobs but ${chains.length} diff ids`);
  }
  const missing: number[] = [];
  for (let i = 0; i < chains.length; i++) {
    if (!(await exists(layerRoot(store, chains[i]!)))) missing.push(i);
  }
  const lock = await store.writerLock();
  try {
    // Under the writer lock no rmi or gc deletes blobs: one missing now was removed before it.
    for (const i of missing) if (!(await store.hasBlob(rec.layers[i]!.digest))) throw missingBlob(rec.layers[i]!.digest);
    // Layers unpack into separate directories, so they go side by side, each in a worker thread:
    // the applier makes its files with synchronous calls, which on one thread would queue up
    // behind each other. One layer alone is applied here (a thread's start-up would buy nothing).
    // (worker_threads is loaded only then: a run whose layers are unpacked never needs it)
    const pool = missing.length > 1 ? new (await import('../util/worker-pool.js')).WorkerPool<ApplyJob, void>(new URL('./unpack-worker.js', import.meta.url)) : undefined;
    const apply = pool ? (job: ApplyJob) => pool.run(job).catch((e: Error) => Promise.reject(new BaleError(e.message))) : applyBlob;
    const limit = pLimit(UNPACK_PARALLELISM);
    let failed = false;
    try {
      // Every started layer settles before the lock goes (and its temp dir with it); once one
      // failed, the ones still queued are not started.
      const results = await Promise.allSettled(
        missing.map((i) =>
          limit(async () => {
            const chain = chains[i]!;
            if (failed || (await exists(layerRoot(store, chain)))) return;
            await unpackOne(store, rec.layers[i]!.digest, rec.diffIds[i]!, chain, apply).catch((e: unknown) => {
              failed = true;
              throw e;
            });
          }),
        ),
      );
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected) throw rejected.reason;
    } finally {
      await pool?.close();
    }
    for (const c of chains) await ensureShortLink(store, c);
  } finally {
    await lock.release();
  }
  return chains.map((c) => layerDiffDir(store, c));
}

/** Chain ids of layers users outside the store (containers) hold, asked for under the collector lock. */
export type LayerUsers = () => Promise<Iterable<Digest>>;

/** Chain ids (hex) whose unpacked directories images or `others` (the runtime's containers) use. */
export async function layersInUse(store: Store, others: LayerUsers): Promise<Set<string>> {
  const used = new Set<string>();
  for (const rec of await store.images()) for (const c of imageChainIds(rec)) used.add(hexOf(c));
  for (const c of await others()) used.add(hexOf(c));
  return used;
}

/**
 * Remove unpacked layers nothing uses (for `bale gc`). Holds the collector lock, so no unpack or
 * container creation is in flight while `others` says which layers containers hold. A layer is first renamed out of layers/ and then deleted, so a
 * crash never leaves a partial layer under its chain id.
 */
export async function collectLayers(store: Store, others: LayerUsers): Promise<{ layers: number }> {
  const lock = await store.collectorLock();
  try {
    const used = await layersInUse(store, others);
    let layers = 0;
    for (const n of await fsp.readdir(store.layerDir)) {
      if (!/^[a-f0-9]{64}$/.test(n) || used.has(n)) continue;
      const tmp = store.tmpPath('gc-layer');
      await fsp.rename(path.join(store.layerDir, n), tmp);
      await fsp.rm(tmp, { recursive: true, force: true });
      layers++;
    }
    const linkDir = path.join(store.layerDir, 'l');
    for (const n of await fsp.readdir(linkDir).catch(() => [] as string[])) {
      const link = path.join(linkDir, n);
      if (!(await fsp.stat(link).then(() => true, () => false))) await fsp.rm(link, { force: true });
    }
    return { layers };
  } finally {
    await lock.release();
  }
}
