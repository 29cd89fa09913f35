// Writing images from the store as one tar that is a Docker archive and an OCI image layout at once.
//
// The archive bale save writes (entries in this order, every one with mtime 0, uid/gid 0, mode 0644
// for files, 0755 for dirs; so the same inputs give a byte-identical tar):
//
//   oci-layout                     {"imageLayoutVersion":"1.0.0"}                        (oci, both)
//   blobs/ blobs/sha256/
//   blobs/sha256/<hex>             layers re-encoded for this save (--compress), in the order the
//                                  images list them: written as they are compressed, before the
//                                  files below, which name their digests
//   index.json                     one manifest descriptor per (image, tag):             (oci, both)
//                                    io.containerd.image.name   = docker.io/library/busybox:latest
//                                    org.opencontainers.image.ref.name = busybox:latest
//                                  an image saved by id gets one descriptor without annotations
//   manifest.json                  [{Config, RepoTags, Layers}], paths into blobs/       (docker, both)
//   repositories                   {"busybox":{"latest":"<top v1 id>"}}                  (docker, both)
//   blobs/sha256/<hex>             manifests (oci, both), then configs, then layers as stored,
//                                  each by digest; each blob once however many images use it
//   <v1 id>/ VERSION json layer.tar   legacy per-layer dirs (docker, both); layer.tar is a tar
//                                  symlink to ../blobs/sha256/<hex>, never a second copy. See
//                                  legacy-v1.ts for how the ids are derived.
//
// Readers look entries up by name (docker, skopeo, podman and bale's own load read the whole tar
// first), so the order is free for bale to choose; it is fixed so the bytes are.
//
// manifest.json `Config` is `blobs/sha256/<config hex>` and `Layers` are `blobs/sha256/<hex>` (as
// docker >= 25 writes them): real files, not the legacy symlinks. Checked against skopeo 1.9: when
// `Layers` names a `<id>/layer.tar` symlink it follows the link for the bytes but takes the size
// from the symlink's header (0) and fails with "Size mismatch"; with blobs/ paths it reads fine.
//
// Layers are written as stored unless a compression is asked for; then each layer whose stored
// compression differs is re-encoded (decompressed, checked against its diff_id, compressed), which
// gives it a new blob digest, so the image gets a new OCI manifest naming the new descriptors (the
// config and its diff_ids do not change). Without re-encoding, the stored manifest blob is written
// byte for byte, so a load then save gives back the same manifest digest. Into a regular file
// (-o FILE) a re-encoded layer is compressed straight into the archive, and its header written over
// a placeholder once its digest and size are known; into a pipe (or a directory) it is made in a
// temp file in the store first and copied in. The bytes are the same either way.
//
// Delta archives (`bale save --exclude-from/--exclude-image`): a layer the target already has is
// left out: no blobs/sha256/<hex> for it and no layer.tar in its legacy dir (the dir's VERSION and
// json stay, so the parent chain is whole). Everything else is as usual: manifest.json `Layers`
// and the OCI manifests still name the layer. So a loader can tell a delta archive from a damaged
// one, the omitted layer blob digests are recorded (sorted):
//   - index.json:    "annotations": {"dev.bale.excluded-layers": "sha256:<hex>,sha256:<hex>"}
//   - manifest.json: each image entry that lacks layers has "bale.excluded": ["sha256:<hex>", …]
// A loader should accept a listed missing blob when its store already has that blob digest or a
// layer with the same diff_id (the config's rootfs.diff_ids at the same position), and otherwise
// fail naming every missing layer. A blob missing but not listed means the archive is damaged.
import { createReadStream, fstatSync, promises as fsp, write as fsWrite, WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import os from 'node:os';
import pLimit from 'p-limit';
import { hexOf, sha256, type Digest } from '../oci/digest.js';
import { MT, ociLayerType, type Compression } from '../oci/media.js';
import { qualifiedName } from '../oci/reference.js';
import { CONTAINERD_NAME, REF_NAME, type Descriptor, type DockerArchiveEntry, type ImageConfig, type Index, type Manifest } from '../oci/types.js';
import type { ImageRecord, Store } from '../store/store.js';
import { wholeIndex } from '../store/whole-index.js';
import { BaleError } from '../util/errors.js';
import { crypto } from '../util/crypto.js';
import { sniffFile } from '../layer/compression.js';
import { BLOCK, encodeHeader, END_OF_ARCHIVE, padding, setBase256Size } from '../layer/tar-header.js';
import { v1Layers } from './legacy-v1.js';
import { reencodeInWorker } from './examine-pool.js';
import type { Reencoded, ReencodeDest } from './reencode.js';
import { dirSink } from './dir-writer.js';

export type ArchiveFormat = 'docker' | 'oci' | 'both';

/** Annotation on index.json listing layer blobs a delta archive leaves out. */
export const EXCLUDED_ANNOTATION = 'dev.bale.excluded-layers';
/** Field of a manifest.json entry listing layer blobs a delta archive leaves out. */
export const EXCLUDED_FIELD = 'bale.excluded';

export interface SaveRequest {
  rec: ImageRecord;
  /** Canonical `name:tag` references to record; none for an image named by id. */
  tags: string[];
}

/** Layers a target already has, by blob digest and by diff_id. */
export interface LayerSet {
  digests: Set<Digest>;
  diffIds: Set<Digest>;
}

export interface WriteProgress {
  /** Bytes of blobs written so far, and in all. */
  bytes: number;
  total: number;
  what: string;
}

export interface WriteOptions {
  format: ArchiveFormat;
  /** Re-encode layers to this; undefined keeps them as stored. */
  compress?: Compression;
  exclude?: LayerSet;
  onProgress?: (p: WriteProgress) => void;
  /** Temp files in the store in use right now (re-encoded layers), for a caller cleaning up on a signal. */
  temps?: Set<string>;
}

export interface WriteSummary {
  images: number;
  blobs: number;
  bytes: number;
  excluded: Digest[];
}

/** A blob to put under blobs/sha256/: a file on disk (stored or re-encoded) or bytes made here. */
interface OutBlob {
  digest: Digest;
  size: number;
  file?: string;
  bytes?: Buffer;
  /** Check the file's content against digest while streaming it (stored blobs). */
  verify: boolean;
  kind: 0 | 1 | 2; // manifest, config, layer: the order they are written in
}

interface OutLayer {
  desc: Descriptor;
  diffId: Digest;
  excluded: boolean;
  /** The compression of the blob written (known once the stored blob has been looked at). */
  compression?: Compression;
  /** Set when the layer is re-encoded: desc is the stored blob's until that is done. */
  reencoding?: Reencoding;
}

interface OutImage {
  rec: ImageRecord;
  tags: string[];
  config: ImageConfig;
  manifest: Descriptor;
  layers: OutLayer[];
  /** The multi-platform index it was loaded with, written back whole (index.json names it instead). */
  index?: Descriptor;
}

/** Temp files made for a save, also listed in the caller's set (removed on a signal) while they exist. */
class TempFiles {
  private readonly files = new Set<string>();
  constructor(private readonly callers?: Set<string>) {}
  add(f: string): void {
    this.files.add(f);
    this.callers?.add(f);
  }
  async remove(f: string): Promise<void> {
    await fsp.rm(f, { force: true });
    this.files.delete(f);
    this.callers?.delete(f);
  }
  async removeAll(): Promise<void> {
    await Promise.all([...this.files].map((f) => this.remove(f)));
  }
}

/** Split a canonical `name:tag` (the tag is after the last colon that follows the last slash). */
export function splitTag(ref: string): { name: string; tag: string } {
  const i = ref.lastIndexOf(':');
  if (i <= ref.lastIndexOf('/')) return { name: ref, tag: 'latest' };
  return { name: ref.slice(0, i), tag: ref.slice(i + 1) };
}

/** Merge requests naming the same image (in first-seen order), tags deduplicated. */
function mergeRequests(reqs: SaveRequest[]): SaveRequest[] {
  const byId = new Map<Digest, SaveRequest>();
  for (const r of reqs) {
    const have = byId.get(r.rec.id);
    if (!have) byId.set(r.rec.id, { rec: r.rec, tags: [...new Set(r.tags)] });
    else for (const t of r.tags) if (!have.tags.includes(t)) have.tags.push(t);
  }
  return [...byId.values()];
}

/** A layer to re-encode for this save: once per diff_id, however many images (or stored blobs) have it. */
interface Reencoding {
  stored: Descriptor;
  diffId: Digest;
  from: Compression;
  to: Compression;
  /** Whether its blob goes into the archive (not when the target already has the layer). */
  write: boolean;
  /** The re-encoded blob, once made. */
  desc?: Descriptor;
}

class Planner {
  readonly blobs = new Map<string, OutBlob>();
  /** Every image planned, those an index brought in included. */
  readonly images: OutImage[] = [];
  /** The layers to re-encode by diff_id, in the order the images list them: the order they are written in. */
  readonly reencodings = new Map<Digest, Reencoding>();

  constructor(private readonly store: Store, private readonly opts: WriteOptions) {}

  addBlob(b: OutBlob): void {
    const hex = hexOf(b.digest);
    const have = this.blobs.get(hex);
    if (!have || b.kind < have.kind) this.blobs.set(hex, b);
  }

  /** Plan an image: what it needs (checked now, before anything is written), re-encodings named but not made. */
  async image(req: SaveRequest): Promise<OutImage> {
    const { rec } = req;
    const store = this.store;
    const { format } = this.opts;
    if (!(await store.hasBlob(rec.id))) throw new BaleError(`image ${rec.id.slice(7, 19)}: config blob is missing from the store (run bale fsck)`);
    const config = await store.config(rec);
    this.addBlob({ digest: rec.id, size: await store.blobSize(rec.id), file: store.blobPath(rec.id), verify: true, kind: 1 });
    const name = req.tags[0] ?? rec.id.slice(7, 19);

    // Every layer looked at at once; each is added in order afterwards, so the archive's bytes do
    // not depend on which was looked at first.
    const settled = await Promise.allSettled(rec.layers.map((stored, i) => this.layer(name, stored, rec.diffIds[i]!)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const layers: OutLayer[] = [];
    for (const r of settled as PromiseFulfilledResult<{ layer: OutLayer; blob?: OutBlob; from?: Compression }>[]) {
      const { layer, blob, from } = r.value;
      if (blob) this.addBlob(blob);
      if (from !== undefined) {
        const to = this.opts.compress!;
        let re = this.reencodings.get(layer.diffId);
        if (!re) this.reencodings.set(layer.diffId, (re = { stored: layer.desc, diffId: layer.diffId, from, to, write: false }));
        re.write ||= !layer.excluded;
        layer.reencoding = re;
      }
      layers.push(layer);
    }

    const reencodedAny = layers.some((l) => l.reencoding);
    if (!reencodedAny && format !== 'docker') {
      this.addBlob({ digest: rec.manifest.digest, size: await store.blobSize(rec.manifest.digest), file: store.blobPath(rec.manifest.digest), verify: true, kind: 0 });
    }
    const out: OutImage = { rec, tags: req.tags, config, manifest: rec.manifest, layers };
    this.images.push(out);
    const index = format !== 'docker' && !reencodedAny ? await this.wholeIndex(rec) : undefined;
    if (index) out.index = index;
    return out;
  }

  /** Check what re-encoding `re` gave and record its new blob. */
  reencoded(re: Reencoding, r: Reencoded): Descriptor {
    if (r.diffId !== re.diffId) {
      throw new BaleError(`layer ${re.stored.digest} in the store does not match its diff_id ${re.diffId} (run bale fsck)`);
    }
    return (re.desc = { mediaType: ociLayerType(re.to), digest: r.digest, size: r.size });
  }

  /**
   * Once the layers are re-encoded: each image with re-encoded layers names their new blobs, and so
   * gets a new OCI manifest (the config and its diff_ids do not change).
   */
  async finish(): Promise<void> {
    for (const img of this.images) {
      if (!img.layers.some((l) => l.reencoding)) continue;
      for (const l of img.layers) if (l.reencoding) l.desc = l.reencoding.desc!;
      const old = await this.store.readJsonBlob<Manifest>(img.rec.manifest.digest).catch(() => undefined);
      const m: Manifest = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: img.rec.id, size: img.rec.config.size },
        // An OCI manifest names layers by OCI media types, whatever the stored manifest used.
        layers: img.layers.map((l) => ({ mediaType: l.compression ? ociLayerType(l.compression) : l.desc.mediaType, digest: l.desc.digest, size: l.desc.size })),
      };
      if (old?.annotations && Object.keys(old.annotations).length) m.annotations = old.annotations;
      const bytes = Buffer.from(JSON.stringify(m));
      img.manifest = { mediaType: MT.ociManifest, digest: sha256(bytes), size: bytes.length };
      if (this.opts.format !== 'docker') this.addBlob({ digest: img.manifest.digest, size: bytes.length, bytes, verify: false, kind: 0 });
    }
  }

  /** One layer of an image as it goes out: as stored, or (`from` set) to be re-encoded from `from` to the asked compression. */
  private async layer(name: string, stored: Descriptor, diffId: Digest): Promise<{ layer: OutLayer; blob?: OutBlob; from?: Compression }> {
    const { store } = this;
    const { format, compress, exclude } = this.opts;
    const excluded = Boolean(exclude && (exclude.diffIds.has(diffId) || exclude.digests.has(stored.digest)));
    if (!(await store.hasBlob(stored.digest))) {
      if (excluded && compress === undefined) return { layer: { desc: stored, diffId, excluded } };
      throw new BaleError(`${name}: layer ${stored.digest} is missing from the store (run bale fsck)`);
    }
    const file = store.blobPath(stored.digest);
    const sniffed = await sniffFile(file);
    if (sniffed === 'bzip2' || sniffed === 'xz') {
      throw new BaleError(`${name}: layer ${stored.digest} is ${sniffed}-compressed, which neither format can carry`);
    }
    const c = compress ?? sniffed;
    if (c === 'zstd' && format !== 'oci') {
      throw new BaleError(`${name}: has zstd layers, which the Docker half of an archive cannot hold (docker reads plain and gzip layers): use --compress gzip or none, or --format oci`);
    }
    const layer: OutLayer = { desc: stored, diffId, excluded, compression: c };
    if (compress !== undefined && compress !== sniffed) return { layer, from: sniffed };
    return { layer, blob: excluded ? undefined : { digest: stored.digest, size: stored.size, file, verify: true, kind: 2 } };
  }

  /**
   * The index an image was loaded with (store/whole-index.ts): the other platforms' images join the
   * archive and the index goes in as stored, so it keeps its digest. Otherwise undefined (the image
   * is saved alone).
   */
  private async wholeIndex(rec: ImageRecord): Promise<Descriptor | undefined> {
    const whole = await wholeIndex(this.store, rec);
    if (!whole) return undefined;
    for (const c of whole.images) if (c.id !== rec.id) await this.image({ rec: c, tags: [] });
    this.addBlob({ digest: whole.descriptor.digest, size: whole.bytes.length, bytes: whole.bytes, verify: false, kind: 0 });
    return whole.descriptor;
  }

}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

function indexJson(images: OutImage[], excluded: Digest[]): Buffer {
  const manifests: Descriptor[] = [];
  for (const img of images) {
    const top = img.index ?? img.manifest;
    const base: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.size };
    if (img.tags.length === 0) manifests.push(base);
    for (const t of img.tags) {
      const { name, tag } = splitTag(t);
      manifests.push({ ...base, annotations: { [CONTAINERD_NAME]: `${qualifiedName(name)}:${tag}`, [REF_NAME]: `${name}:${tag}` } });
    }
  }
  const index: Index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests };
  if (excluded.length) index.annotations = { [EXCLUDED_ANNOTATION]: excluded.join(',') };
  return json(index);
}

