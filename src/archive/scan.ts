// One pass over an archive tar: every file is written once to the store's temp space and, as its
// bytes arrive, hashed, sniffed and (when it is a layer) decompressed, hashed again and checked
// entry by entry (examine.ts), in a worker thread when it is large (examine-pool.ts). Nothing is
// interpreted here; layouts.ts reads the result.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable, Writable, PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { FormatError } from '../util/errors.js';
import { decompressor, sniffCompression } from '../layer/compression.js';
import { examine, type Examined } from './examine.js';
import { Writeback } from '../store/outputs.js';
import { examineArriving, type BlobExamination } from './examine-pool.js';

/** A regular file of the archive, as it was found. */
export interface ScannedFile extends Examined {
  /** Clean path inside the archive. */
  name: string;
  /** Where its bytes are now (inside the store's temp dir). */
  tmp: string;
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

/** Clean an archive-internal path: `./a//b` → `a/b`; refuses nothing (archive paths never touch disk). */
export function archivePath(name: string): string {
  return path.posix.normalize('/' + name).slice(1).replace(/\/$/, '');
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
  const received: Received[] = [];
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
      received.push(await receive(entry as unknown as Readable, name, h.size ?? 0, opts));
      inEntry = false;
    }
    await feeding;
    if (feedError) throw new Error(`not a readable tar archive: ${feedError.message}`);
    inEntry = true; // what fails from here on is one entry's examination
    for (const r of received) {
      const file = await r.examined;
      const prev = files.get(r.name);
      if (prev) {
        await fsp.rm(file.tmp, { force: true });
        if (prev.digest !== file.digest) throw new Error(`${opts.label}: duplicate entry ${r.name} with different contents`);
        continue;
      }
      files.set(r.name, file);
    }
  } catch (e) {
    await feeding;
    await Promise.allSettled(received.map(async (r) => {
      await r.examined.catch(() => undefined);
      await fsp.rm(r.tmp, { force: true });
    }));
    input.destroy();
    let msg = (e as Error).message;
    // Errors from the tar parser itself (not from one entry's processing) mean a broken archive.
    if (!inEntry && !msg.startsWith(opts.label) && !msg.startsWith('not a readable tar')) msg = `not a readable tar archive: ${msg}`;
    throw new FormatError(msg.startsWith(opts.label) ? msg : `${opts.label}: ${msg}`, { cause: e });
  }
  if (entries === 0) throw new Error(`${opts.label}: empty archive`);
  return { files, links };
}

/** An entry written to the store's temp space, its examination still running. */
interface Received {
  name: string;
  tmp: string;
  examined: Promise<ScannedFile>;
}

/**
 * Stream one archive entry to a temp file while it is examined (hash, sniff, layer check:
 * examine.ts, in a worker when it is large); returns once it is written, with the examination
 * finishing the last chunks and the fsync under way. With `discard` (bale verify) nothing is
 * written and the entry is examined as it streams.
 */
async function receive(body: Readable, name: string, size: number, opts: ScanOptions): Promise<Received> {
  const tmp = opts.tmpPath('load');
  if (opts.discard) {
    const facts = await examine(body as AsyncIterable<Buffer>, name, size);
    if (facts.size !== size) throw new Error(`entry ${name}: truncated (${facts.size} of ${size} bytes)`);
    return { name, tmp, examined: Promise.resolve({ name, tmp, ...facts, synced: Promise.resolve(undefined) }) };
  }
  const examination = examineArriving(name, size);
  const total = await writeExamined(body, tmp, examination, { why: `entry ${name}: not read to its end` });
  if (total !== size) {
    examination.abort(`entry ${name}: truncated`);
    await examination.result.catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw new Error(`entry ${name}: truncated (${total} of ${size} bytes)`);
  }
  // Its fsync starts now (most of its data is on the disk already), while the rest of the archive is read.
  const synced = syncFile(tmp);
  examination.end();
  const examined = examination.result.then((facts) => ({ name, tmp, ...facts, synced }));
  examined.catch(() => undefined); // awaited by the caller; not an unhandled rejection meanwhile
  return { name, tmp, examined };
}

/** Stream one archive entry to a temp file, hashing it, and checking it if it is a layer tar. */
export async function scanFile(body: Readable, name: string, size: number, opts: ScanOptions): Promise<ScannedFile> {
  const r = await receive(body, name, size, opts);
  try {
    return await r.examined;
  } catch (e) {
    await fsp.rm(r.tmp, { force: true });
    throw e;
  }
}

/** Bytes written and handed to the examination at a time (at least). */
const HAND_OFF = 1024 * 1024;

export interface WriteExaminedOptions {
  /** Told each chunk's size once it is written. */
  onBytes?: (n: number) => void;
  /** Aborting it stops the writing and the examination. */
  signal?: AbortSignal;
  /** What the examination is aborted with when the bytes stop coming. */
  why: string;
}

/**
 * Stream `body` into the new file `tmp` (mode 0600), handing each chunk, once written, to
 * `examination` (which owns it from then on), so the blob is examined as it arrives instead of
 * read back afterwards. The file's data is sent to the disk while it is written (Writeback), so
 * the fsync before the commit finds little left to write. Returns the byte count; the caller
 * ends the examination. On failure the examination is aborted and no file is left.
 */
export async function writeExamined(body: Readable, tmp: string, examination: BlobExamination, opts: WriteExaminedOptions): Promise<number> {
  let total = 0;
  let fh: fsp.FileHandle | undefined;
  const writeback = new Writeback();
  // Chunks are gathered to HAND_OFF bytes before they are written and handed over: a pipe's
  // 64 KiB pieces cost a message to the worker each (stdin loads took a third more CPU), and
  // several joined are one copy into a buffer that then moves to the worker whole.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const b = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    for (let at = 0; at < b.length; ) at += (await fh!.write(b, at)).bytesWritten;
    writeback.wrote(fh!.fd, b.length);
    total += b.length;
    opts.onBytes?.(b.length);
    await examination.write(b);
  };
  // The pipeline is set up at once, the file opened by the sink: an entry stream that fails while
  // it waited for a pipe (tar-stream's, at a cut archive) is not seen to fail by one set up later.
  const sink = new Writable({
    highWaterMark: 4 * 1024 * 1024,
    construct(cb) {
      fsp.open(tmp, 'wx', 0o600).then((h) => ((fh = h), cb()), cb);
    },
    write(chunk: Buffer, _e, cb) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes < HAND_OFF) return cb();
      flush().then(() => cb(), cb);
    },
    final(cb) {
      flush().then(() => cb(), cb);
    },
  });
  let failed: unknown;
  await pipeline(body, sink, { signal: opts.signal }).catch((e: unknown) => (failed = e));
  // The descriptor closes only after the fdatasync under way; a failed one fails the write (a later
  // fsync through another descriptor need not report it again).
  const synced = await writeback.settle().then(() => undefined, (e: unknown) => e);
  await fh?.close();
  failed ??= synced;
  if (failed) {
    examination.abort(opts.why);
    await examination.result.catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw failed;
  }
  return total;
}

export async function syncFile(file: string): Promise<Error | undefined> {
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
