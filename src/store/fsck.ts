// Checking the store: every blob re-hashed against its name, every image's blobs present and whole.
//
// What is checked:
//   - each file in blobs/sha256/ is streamed through sha256 and must hash to its own name;
//   - each image record names blobs that exist, with the sizes its descriptors say, and its id is
//     its config digest; the manifest blob names the same config and layers as the record;
//   - each tag points at an image that exists.
// Unpacked layer directories are a cache made from the blobs (they can be dropped and remade), so
// they are not checked here. Temp files are reported as a count only: they are gc's business.
import { createReadStream, promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import pLimit from 'p-limit';
import { hexOf, isDigest, type Digest } from '../oci/digest.js';
import type { Manifest } from '../oci/types.js';
import type { ImageRecord, Store } from './store.js';

export type ProblemKind =
  /** A blob whose content no longer hashes to its name. */
  | 'corrupt'
  /** A blob an image or tag needs is not in the store. */
  | 'missing'
  /** A blob whose size differs from what the image's descriptor says. */
  | 'size'
  /** A file in blobs/sha256/ whose name is not a sha256 hex digest, or is not a regular file. */
  | 'stray'
  /** An image record that cannot be read or contradicts its own blobs. */
  | 'image'
  /** A tag pointing at an image that does not exist. */
  | 'tag';

export interface Problem {
  kind: ProblemKind;
  /** The blob concerned, when there is one. */
  digest?: Digest;
  /** The image(s) that use it, by id. */
  images?: Digest[];
  /** One line saying what is wrong. */
  detail: string;
}

export interface FsckReport {
  /** Blobs re-hashed. */
  blobs: number;
  /** Bytes read while re-hashing. */
  bytes: number;
  images: number;
  tags: number;
  /** Files left in tmp/ (by running or crashed writers; `bale gc` removes the dead ones). */
  tmpFiles: number;
  problems: Problem[];
}

export interface FsckOptions {
  /** How many blobs to hash at once (default 2: hashing is CPU-bound, the machine has few cores). */
  concurrency?: number;
  /** Called after each blob is hashed (for progress). */
  onBlob?: (done: number, total: number, bytes: number) => void;
}

/** The sha256 of a file, streamed. */
export async function hashFile(file: string): Promise<{ digest: Digest; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { digest: `sha256:${h.digest('hex')}`, bytes };
}

/**
 * Check the whole store. Holds the writer lock (shared) so that no gc deletes blobs under it, while
 * loads may go on: a blob that appears during the scan is simply not looked at.
 */
export async function fsck(store: Store, opts: FsckOptions = {}): Promise<FsckReport> {
  const lock = await store.writerLock();
  try {
    return await check(store, opts);
  } finally {
    await lock.release();
  }
}

async function check(store: Store, opts: FsckOptions): Promise<FsckReport> {
  const problems: Problem[] = [];

  // Images first: they say which blobs matter and who uses them.
  const users = new Map<Digest, Digest[]>();
  const use = (d: Digest, img: Digest) => {
    const u = users.get(d) ?? [];
    if (!u.includes(img)) u.push(img);
    users.set(d, u);
  };
  const records: ImageRecord[] = [];
  for (const n of (await fsp.readdir(store.imageDir)).sort()) {
    if (!n.endsWith('.json')) continue;
    const file = path.join(store.imageDir, n);
    let rec: ImageRecord;
    try {
      rec = JSON.parse(await fsp.readFile(file, 'utf8')) as ImageRecord;
    } catch (e) {
      problems.push({ kind: 'image', detail: `images/${n}: unreadable image record (${(e as Error).message})` });
      continue;
    }
    const badShape =
      !rec ||
      !isDigest(rec.id) ||
      !rec.manifest ||
      !isDigest(rec.manifest.digest) ||
      !rec.config ||
      !Array.isArray(rec.layers) ||
      rec.layers.some((l) => !l || !isDigest(l.digest));
    if (badShape) {
      problems.push({ kind: 'image', detail: `images/${n}: malformed image record` });
      continue;
    }
    if (`${hexOf(rec.id)}.json` !== n || rec.config.digest !== rec.id) {
      problems.push({ kind: 'image', images: [rec.id], detail: `images/${n}: record names image ${rec.id}, config ${rec.config.digest}` });
    }
    records.push(rec);
    for (const d of [rec.manifest.digest, rec.config.digest, ...rec.layers.map((l) => l.digest), ...(rec.index ? [rec.index.digest] : [])]) use(d, rec.id);
  }
  const imageIds = new Set(records.map((r) => r.id));

  // Every blob on disk, re-hashed.
  const names = (await fsp.readdir(store.blobDir)).sort();
  const onDisk = new Set<string>();
  const sizes = new Map<string, number>();
  const corrupt = new Set<string>();
  const limit = pLimit(Math.max(1, opts.concurrency ?? 2));
  let done = 0;
  let bytes = 0;
  let hashed = 0;
  await Promise.all(
    names.map((hex) =>
      limit(async () => {
        const file = path.join(store.blobDir, hex);
        const st = await fsp.lstat(file).catch(() => undefined);
        if (!st) return; // removed meanwhile (cannot be gc: we hold the writer lock)
        if (!/^[a-f0-9]{64}$/.test(hex) || !st.isFile()) {
          problems.push({ kind: 'stray', detail: `blobs/sha256/${hex}: not a blob (${st.isFile() ? 'bad name' : 'not a regular file'})` });
          return;
        }
        onDisk.add(hex);
        sizes.set(hex, st.size);
        const d = `sha256:${hex}` as Digest;
        let got: { digest: Digest; bytes: number };
        try {
          got = await hashFile(file);
        } catch (e) {
          corrupt.add(hex);
          problems.push({ kind: 'corrupt', digest: d, images: users.get(d), detail: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
          return;
        }
        hashed++;
        bytes += got.bytes;
        if (got.digest !== d) {
          corrupt.add(hex);
          problems.push({ kind: 'corrupt', digest: d, images: users.get(d), detail: `content hashes to ${got.digest}` });
        }
        opts.onBlob?.(++done, names.length, bytes);
      }),
    ),
  );

  // What the images need.
  const missingSeen = new Set<string>();
  for (const rec of records) {
    const descs = [
      { what: 'manifest', d: rec.manifest },
      { what: 'config', d: rec.config },
      ...rec.layers.map((l, i) => ({ what: `layer ${i + 1}`, d: l })),
    ];
    for (const { what, d } of descs) {
      const hex = hexOf(d.digest);
      if (!onDisk.has(hex)) {
        if (missingSeen.has(hex)) continue;
        missingSeen.add(hex);
        problems.push({ kind: 'missing', digest: d.digest, images: users.get(d.digest), detail: `${what} blob is not in the store` });
        continue;
      }
      const size = sizes.get(hex);
      if (!corrupt.has(hex) && typeof d.size === 'number' && size !== d.size) {
        problems.push({ kind: 'size', digest: d.digest, images: [rec.id], detail: `${what} blob is ${size} bytes, the image says ${d.size}` });
      }
    }
    // The manifest, when it is whole, must agree with the record (the record is derived from it).
    const mhex = hexOf(rec.manifest.digest);
    if (onDisk.has(mhex) && !corrupt.has(mhex)) {
      try {
        const m = JSON.parse(await fsp.readFile(path.join(store.blobDir, mhex), 'utf8')) as Manifest;
        const layerDigests = (m.layers ?? []).map((l) => l.digest);
        if (m.config?.digest !== rec.config.digest || layerDigests.join(' ') !== rec.layers.map((l) => l.digest).join(' ')) {
          problems.push({ kind: 'image', images: [rec.id], digest: rec.manifest.digest, detail: 'manifest names other blobs than the image record' });
        }
      } catch {
        problems.push({ kind: 'image', images: [rec.id], digest: rec.manifest.digest, detail: 'manifest blob is not JSON' });
      }
    }
    if (Array.isArray(rec.diffIds) && rec.diffIds.length !== rec.layers.length) {
      problems.push({ kind: 'image', images: [rec.id], detail: `${rec.layers.length} layers but ${rec.diffIds.length} diff_ids` });
    }
  }

  // Tags.
  let tags: Record<string, Digest> = {};
  try {
    tags = await store.tags();
  } catch (e) {
    problems.push({ kind: 'tag', detail: `tags.json: unreadable (${(e as Error).message})` });
  }
  for (const [tag, id] of Object.entries(tags)) {
    if (!imageIds.has(id)) problems.push({ kind: 'tag', digest: isDigest(id) ? id : undefined, detail: `tag ${tag} points at image ${id}, which is not in the store` });
  }

  const tmpFiles = (await fsp.readdir(store.tmpDir).catch(() => [])).length;
  const order: ProblemKind[] = ['corrupt', 'missing', 'size', 'image', 'tag', 'stray'];
  problems.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || (a.digest ?? a.detail).localeCompare(b.digest ?? b.detail));
  return { blobs: hashed, bytes, images: records.length, tags: Object.keys(tags).length, tmpFiles, problems };
}