function manifestJson(images: OutImage[]): Buffer {
  return json(
    images.map((img) => {
      const e: DockerArchiveEntry & { [EXCLUDED_FIELD]?: string[] } = {
        Config: `blobs/sha256/${hexOf(img.rec.id)}`,
        RepoTags: img.tags.length ? [...img.tags] : null,
        Layers: img.layers.map((l) => `blobs/sha256/${hexOf(l.desc.digest)}`),
      };
      const ex = [...new Set(img.layers.filter((l) => l.excluded).map((l) => l.desc.digest))].sort();
      if (ex.length) e[EXCLUDED_FIELD] = ex;
      return e;
    }),
  );
}

/** Where the archive's entries go, in order: one tar stream (below), or a directory (dir-writer.ts). */
export interface EntrySink {
  directory(name: string): Promise<void>;
  bytes(name: string, body: Buffer): Promise<void>;
  /**
   * Copy the file `src` (`size` bytes) in as `name`; with `hash`, resolves to the sha256 of what was
   * copied (a stored blob checked on its way out; a layer re-encoded just now was hashed as it was made).
   */
  file(name: string, src: string, size: number, onBytes: (n: number) => void, hash: boolean): Promise<Digest | undefined>;
  /**
   * Only a tar sink writing a regular file: add an entry whose content `make` writes itself into the
   * file's descriptor, from its offset on, and whose name and size it gives back when done (the
   * entry's header is written over a placeholder then). Its bytes are those file() would give.
   */
  inPlace?: (make: (fd: number) => Promise<{ name: string; size: number }>) => Promise<void>;
  symlink(name: string, target: string): Promise<void>;
  finish(): Promise<void>;
}

