// One pass over an archive tar: every file is written once to the store's temp space while being
// hashed, sniffed and (when it is a layer) decompressed, hashed again and checked entry by entry.
// Nothing is interpreted here; layouts.ts reads the result.
import { createWriteStream, promises as fsp } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { Readable, Writable, PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import tar from 'tar-stream';
import { HashCounter, type Digest } from '../oci/digest.js';
import type { Compression } from '../oci/media.js';
import { FormatError } from '../util/errors.js';
import { layerChecker, type LayerStats } from '../layer/check.js';
import { decompressor, maxLayerBytes, SizeCap, sniffCompression } from '../layer/compression.js';

/** A regular file of the archive, as it was found. */
export interface ScannedFile {
  /** Clean path inside the archive. */
  name: string;
  /** Where its bytes are now (inside the store's temp dir). */
  tmp: string;
  digest: Digest;
  size: number;
  compression: Compression;
  /** Small JSON-looking files are also kept in memory for the layout reader. */
  json?: Buffer;
  /** For a tar (possibly compressed): the digest of the uncompressed tar, i.e. its diff_id. */
  diffId?: Digest;
  /** For a tar: the layer's size as docker counts it (layer/size.ts: file contents, not tar bytes). */
  diffSize?: number;
  /** Why it is not a valid layer tar, if it looked like one (only matters if a manifest calls it a layer). */
  layerError?: string;
  /**
   * Its fsync, started as soon as the file was written so the disk flushes it while the rest of the
   * archive is read; awaited before the blob is renamed into place. Never rejects (holds the error).
   */
  synced: Promise<Error | undefined>;
}

export interface ScannedArchive {
  files: Map<string, ScannedFile>;
  /** Symlinks and hardlinks inside the archive: clean path -> clean target path. */
  links: Map<string, string>;
}

export interface ScanOptions {
  /** Makes unique temp paths in the store. */
  tmpPath: (prefix: string) => string;
  /** Called with bytes read so far (for progress). */
  onProgress?: (bytes: number) => void;
  /** The archive's name, for messages. */
  label: string;
  /** Hash and check only; write nothing (bale verify). */
  discard?: boolean;
}

const JSON_MAX = 16 * 1024 * 1024;

/** Clean an archive-internal path: `./a//b` → `a/b`; refuses nothing (archive paths never touch disk). */
export function archivePath(name: string): string {
  return path.posix.normalize('/' + name).slice(1).replace(/\/$/, '');
}

function looksLikeTar(head: Buffer): boolean {
  return head.length >= 263 && head.toString('latin1', 257, 262) === 'ustar';
}

function looksLikeJson(head: Buffer): boolean {
  for (const b of head) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
    return b === 0x7b || b === 0x5b; // { [
  }
  return false;
}

/**
 * Read the whole archive from `input` (itself possibly gzip/zstd compressed, as `docker save | gzip`
 * makes). Temp files are left for the caller to move or delete, also on failure (returned in
 * `created` via the thrown error's cleanup list: callers delete everything under their temp dir).
 */
export async function scanArchive(input: Readable, opts: ScanOptions): Promise<ScannedArchive> {
  const files = new Map<string, ScannedFile>();
  const links = new Map<string, string>();
  let read = 0;

  // Sniff the archive's own compression from its first bytes.
  const source = await withHead(input, 6);
  const outer = sniffCompression(source.head);
  if (outer === 'bzip2' || outer === 'xz') throw new Error(`${opts.label}: ${outer}-compressed archives are not supported (decompress it first)`);
  const counted = new PassThrough({ highWaterMark: 1024 * 1024 });
  counted.on('data', (b: Buffer) => {
    read += b.length;
    opts.onProgress?.(read);
  });
  const raw = source.stream.pipe(counted);
  const tarStream = outer === 'none' ? raw : raw.pipe(decompressor(outer));
  source.stream.on('error', (e) => tarStream.destroy(e));
  if (tarStream !== raw) raw.on('error', (e) => tarStream.destroy(e));

  const extract = tar.extract();
  let feedError: Error | undefined;
  const feeding = pipeline(tarStream, extract as unknown as Writable).catch((e: Error) => {
    feedError = e;
  });
  let entries = 0;
  let inEntry = false;
  try {
    for await (const entry of extract) {
      inEntry = true;
      entries++;
      const h = entry.header;
      const name = archivePath(h.name);
      if (h.type === 'symlink' || h.type === 'link') {
        const target = h.type === 'symlink' ? archivePath(path.posix.join(path.posix.dirname(name), h.linkname ?? '')) : archivePath(h.linkname ?? '');
        links.set(name, target);
        entry.resume();
        inEntry = false;
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        entry.resume();
        inEntry = false;
        continue;
      }
      const file = await scanFile(entry as unknown as Readable, name, h.size ?? 0, opts);
      const prev = files.get(name);
      if (prev) {
        await fsp.rm(file.tmp, { force: true });
        if (prev.digest !== file.digest) throw new Error(`${opts.label}: duplicate entry ${name} with different contents`);
        continue;
      }
      files.set(name, file);
      inEntry = false;
    }
    await feeding;
    if (feedError) throw new Error(`not a readable tar archive: ${feedError.message}`);
  } catch (e) {
    await feeding;
    await Promise.allSettled([...files.values()].map((f) => fsp.rm(f.tmp, { force: true })));
    input.destroy();
    let msg = (e as Error).message;
    // Errors from the tar parser itself (not from one entry's processing) mean a broken archive.
    if (!inEntry && !msg.startsWith(opts.label) && !msg.startsWith('not a readable tar')) msg = `not a readable tar archive: ${msg}`;
    throw new FormatError(msg.startsWith(opts.label) ? msg : `${opts.label}: ${msg}`, { cause: e });
  }
  if (entries === 0) throw new Error(`${opts.label}: empty archive`);
  return { files, links };
}

