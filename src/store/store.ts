// The local store: content-addressed blobs, image records, tags, unpacked layers, containers.
//
// On disk (under the root):
//   blobs/sha256/<hex>      every blob exactly as received (layers, configs, manifests)
//   images/<hex>.json       one ImageRecord per image, named by its config digest
//   tags.json               { "name:tag": "sha256:<config digest>" }
//   layers/<chain hex>/     unpacked layers, made on demand (see layers.ts)
//   containers/<id>/        containers (see the runtime)
//   volumes/<name>/         named volumes (see volumes.ts); gc never touches them
//   tmp/                    everything is written here first, then renamed into place
//   locks/                  flock files (see util/lock.ts)
//   build-cache/            what each `bale build` step made, by step key (see image/build/cache.ts)
//
// Locks, always taken in this order:
//   locks/gc     shared by anything that adds blobs for a while (load, import, commit), exclusive
//                for anything that deletes blobs (rmi, gc): a blob a writer has put in place but not
//                yet recorded in an image is never collected under it.
//   locks/store  exclusive around every change to images/ and tags.json (read-modify-write).
import { createReadStream, mkdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { hexOf, isDigest, sha256, type Digest } from '../oci/digest.js';
import type { Descriptor, ImageConfig } from '../oci/types.js';
import { canonicalTag, parseReference } from '../oci/reference.js';
import { acquireLock, withLock, type Lock } from '../util/lock.js';
import { exists, readJson, uniqueName, writeFileAtomic } from '../util/fsx.js';
import { BaleError } from '../util/errors.js';
import { defaultRoot } from './paths.js';
import { RECORD_PREFIX } from './outputs.js';

export interface ImageRecord {
  /** The config digest: the image id. */
  id: Digest;
  /** The manifest blob (kept byte for byte so a save gives back the same manifest digest). */
  manifest: Descriptor;
  /** The config blob's descriptor (digest = id). */
  config: Descriptor;
  /** Layer blobs as stored, bottom first. */
  layers: Descriptor[];
  /** Uncompressed layer digests, bottom first (= config rootfs.diff_ids). */
  diffIds: Digest[];
  /** Layer sizes as docker counts them (the files' sizes, layer/size.ts), bottom first, where known. */
  diffSizes?: number[];
  /** When the image entered this store (ISO 8601). */
  added: string;
  /** The multi-platform index it was loaded with (load --all-platforms): save writes it back whole. */
  index?: Descriptor;
}

/** A blob an image names is not there: removed under a reader (rmi racing run), or a damaged store. */
export function missingBlob(d: Digest, cause?: unknown): BaleError {
  return new BaleError(`blob ${d} is not in the store (its image was removed while in use, or run bale fsck)`, { cause });
}

export class Store {
  readonly root: string;
  readonly blobDir: string;
  readonly imageDir: string;
  readonly layerDir: string;
  readonly containerDir: string;
  readonly tmpDir: string;
  readonly lockDir: string;
  /** Things bale can make again from the rest (compiled seccomp filters): gc may empty it. */
  readonly cacheDir: string;
  readonly tagsFile: string;

  private constructor(root: string) {
    this.root = root;
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.imageDir = path.join(root, 'images');
    this.layerDir = path.join(root, 'layers');
    this.containerDir = path.join(root, 'containers');
    this.tmpDir = path.join(root, 'tmp');
    this.lockDir = path.join(root, 'locks');
    this.cacheDir = path.join(root, 'cache');
    this.tagsFile = path.join(root, 'tags.json');
  }

  static async open(root: string = defaultRoot()): Promise<Store> {
    const s = new Store(root);
    // Sync: six mkdirs that find their dir cost microseconds, where six promises cost a millisecond.
    for (const d of [s.blobDir, s.imageDir, s.layerDir, s.containerDir, s.tmpDir, s.lockDir]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    return s;
  }

  // ---- locks -------------------------------------------------------------------------------

  /** Held (shared) while adding blobs that are not yet part of an image. */
  writerLock(): Promise<Lock> {
    return acquireLock(path.join(this.lockDir, 'gc'), 'shared');
  }

  /** Held (exclusive) while deleting blobs. */
  collectorLock(): Promise<Lock> {
    return acquireLock(path.join(this.lockDir, 'gc'), 'exclusive');
  }

  /** Run fn with the metadata lock: images/ and tags.json change only inside. */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(path.join(this.lockDir, 'store'), 'exclusive', fn);
  }

  // ---- temp space ----------------------------------------------------------------------------

  /** A fresh path inside the store's temp dir (same file system as everything, so rename works). */
  tmpPath(prefix = 'tmp'): string {
    return path.join(this.tmpDir, uniqueName(prefix));
  }

  // ---- blobs -----------------------------------------------------------------------------------

  blobPath(d: Digest): string {
    return path.join(this.blobDir, hexOf(d));
  }

  hasBlob(d: Digest): Promise<boolean> {
    return exists(this.blobPath(d));
  }

  async blobSize(d: Digest): Promise<number> {
    return (await fsp.stat(this.blobPath(d))).size;
  }

  async readBlob(d: Digest): Promise<Buffer> {
    try {
      return await fsp.readFile(this.blobPath(d));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missingBlob(d, e);
      throw e;
    }
  }

  async readJsonBlob<T>(d: Digest): Promise<T> {
    return JSON.parse((await this.readBlob(d)).toString('utf8')) as T;
  }

  blobStream(d: Digest): NodeJS.ReadableStream {
    return createReadStream(this.blobPath(d), { highWaterMark: 1024 * 1024 });
  }

  /**
   * Move a fully written and verified temp file into place as blob `d`. If the blob is already
   * there (same content by definition) the temp file is dropped.
   */
  async putBlobFile(tmpFile: string, d: Digest): Promise<void> {
    const dest = this.blobPath(d);
    if (await exists(dest)) {
      await fsp.rm(tmpFile, { force: true });
      return;
    }
    await fsp.chmod(tmpFile, 0o444);
    await fsp.rename(tmpFile, dest);
  }

  async putBlobBytes(data: Buffer | string): Promise<Digest> {
    const d = sha256(data);
    if (await this.hasBlob(d)) return d;
    const tmp = this.tmpPath('blob');
    await fsp.writeFile(tmp, data, { mode: 0o444 });
    await this.putBlobFile(tmp, d);
    return d;
  }

  // ---- images ------------------------------------------------------------------------------

  private imagePath(id: Digest): string {
    return path.join(this.imageDir, `${hexOf(id)}.json`);
  }

  async images(): Promise<ImageRecord[]> {
    const names = await fsp.readdir(this.imageDir);
    const out: ImageRecord[] = [];
    for (const n of names) {
      if (!/^[a-f0-9]{64}\.json$/.test(n)) continue;
      const rec = await readJson<ImageRecord>(path.join(this.imageDir, n));
      if (rec) out.push(rec);
    }
    return out;
  }

  image(id: Digest): Promise<ImageRecord | undefined> {
    return readJson<ImageRecord>(this.imagePath(id));
  }

  config(rec: ImageRecord): Promise<ImageConfig> {
    return this.readJsonBlob<ImageConfig>(rec.id);
  }

  /** Record an image. Call inside transaction(); every blob it names must already be in place. */
  async putImage(rec: ImageRecord): Promise<void> {
    for (const d of [rec.manifest.digest, rec.id, ...rec.layers.map((l) => l.digest)]) {
      if (!(await this.hasBlob(d))) throw new BaleError(`store: blob ${d} vanished before the image was recorded`);
    }
    await writeFileAtomic(this.imagePath(rec.id), JSON.stringify(rec, null, 2) + '\n', this.tmpDir);
  }

  /** Remove an image record. Call inside transaction(). Blobs stay until collect(). */
  async deleteImageRecord(id: Digest): Promise<void> {
    await fsp.rm(this.imagePath(id), { force: true });
  }

  // ---- tags ----------------------------------------------------------------------------------

  async tags(): Promise<Record<string, Digest>> {
    return (await readJson<Record<string, Digest>>(this.tagsFile)) ?? {};
  }

  async tagsOf(id: Digest): Promise<string[]> {
    const t = await this.tags();
    return Object.keys(t).filter((k) => t[k] === id).sort();
  }

  /** Point tags at an image. Call inside transaction(). */
  async setTags(id: Digest, refs: string[]): Promise<void> {
    if (refs.length === 0) return;
    const t = await this.tags();
    for (const r of refs) t[canonicalTag(r)] = id;
    await this.writeTags(t);
  }

  /** Remove tags. Call inside transaction(). */
  async removeTags(refs: string[]): Promise<void> {
    const t = await this.tags();
    for (const r of refs) delete t[r];
    await this.writeTags(t);
  }

  private async writeTags(t: Record<string, Digest>): Promise<void> {
    const sorted: Record<string, Digest> = {};
    for (const k of Object.keys(t).sort()) sorted[k] = t[k]!;
    await writeFileAtomic(this.tagsFile, JSON.stringify(sorted, null, 2) + '\n', this.tmpDir);
  }

  /**
   * Find an image by tag (`busybox`, `busybox:1.36`, `docker.io/library/busybox:latest`), by id
   * (`sha256:<hex>`, full hex, or a unique prefix of at least 4 hex digits), or `name@sha256:` of
   * its manifest.
   */
  async resolve(ref: string): Promise<ImageRecord> {
    const found = await this.tryResolve(ref);
    if (!found) throw new BaleError(`No such image: ${ref}`);
    return found;
  }

  async tryResolve(ref: string): Promise<ImageRecord | undefined> {
    if (isDigest(ref)) return this.image(ref);
    const tags = await this.tags();
    let tagKey: string | undefined;
    try {
      const r = parseReference(ref);
      if (r.digest) {
        const all = await this.images();
        return all.find((i) => i.manifest.digest === r.digest || i.id === r.digest);
      }
      tagKey = `${r.name}:${r.tag ?? 'latest'}`;
    } catch {
      tagKey = undefined;
    }
    if (tagKey && tags[tagKey]) return this.image(tags[tagKey]!);
    if (/^[a-f0-9]{4,64}$/.test(ref)) {
      const names = (await fsp.readdir(this.imageDir)).filter((n) => n.startsWith(ref) && n.endsWith('.json'));
      if (names.length > 1) throw new BaleError(`${ref}: ambiguous image id prefix (${names.length} images)`);
      if (names.length === 1) return this.image(`sha256:${names[0]!.slice(0, 64)}`);
    }
    return undefined;
  }

  /**
   * Delete an image: its record, its tags, and the blobs no other image uses (reference counts).
   * Takes the collector lock, so it waits for loads in flight that might be about to reuse a blob.
   */
  async deleteImage(id: Digest): Promise<{ untagged: string[]; blobs: number; bytes: number }> {
    const lock = await this.collectorLock();
    try {
      return await this.transaction(async () => {
        const rec = await this.image(id);
        if (!rec) throw new BaleError(`No such image: ${id}`);
        const untagged = await this.tagsOf(id);
        await this.removeTags(untagged);
        await this.deleteImageRecord(id);
        const counts = await this.blobRefCounts();
        let blobs = 0;
        let bytes = 0;
        for (const d of new Set<Digest>([rec.id, rec.manifest.digest, ...rec.layers.map((l) => l.digest)])) {
          if (counts.has(d)) continue;
          bytes += await this.blobSize(d).catch(() => 0);
          await fsp.rm(this.blobPath(d), { force: true });
          blobs++;
        }
        return { untagged, blobs, bytes };
      });
    } finally {
      await lock.release();
    }
  }

  /** The image's size as docker shows it: the sum of its layers' sizes, each as stored where unknown. */
  static imageSize(rec: ImageRecord): number {
    return rec.layers.reduce((n, l, i) => n + (rec.diffSizes?.[i] ?? l.size), 0);
  }

  // ---- references and collection -----------------------------------------------------------

  /** How many images use each blob: the reference counts rmi and gc go by. */
  async blobRefCounts(): Promise<Map<Digest, number>> {
    const counts = new Map<Digest, number>();
    const bump = (d: Digest) => counts.set(d, (counts.get(d) ?? 0) + 1);
    for (const rec of await this.images()) {
      const seen = new Set<Digest>([rec.id, rec.manifest.digest, ...rec.layers.map((l) => l.digest), ...(rec.index ? [rec.index.digest] : [])]);
      for (const d of seen) bump(d);
    }
    return counts;
  }

  /**
   * Delete every blob no image names and every temp file no live writer owns. Needs the collector
   * lock (exclusive), so it waits for loads in flight. Returns what it removed.
   */
  async collect(extraKeep: Iterable<Digest> = []): Promise<{ blobs: number; bytes: number; tmp: number }> {
    const lock = await this.collectorLock();
    try {
      const keep = new Set<string>([...(await this.blobRefCounts()).keys(), ...extraKeep].map((d) => hexOf(d)));
      let blobs = 0;
      let bytes = 0;
      for (const hex of await fsp.readdir(this.blobDir)) {
        if (keep.has(hex)) continue;
        const p = path.join(this.blobDir, hex);
        const st = await fsp.lstat(p).catch(() => undefined);
        await fsp.rm(p, { force: true, recursive: true });
        blobs++;
        bytes += st?.size ?? 0;
      }
      // No writer holds the shared lock now, so whatever is in tmp/ belongs to a dead process.
      let tmp = 0;
      for (const n of await fsp.readdir(this.tmpDir)) {
        if (n.startsWith(RECORD_PREFIX)) continue; // temp files outside the store: see outputs.ts
        await fsp.rm(path.join(this.tmpDir, n), { force: true, recursive: true });
        tmp++;
      }
      return { blobs, bytes, tmp };
    } finally {
      await lock.release();
    }
  }
}