/**
 * A header block for the archive's entries: mtime 0, uid/gid 0, fixed modes. A file past ustar's
 * size field (8 GiB) gets its size in GNU base-256, which every tar reader takes, rather than a pax
 * header: one block whatever the size, so an entry written in place has room for its header.
 */
export function archiveHeader(name: string, type: 'file' | 'directory' | 'symlink', size = 0, linkname?: string): Buffer {
  const mode = type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644;
  const big = size >= 8 ** 11;
  const b = encodeHeader({ name, type, mode, uid: 0, gid: 0, size: big ? 0 : size, mtime: 0, ...(linkname === undefined ? {} : { linkname }) });
  if (b.length !== BLOCK) throw new BaleError(`archive entry ${name}: name too long for one header block`);
  if (big) setBase256Size(b, size);
  return b;
}

/** The descriptor of `out` when it is a file stream into a regular file (not appending): the file a tar sink may write entries into in place. */
function regularFileFd(out: Writable): number | undefined {
  if (!(out instanceof WriteStream)) return undefined;
  // Node's file streams keep these, undocumented in its types: the descriptor once open, the open flags.
  const { fd, flags } = out as WriteStream & { fd?: unknown; flags?: unknown };
  if (typeof fd !== 'number' || String(flags ?? '').includes('a')) return undefined;
  return fstatSync(fd).isFile() ? fd : undefined;
}

