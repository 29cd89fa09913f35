// Writing images from the store as one tar that is a Docker archive and an OCI image layout at once.
//
// The archive bale save writes (entries in this order, every one with mtime 0, uid/gid 0, mode 0644
// for files, 0755 for dirs; so the same inputs give a byte-identical tar):
//
//   oci-layout                     {"imageLayoutVersion":"1.0.0"}                        (oci, both)
//   index.json                     one manifest descriptor per (image, tag):             (oci, both)
//                                    io.containerd.image.name   = docker.io/library/busybox:latest
//                                    org.opencontainers.image.ref.name = busybox:latest
//                                  an image saved by id gets one descriptor without annotations
//   manifest.json                  [{Config, RepoTags, Layers}], paths into blobs/       (docker, both)
//   repositories                   {"busybox":{"latest":"<top v1 id>"}}                  (docker, both)
//   blobs/ blobs/sha256/
//   blobs/sha256/<hex>             manifests (oci, both), then configs, then layers; each blob once
//                                  however many images use it
//   <v1 id>/ VERSION json layer.tar   legacy per-layer dirs (docker, both); layer.tar is a tar
//                                  symlink to ../blobs/sha256/<hex>, never a second copy. See
//                                  legacy-v1.ts for how the ids are derived.
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
// byte for byte, so a load then save gives back the same manifest digest.
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
import { createReadStream, promises as fsp } from 'node:fs';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';
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
import { v1Layers } from './legacy-v1.js';
import { reencodeInWorker } from './examine-pool.js';
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

class Planner {
  readonly blobs = new Map<string, OutBlob>();
  readonly temps: string[] = [];
  private readonly reencoded = new Map<Digest, Promise<{ desc: Descriptor; file: string }>>();
  /** Layers re-encoded at once: one per core (zstd also spreads one layer over the cores). */
  private readonly limit = pLimit(Math.max(1, os.availableParallelism()));

  constructor(private readonly store: Store, private readonly opts: WriteOptions) {}

  addBlob(b: OutBlob): void {
    const hex = hexOf(b.digest);
    const have = this.blobs.get(hex);
    if (!have || b.kind < have.kind) this.blobs.set(hex, b);
  }

  /** Re-encode a stored layer once, however many images use it. */
  reencode(stored: Descriptor, diffId: Digest, from: Compression, to: Compression): Promise<{ desc: Descriptor; file: string }> {
    let p = this.reencoded.get(stored.digest);
    if (!p) {
      p = this.limit(() => this.doReencode(stored, diffId, from, to));
      this.reencoded.set(stored.digest, p);
    }
    return p;
  }

  private async doReencode(stored: Descriptor, diffId: Digest, from: Compression, to: Compression): Promise<{ desc: Descriptor; file: string }> {
    const file = this.store.tmpPath('save-layer');
    this.temps.push(file);
    this.opts.temps?.add(file);
    this.opts.onProgress?.({ bytes: 0, total: 0, what: `compressing ${stored.digest.slice(7, 19)} (${to})` });
    const r = await reencodeInWorker(this.store.blobPath(stored.digest), from, to, file);
    if (r.diffId !== diffId) {
      throw new BaleError(`layer ${stored.digest} in the store does not match its diff_id ${diffId} (run bale fsck)`);
    }
    return { desc: { mediaType: ociLayerType(to), digest: r.digest, size: r.size }, file };
  }