/** Stream one archive entry to a temp file, hashing it, and checking it if it is a layer tar. */
export async function scanFile(body: Readable, name: string, size: number, opts: ScanOptions): Promise<ScannedFile> {
  const tmp = opts.tmpPath('load');
  const out = opts.discard ? new Writable({ write: (_c, _e, cb) => cb() }) : createWriteStream(tmp, { mode: 0o600, highWaterMark: 1024 * 1024 });
  // A write error (ENOSPC) is held here and rethrown by feed(); without a listener it would crash.
  let outError: Error | undefined;
  out.on('error', (e: Error) => {
    outError ??= e;
  });
  const raw = createHash('sha256');
  let head: Buffer = Buffer.alloc(0);
  let decided = false;
  let compression: Compression = 'none';
  let jsonParts: Buffer[] | undefined;
  let layerIn: Writable | undefined; // where raw bytes go for the layer check
  let layerDone: Promise<void> | undefined;
  let layerHash: HashCounter | undefined;
  let layerError: string | undefined;
  const layerStats: LayerStats = { entries: 0, diffSize: 0 };
  let total = 0;

  const decide = () => {
    decided = true;
    const c = sniffCompression(head);
    if ((c === 'gzip' || c === 'zstd') || looksLikeTar(head)) {
      compression = c === 'gzip' || c === 'zstd' ? c : 'none';
      const checker = layerChecker(layerStats);
      const cap = new SizeCap(maxLayerBytes(), `layer ${name}`);
      if (compression === 'none') {
        layerIn = cap;
        layerDone = pipeline(cap, checker);
      } else {
        layerHash = new HashCounter();
        const d = decompressor(compression);
        layerIn = d;
        layerDone = pipeline(d, cap, layerHash, checker);
      }
      layerDone = layerDone.catch((e: Error) => {
        layerError = e.message;
      });
    } else if (looksLikeJson(head) && size <= JSON_MAX) {
      jsonParts = [];
    }
  };

  const feed = async (chunk: Buffer) => {
    if (outError) throw outError;
    raw.update(chunk);
    total += chunk.length;
    if (jsonParts) jsonParts.push(chunk);
    const writes: Promise<unknown>[] = [];
    if (!out.write(chunk)) writes.push(once(out, 'drain'));
    if (layerIn && !layerError && !layerIn.destroyed) {
      if (!layerIn.write(chunk)) writes.push(Promise.race([once(layerIn, 'drain'), layerDone!]));
    }
    if (writes.length) await Promise.all(writes);
  };

  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (!decided) {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        if (head.length < 512) continue;
        decide();
        await feed(head);
        continue;
      }
      await feed(chunk);
    }
    if (!decided) {
      decide();
      if (head.length) await feed(head);
    }
    if (layerIn && !layerError && !layerIn.destroyed) layerIn.end();
    if (layerDone) await layerDone;
    if (outError) throw outError;
    out.end();
    await once(out, 'finish');
  } catch (e) {
    // Stop the layer check and the temp file (a write may still be pending: wait for the close).
    if (layerIn && !layerIn.destroyed) layerIn.destroy();
    if (layerDone) await layerDone;
    if (!out.closed) {
      // Not once(): the pending write's error would reject it and replace the error being reported.
      const closed = new Promise<void>((resolve) => out.once('close', () => resolve()));
      out.destroy();
      await closed;
    }
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  if (total !== size) {
    await fsp.rm(tmp, { force: true });
    throw new Error(`entry ${name}: truncated (${total} of ${size} bytes)`);
  }
  const digest = `sha256:${raw.digest('hex')}` as Digest;
  const file: ScannedFile = { name, tmp, digest, size: total, compression, synced: syncFile(tmp) };
  if (jsonParts) file.json = Buffer.concat(jsonParts);
  if (layerDone) {
    if (layerError) file.layerError = layerError;
    else {
      file.diffId = compression === 'none' ? digest : layerHash!.digest();
      file.diffSize = layerStats.diffSize;
    }
  }
  return file;
}

async function syncFile(file: string): Promise<Error | undefined> {
  try {
    const fh = await fsp.open(file, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

/** Read the first `n` bytes of a stream without consuming them from the caller's point of view. */
async function withHead(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let len = 0;
  const it = input[Symbol.asyncIterator]();
  while (len < n) {
    const r = await it.next();
    if (r.done) break;
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    chunks.push(b);
    len += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* rest() {
    if (head.length) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  }
  return { head, stream: Readable.from(rest(), { objectMode: false, highWaterMark: 1024 * 1024 }) };
}