/** Entries as one tar on `out`: mtime 0, uid/gid 0, fixed modes, so the same inputs give the same bytes. */
function tarSink(out: Writable, end: boolean): EntrySink {
  // A failed output (ENOSPC) fails every step from then on.
  let error: Error | undefined;
  const failed = new Promise<never>((_resolve, reject) => out.on('error', (e) => reject((error ??= e))));
  failed.catch(() => {});
  /** Bytes handed to `out` so far. */
  let pos = 0;
  const write = async (b: Buffer) => {
    if (error) throw error;
    pos += b.length;
    if (!out.write(b)) await Promise.race([failed, once(out, 'drain')]);
  };
  /** Wait until every byte handed over is written. */
  const flushed = () => Promise.race([failed, new Promise<void>((resolve, reject) => out.write(Buffer.alloc(0), (e) => (e ? reject(e) : resolve())))]);
  const entry = async (h: Buffer, body?: Buffer) => {
    await write(h);
    if (body?.length) {
      await write(body);
      await write(padding(body.length));
    }
  };
  // A stored blob's digest is taken on this thread from the chunks as they pass: the thread mostly
  // waits for the reads and writes it has asked for, and hashing what it already holds costs less
  // than a worker reading the file a second time (measured: 0.2 s less CPU and wall time on a
  // 140 MB save, the worker's start-up included).
  const file = async (name: string, src: string, size: number, onBytes: (n: number) => void, hash: boolean) => {
    const h = hash ? crypto().createHash('sha256') : undefined;
    await write(archiveHeader(name, 'file', size));
    let n = 0;
    for await (const c of createReadStream(src, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > size) break;
      h?.update(c);
      onBytes(c.length);
      await write(c);
    }
    if (n !== size) throw new BaleError(`${src}: ${n > size ? 'more' : 'fewer'} than the ${size} bytes it had when the save began`);
    await write(padding(size));
    return h ? (`sha256:${h.digest('hex')}` as Digest) : undefined;
  };
  const fd = regularFileFd(out);
  const inPlace = async (make: (fd: number) => Promise<{ name: string; size: number }>) => {
    // The descriptor's offset is where the entry starts once all before it is written; `make`
    // writes from after the placeholder header on, which moves the offset past its bytes.
    await flushed();
    const at = pos;
    await write(Buffer.alloc(BLOCK));
    await flushed();
    const r = await make(fd!).catch((e: NodeJS.ErrnoException) => {
      // A failed write is the output's (ENOSPC): named by its path, as the stream's own errors are.
      if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) e.path = String((out as WriteStream).path);
      throw e;
    });
    pos += r.size;
    await write(padding(r.size));
    const h = archiveHeader(r.name, 'file', r.size);
    await new Promise<void>((resolve, reject) => fsWrite(fd!, h, 0, h.length, at, (e) => (e ? reject(e) : resolve())));
  };
  return {
    directory: (name) => entry(archiveHeader(name, 'directory')),
    bytes: (name, body) => entry(archiveHeader(name, 'file', body.length), body),
    symlink: (name, target) => entry(archiveHeader(name, 'symlink', 0, target)),
    file,
    ...(fd === undefined ? {} : { inPlace }),
    finish: async () => {
      await write(END_OF_ARCHIVE);
      if (!end) return flushed();
      out.end();
      await Promise.race([failed, once(out, 'finish')]);
    },
  };
}