  async image(req: SaveRequest): Promise<OutImage> {
    const { rec } = req;
    const store = this.store;
    const { format, compress, exclude } = this.opts;
    if (!(await store.hasBlob(rec.id))) throw new BaleError(`image ${rec.id.slice(7, 19)}: config blob is missing from the store (run bale fsck)`);
    const config = await store.config(rec);
    this.addBlob({ digest: rec.id, size: await store.blobSize(rec.id), file: store.blobPath(rec.id), verify: true, kind: 1 });
    const name = req.tags[0] ?? rec.id.slice(7, 19);

    // Every layer at once: re-encoding runs on zlib's and zstd's threads, a few layers at a time
    // (the planner's limit), so a compressed save uses every core. Each layer's blob is added in
    // order afterwards, so the archive's bytes do not depend on which finished first.
    const settled = await Promise.allSettled(rec.layers.map((stored, i) => this.layer(name, stored, rec.diffIds[i]!)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const layers: OutLayer[] = [];
    let reencodedAny = false;
    for (const r of settled as PromiseFulfilledResult<{ layer: OutLayer; blob?: OutBlob; reencoded: boolean }>[]) {
      if (r.value.blob) this.addBlob(r.value.blob);
      layers.push(r.value.layer);
      reencodedAny ||= r.value.reencoded;
    }

    let manifest = rec.manifest;
    if (!reencodedAny) {
      if (format !== 'docker') {
        this.addBlob({ digest: rec.manifest.digest, size: await store.blobSize(rec.manifest.digest), file: store.blobPath(rec.manifest.digest), verify: true, kind: 0 });
      }
    } else {
      const old = await store.readJsonBlob<Manifest>(rec.manifest.digest).catch(() => undefined);
      const m: Manifest = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: rec.id, size: rec.config.size },
        // An OCI manifest names layers by OCI media types, whatever the stored manifest used.
        layers: layers.map((l) => ({ mediaType: l.compression ? ociLayerType(l.compression) : l.desc.mediaType, digest: l.desc.digest, size: l.desc.size })),
      };
      if (old?.annotations && Object.keys(old.annotations).length) m.annotations = old.annotations;
      const bytes = Buffer.from(JSON.stringify(m));
      manifest = { mediaType: MT.ociManifest, digest: sha256(bytes), size: bytes.length };
      if (format !== 'docker') this.addBlob({ digest: manifest.digest, size: bytes.length, bytes, verify: false, kind: 0 });
    }
    const index = format !== 'docker' && !reencodedAny ? await this.wholeIndex(rec) : undefined;
    return { rec, tags: req.tags, config, manifest, layers, ...(index ? { index } : {}) };
  }

