// What `bale import` reads (a tar file, a directory, or stdin; compression sniffed) made into a
// stored layer. A tar that needs no cleaning is kept byte for byte, as docker import keeps it, so
// its diff_id is the sha256 of the (uncompressed) tar given and matches docker's; one that does is
// rewritten by normalizeTar.
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { pipeline, Readable, Transform, type Writable } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { once } from 'node:events';
import { HashCounter } from '../oci/digest.js';
import { ociLayerType, type Compression } from '../oci/media.js';
import type { Store } from '../store/store.js';
import { writeLayer, type StoredLayer } from './create.js';
import { decompressor, maxLayerBytes, SizeCap, sniffCompression } from '../layer/compression.js';
import { checkTar, normalizeTar, type NormalizeStats } from '../layer/normalize.js';
import { packEntries } from '../layer/pack.js';
import { walkDir } from '../layer/tree.js';
import { BaleError } from '../util/errors.js';

/** The first `n` bytes of a stream, and a stream that yields everything (those bytes included). */
async function peek(input: NodeJS.ReadableStream, n: number): Promise<{ head: Buffer; all: Readable }> {
  const it = (input as Readable)[Symbol.asyncIterator]();
  const got: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as string);
    got.push(b);
    len += b.length;
  }
  const head = Buffer.concat(got);
  async function* rest(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  }
  return { head, all: Readable.from(rest(), { objectMode: false }) };
}

/** The uncompressed tar of a tar stream (plain, gzip or zstd), capped at BALE_MAX_LAYER_BYTES. */
async function plainTar(input: NodeJS.ReadableStream, what: string): Promise<Readable> {
  const { head, all } = await peek(input, 6);
  if (head.length === 0) throw new BaleError(`${what}: empty input, not a tar`);
  const c = sniffCompression(head);
  if (c === 'bzip2' || c === 'xz') throw new BaleError(`${what}: ${c} compression is not supported (use plain, gzip or zstd)`);
  const plain = new SizeCap(maxLayerBytes(), what);
  // pipeline destroys every stream on an error, so a bad gzip reaches the tar reader as one.
  pipeline(all, decompressor(c), plain, () => {});
  return plain;
}

/**
 * Unpack a tar stream (plain, gzip or zstd) that is not a layer onto `dest`: a tar ADD unpacks, a
 * build context on stdin. Its names pass the layer rules, but `.wh.` names are files, as docker
 * unpacks such tars, not whiteouts.
 */
export async function unpackPlainTar(input: NodeJS.ReadableStream, dest: string, what: string): Promise<void> {
  const tar = Readable.from(normalizeTar(await plainTar(input, what), what, undefined, true), { objectMode: false, highWaterMark: 1024 * 1024 });
  const { applyLayer } = await import('../layer/apply.js');
  await applyLayer(tar, dest, { plain: true });
}

/** Passes chunks on after writing them to `file` (with backpressure). */
function teeTo(file: Writable): Transform {
  return new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _enc, done) {
      if (file.write(chunk)) done(null, chunk);
      else once(file, 'drain').then(() => done(null, chunk), done);
    },
    flush(done) {
      file.end();
      once(file, 'finish').then(() => done(), done);
    },
  });
}

/**
 * Store the tar `input` as a layer. One pass writes the uncompressed bytes to a temp file while
 * checkTar checks every entry (refusing escapes) without encoding the clean tar; if nothing needed
 * cleaning that file is the layer, else a second pass over it writes the cleaned tar
 * (normalizeTar). Call with store.writerLock() held.
 */
async function importTar(store: Store, input: NodeJS.ReadableStream, what: string, compression: Compression, onBytes?: (n: number) => void): Promise<StoredLayer> {
  const plain = await plainTar(input, what);
  const tmp = store.tmpPath('import');
  const raw = new HashCounter();
  if (onBytes) raw.on('data', () => onBytes(raw.bytes));
  // The checking pass also counts docker's size of the layer, for when the bytes are kept as they are.
  const stats: NormalizeStats = { entries: 0, diffSize: 0 };
  try {
    await pipelineAsync(plain, raw, teeTo(createWriteStream(tmp, { mode: 0o644 })), (src: AsyncIterable<Buffer>) => checkTar(Readable.from(src, { objectMode: false }), what, stats));
    if (stats.rewritten !== undefined) {
      return await writeLayer(store, Readable.from(normalizeTar(createReadStream(tmp), what), { objectMode: false, highWaterMark: 1024 * 1024 }), compression);
    }
    if (compression !== 'none') return await writeLayer(store, createReadStream(tmp, { highWaterMark: 1024 * 1024 }), compression);
    await store.putBlobFile(tmp, raw.digest());
    return { descriptor: { mediaType: ociLayerType('none'), digest: raw.digest(), size: raw.bytes }, diffId: raw.digest(), diffSize: stats.diffSize };
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/** The layer of an import source, `-` (stdin), a directory, or a tar file, stored. Call with store.writerLock() held. */
export async function importLayer(store: Store, src: string, compression: Compression, onBytes?: (n: number) => void): Promise<StoredLayer> {
  if (/^[a-z]+:\/\//i.test(src)) throw new BaleError(`${src}: importing from a URL is not supported (no network); download it first`);
  if (src === '-') {
    if (process.stdin.isTTY) throw new BaleError('import: refusing to read a tar from a terminal; pipe one in or name a file');
    return importTar(store, process.stdin, 'stdin', compression, onBytes);
  }
  let st;
  try {
    st = await fsp.stat(src);
  } catch (e) {
    throw new BaleError(`${src}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  if (st.isDirectory()) return writeLayer(store, Readable.from(packEntries(walkDir(src)), { objectMode: false, highWaterMark: 1024 * 1024 }), compression, onBytes);
  return importTar(store, createReadStream(src, { highWaterMark: 1024 * 1024 }), src, compression, onBytes);
}