/**
 * Re-encode the layers the plan needs, in its order, each going into the archive as
 * blobs/sha256/<new hex> as soon as it is made (one the target has already, only for its digest).
 * A sink that can write in place takes each straight from the compressor, one at a time (each uses
 * every core); otherwise each is made in a temp file, a few at once ahead of the one being copied
 * in, and removed once copied. Returns the hex of the blobs written.
 */
async function writeReencoded(store: Store, planner: Planner, sink: EntrySink, opts: WriteOptions, temps: TempFiles): Promise<Set<string>> {
  const written = new Set<string>();
  const todo = [...planner.reencodings.values()];
  const start = (re: Reencoding, dest: ReencodeDest) => {
    opts.onProgress?.({ bytes: 0, total: 0, what: `compressing ${re.stored.digest.slice(7, 19)} (${re.to})` });
    return reencodeInWorker(store.blobPath(re.stored.digest), re.from, re.to, dest).then((r) => planner.reencoded(re, r));
  };
  const { inPlace } = sink;
  if (inPlace) {
    for (const re of todo) {
      if (!re.write) {
        await start(re, '/dev/null');
        continue;
      }
      await inPlace(async (fd) => ({ name: `blobs/sha256/${hexOf((await start(re, { fd })).digest)}`, size: re.desc!.size }));
      written.add(hexOf(re.desc!.digest));
    }
    return written;
  }
  const limit = pLimit(Math.max(1, os.availableParallelism()));
  const made = todo.map((re) =>
    limit(async () => {
      if (!re.write) return void (await start(re, '/dev/null'));
      const file = store.tmpPath('save-layer');
      temps.add(file);
      await start(re, file);
      return file;
    }),
  );
  try {
    for (const [i, re] of todo.entries()) {
      const file = await made[i];
      if (!file) continue;
      const hex = hexOf(re.desc!.digest);
      await sink.file(`blobs/sha256/${hex}`, file, re.desc!.size, () => undefined, false);
      written.add(hex);
      await temps.remove(file);
    }
  } catch (e) {
    await Promise.allSettled(made); // no temp file still being written when the caller removes them
    throw e;
  }
  return written;
}