  /** One layer of an image as it goes out: as stored, or re-encoded to the asked compression. */
  private async layer(name: string, stored: Descriptor, diffId: Digest): Promise<{ layer: OutLayer; blob?: OutBlob; reencoded: boolean }> {
    const { store } = this;
    const { format, compress, exclude } = this.opts;
    const excluded = Boolean(exclude && (exclude.diffIds.has(diffId) || exclude.digests.has(stored.digest)));
    if (!(await store.hasBlob(stored.digest))) {
      if (excluded && compress === undefined) return { layer: { desc: stored, diffId, excluded }, reencoded: false };
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
    let desc = stored;
    let out = { file, verify: true };
    const reencoded = compress !== undefined && compress !== sniffed;
    if (reencoded) {
      const r = await this.reencode(stored, diffId, sniffed, compress);
      desc = r.desc;
      out = { file: r.file, verify: false };
    }
    const blob: OutBlob | undefined = excluded ? undefined : { digest: desc.digest, size: desc.size, file: out.file, verify: out.verify, kind: 2 };
    return { layer: { desc, diffId, excluded, compression: c }, blob, reencoded };
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

  async cleanup(): Promise<void> {
    await Promise.all(this.temps.map((f) => fsp.rm(f, { force: true })));
    for (const f of this.temps) this.opts.temps?.delete(f);
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
  symlink(name: string, target: string): Promise<void>;
  finish(): Promise<void>;
}

/** Entries as one tar on `out`: mtime 0, uid/gid 0, fixed modes, so the same inputs give the same bytes. */
function tarSink(out: Writable, end: boolean): EntrySink {
  const pack = tar.pack();
  const piped = new Promise<void>((resolve, reject) => {
    pack.on('error', reject);
    out.on('error', reject);
    if (!end) {
      pack.on('end', () => out.write('', () => resolve()));
      (pack as unknown as NodeJS.ReadableStream).pipe(out, { end: false });
    } else {
      out.on('finish', () => resolve());
      (pack as unknown as NodeJS.ReadableStream).pipe(out);
    }
  });
  piped.catch(() => {});
  const header = (name: string, extra: Partial<tar.Header> = {}): tar.Header => ({
    name,
    size: 0,
    mtime: new Date(0),
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mode: extra.type === 'directory' ? 0o755 : extra.type === 'symlink' ? 0o777 : 0o644,
    ...extra,
  }) as tar.Header;
  // A failed output (ENOSPC) destroys the packer and its open entry: every step races that failure,
  // and the entry's own error is listened to, or it would crash the process.
  const failed = new Promise<never>((_resolve, reject) => {
    pack.on('error', reject);
    out.on('error', reject);
  });
  failed.catch(() => {});
  const add = (h: tar.Header, body?: Buffer) =>
    Promise.race([
      failed,
      new Promise<void>((resolve, reject) => {
        pack.entry(h, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      }),
    ]);
  // A stored blob's digest is taken on this thread from the chunks as they pass: the thread mostly
  // waits for the reads and writes it has asked for, and hashing what it already holds costs less
  // than a worker reading the file a second time (measured: 0.2 s less CPU and wall time on a
  // 140 MB save, the worker's start-up included).
  const fileEntry = async (name: string, src: string, size: number, onBytes: (n: number) => void, hash: boolean) => {
    const h = hash ? crypto().createHash('sha256') : undefined;
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry(header(name, { size }), (err) => (err ? reject(err) : resolve()));
      entry.on('error', reject);
      const rs = createReadStream(src, { highWaterMark: 1024 * 1024 });
      rs.on('error', reject);
      rs.on('data', (c: string | Buffer) => {
        h?.update(c);
        onBytes(c.length);
      });
      rs.pipe(entry as unknown as NodeJS.WritableStream);
    });
    return h ? (`sha256:${h.digest('hex')}` as Digest) : undefined;
  };
  return {
    directory: (name) => add(header(`${name}/`, { type: 'directory' })),
    bytes: (name, body) => add(header(name, { size: body.length }), body),
    symlink: (name, target) => add(header(name, { type: 'symlink', linkname: target })),
    file: (name, src, size, onBytes, hash) => Promise.race([failed, fileEntry(name, src, size, onBytes, hash)]),
    finish: async () => {
      pack.finalize();
      await piped;
    },
  };
}

/**
 * Write the requested images as one archive to `out` (a tar stream, or a new directory). Blobs stream from the store (stored ones are
 * checked against their digests on the way); nothing layer-sized is held in memory. `out` is ended
 * unless `end` is false (stdout).
 */
export async function writeArchive(store: Store, requests: SaveRequest[], out: Writable | { dir: string }, opts: WriteOptions & { end?: boolean }): Promise<WriteSummary> {
  const planner = new Planner(store, opts);
  try {
    const images: OutImage[] = [];
    for (const req of mergeRequests(requests)) images.push(await planner.image(req));
    const excluded = [...new Set(images.flatMap((i) => i.layers.filter((l) => l.excluded).map((l) => l.desc.digest)))].sort();
    const docker = opts.format !== 'oci';
    const oci = opts.format !== 'docker';

    const sink = 'dir' in out ? await dirSink(out.dir) : tarSink(out, opts.end !== false);
    const add = (name: string, body: Buffer) => sink.bytes(name, body);
    const addFile = async (name: string, b: OutBlob, onBytes: (n: number) => void) => {
      const got = await sink.file(name, b.file!, b.size, onBytes, b.verify);
      if (b.verify && got !== b.digest) throw new BaleError(`blob ${b.digest} in the store is damaged (run bale fsck)`);
    };

    if (oci) {
      await add('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
      await add('index.json', indexJson(images, excluded));
    }
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

    const blobs = [...planner.blobs.entries()].sort(([ha, a], [hb, b]) => a.kind - b.kind || (ha < hb ? -1 : ha > hb ? 1 : 0));
    const total = blobs.reduce((n, [, b]) => n + b.size, 0);
    let done = 0;
    await sink.directory('blobs');
    await sink.directory('blobs/sha256');
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
    return { images: images.length, blobs: blobs.length, bytes: total, excluded };
  } finally {
    await planner.cleanup();
  }
}
