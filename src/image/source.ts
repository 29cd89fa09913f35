// Opening what `bale import` reads: a tar file, a directory, or stdin; compression sniffed.
import { createReadStream, promises as fsp } from 'node:fs';
import { pipeline, Readable } from 'node:stream';
import { decompressor, maxLayerBytes, SizeCap, sniffCompression } from '../layer/compression.js';
import { normalizeTar } from '../layer/normalize.js';
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

/** The normalised layer tar of a tar stream (plain, gzip or zstd). */
export async function layerFromTarStream(input: NodeJS.ReadableStream, what: string): Promise<Readable> {
  const { head, all } = await peek(input, 6);
  if (head.length === 0) throw new BaleError(`${what}: empty input, not a tar`);
  const c = sniffCompression(head);
  if (c === 'bzip2' || c === 'xz') throw new BaleError(`${what}: ${c} compression is not supported (use plain, gzip or zstd)`);
  const plain = new SizeCap(maxLayerBytes(), what);
  // pipeline destroys every stream on an error, so a bad gzip reaches the tar reader as one.
  pipeline(all, decompressor(c), plain, () => {});
  return Readable.from(normalizeTar(plain, what), { objectMode: false, highWaterMark: 1024 * 1024 });
}

/** The layer tar of an import source: `-` (stdin), a directory, or a tar file. */
export async function importSource(src: string): Promise<Readable> {
  if (/^[a-z]+:\/\//i.test(src)) throw new BaleError(`${src}: importing from a URL is not supported (no network); download it first`);
  if (src === '-') {
    if (process.stdin.isTTY) throw new BaleError('import: refusing to read a tar from a terminal; pipe one in or name a file');
    return layerFromTarStream(process.stdin, 'stdin');
  }
  let st;
  try {
    st = await fsp.stat(src);
  } catch (e) {
    throw new BaleError(`${src}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
  if (st.isDirectory()) return Readable.from(packEntries(walkDir(src)), { objectMode: false, highWaterMark: 1024 * 1024 });
  return layerFromTarStream(createReadStream(src, { highWaterMark: 1024 * 1024 }), src);
}