/**
 * Write the requested images as one archive to `out` (a tar stream, or a new directory). Blobs stream from the store (stored ones are
 * checked against their digests on the way); nothing layer-sized is held in memory. `out` is ended
 * unless `end` is false (stdout).
 */
export async function writeArchive(store: Store, requests: SaveRequest[], out: Writable | { dir: string }, opts: WriteOptions & { end?: boolean }): Promise<WriteSummary> {
  const planner = new Planner(store, opts);
  const temps = new TempFiles(opts.temps);
  try {
    // Everything is checked before anything is written.
    const images: OutImage[] = [];
    for (const req of mergeRequests(requests)) images.push(await planner.image(req));
    const docker = opts.format !== 'oci';
    const oci = opts.format !== 'docker';

    const sink = 'dir' in out ? await dirSink(out.dir) : tarSink(out, opts.end !== false);
    const add = (name: string, body: Buffer) => sink.bytes(name, body);
    const addFile = async (name: string, b: OutBlob, onBytes: (n: number) => void) => {
      const got = await sink.file(name, b.file!, b.size, onBytes, b.verify);
      if (b.verify && got !== b.digest) throw new BaleError(`blob ${b.digest} in the store is damaged (run bale fsck)`);
    };

    if (oci) await add('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
    await sink.directory('blobs');
    await sink.directory('blobs/sha256');
    // Re-encoded layers first: what index.json and manifest.json say depends on their digests.
    const written = await writeReencoded(store, planner, sink, opts, temps);
    await planner.finish();
    const excluded = [...new Set(images.flatMap((i) => i.layers.filter((l) => l.excluded).map((l) => l.desc.digest)))].sort();

    if (oci) await add('index.json', indexJson(images, excluded));
    const v1 = new Map<string, { json: Buffer; layer: OutLayer }>();
    if (docker) {
      await add('manifest.json', manifestJson(images));
      const repos: Record<string, Record<string, string>> = {};
      for (const img of images) {
        const ids = v1Layers(img.rec.id, img.config);
        ids.forEach((l, i) => {
          const layer = img.layers[i];
          if (layer && !v1.has(l.id)) v1.set(l.id, { json: l.json, layer });
        });
        const top = ids[ids.length - 1];
        if (!top) continue;
        for (const t of img.tags) {
          const { name, tag } = splitTag(t);
          (repos[name] ??= {})[tag] = top.id;
        }
      }
      if (Object.keys(repos).length) {
        const sorted: Record<string, Record<string, string>> = {};
        for (const n of Object.keys(repos).sort()) {
          sorted[n] = {};
          for (const t of Object.keys(repos[n]!).sort()) sorted[n]![t] = repos[n]![t]!;
        }
        await add('repositories', json(sorted));
      }
    }

    const blobs = [...planner.blobs.entries()].filter(([hex]) => !written.has(hex)).sort(([ha, a], [hb, b]) => a.kind - b.kind || (ha < hb ? -1 : ha > hb ? 1 : 0));
    const total = blobs.reduce((n, [, b]) => n + b.size, 0);
    let done = 0;
    for (const [hex, b] of blobs) {
      const name = `blobs/sha256/${hex}`;
      if (b.bytes) {
        await add(name, b.bytes);
        done += b.bytes.length;
      } else {
        await addFile(name, b, (n) => {
          done += n;
          opts.onProgress?.({ bytes: done, total, what: `blob ${hex.slice(0, 12)}` });
        });
      }
    }
    if (docker) {
      for (const id of [...v1.keys()].sort()) {
        const { json: doc, layer } = v1.get(id)!;
        await sink.directory(id);
        await add(`${id}/VERSION`, Buffer.from('1.0'));
        await add(`${id}/json`, doc);
        if (!layer.excluded) await sink.symlink(`${id}/layer.tar`, `../blobs/sha256/${hexOf(layer.desc.digest)}`);
      }
    }
    await sink.finish();
    const reencodedBytes = [...planner.reencodings.values()].reduce((n, re) => n + (re.write ? re.desc!.size : 0), 0);
    return { images: images.length, blobs: blobs.length + written.size, bytes: total + reencodedBytes, excluded };
  } finally {
    await temps.removeAll();
  }
}
