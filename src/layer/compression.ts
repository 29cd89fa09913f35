// Compression of layer blobs: sniffing by magic bytes, and streams to undo or apply it. It lives with
// the layer operations because both the store (unpacking) and the archives (load, save) need it.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { createGunzip, deflateRaw, gzip, constants as zc, type ZlibOptions } from 'node:zlib';
import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';
import type * as Zstd from 'zstd-napi';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import type { Compression } from '../oci/media.js';

/** zstd-napi (a native addon) loaded on first use: most commands, `bale run` among them, never need it. */
let zstdModule: typeof Zstd | undefined;
function zstd(): typeof Zstd {
  return (zstdModule ??= createRequire(import.meta.url)('zstd-napi') as typeof Zstd);
}
let zstdBindingModule: typeof ZstdBinding | undefined;
function zstdBinding(): typeof ZstdBinding {
  return (zstdBindingModule ??= createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding);
}

/** Identify the compression of a blob from its first bytes (at least 4 needed for zstd). */
export function sniffCompression(head: Buffer): Compression | 'bzip2' | 'xz' {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head[0] === 0xfd && head.toString('latin1', 1, 6) === '7zXZ\0') return 'xz';
  return 'none';
}

/** Sniff a file's compression from its first bytes. */
export async function sniffFile(file: string): Promise<ReturnType<typeof sniffCompression>> {
  const fh = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return sniffCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

export function decompressor(c: Compression): Transform {
  switch (c) {
    case 'gzip':
      return createGunzip({ chunkSize: 256 * 1024 });
    case 'zstd':
      return new (zstd().DecompressStream)() as unknown as Transform;
    default:
      return new Transform({ transform: (chunk, _e, cb) => cb(null, chunk) });
  }
}

export function compressor(c: Compression, level?: number): Transform {
  switch (c) {
    case 'gzip':
      return new GzipMembers(level ?? zc.Z_DEFAULT_COMPRESSION);
    case 'zstd':
      return new ZstdCompress(level);
    default:
      return new Transform({ transform: (chunk, _e, cb) => cb(null, chunk) });
  }
}

/** zstd contexts of this thread not in use: kept, with their buffers and zstd's threads, for the next layer. */
const idleZstd: ZstdBinding.CCtx[] = [];

/**
 * zstd with zstd's own worker threads: every core on one layer. Its output is the same for any
 * nbWorkers >= 1 (not for 0), so a fixed floor of 1 keeps the bytes the same on any host.
 *
 * Written on zstd-napi's binding rather than its CompressStream, which makes a context per stream:
 * each one's buffers (tens of MiB with its threads) were allocated and faulted in afresh for every
 * layer, and freed only when the garbage collector got to the stream. A context finished with here
 * goes back to idleZstd, and the next layer's stream in this thread reuses it.
 * Compressing blocks the calling thread while zstd's threads catch up (see archive/reencode.ts).
 */
class ZstdCompress extends Transform {
  private cctx: ZstdBinding.CCtx | undefined;
  private out: Buffer;

  constructor(level?: number) {
    super();
    const b = zstdBinding();
    this.out = Buffer.allocUnsafe(b.cStreamOutSize());
    this.cctx = idleZstd.pop() ?? new b.CCtx();
    this.cctx.reset(b.ResetDirective.sessionAndParameters);
    this.cctx.setParameter(b.CParameter.nbWorkers, Math.max(1, os.availableParallelism()));
    if (level !== undefined) this.cctx.setParameter(b.CParameter.compressionLevel, level);
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.run(chunk, zstdBinding().EndDirective.continue, cb);
  }

  override _flush(cb: TransformCallback): void {
    this.run(Buffer.alloc(0), zstdBinding().EndDirective.end, cb);
  }

  override _destroy(e: Error | null, cb: (e: Error | null) => void): void {
    // A context stopped mid-frame is reset before its next use (above).
    if (this.cctx) idleZstd.push(this.cctx);
    this.cctx = undefined;
    cb(e);
  }

  /** Feed `input` to zstd (ending the frame with `end`), passing its output on as it comes. */
  private run(input: Buffer, op: ZstdBinding.EndDirective, cb: TransformCallback): void {
    const ending = op === zstdBinding().EndDirective.end;
    try {
      for (;;) {
        const [left, produced, consumed] = this.cctx!.compressStream2(this.out, input, op);
        if (produced > 0) {
          this.push(this.out.subarray(0, produced));
          this.out = Buffer.allocUnsafe(Math.max(this.out.length, left));
        }
        input = input.subarray(consumed);
        if (input.length === 0 && (!ending || left === 0)) break;
      }
    } catch (e) {
      return cb(e as Error);
    }
    cb();
  }
}

/** Bytes of input in each gzip member GzipMembers writes. Fixed: it decides the output's bytes. */
export const GZIP_MEMBER_BYTES = 1024 * 1024;

/** Bytes taken from each of a member's start, middle and end to tell whether it compresses. */
const GZIP_SAMPLE_BYTES = 16 * 1024;

/** Members being compressed at once by one stream: enough to keep every core busy on one layer. */
const GZIP_IN_FLIGHT = Math.max(2, Math.min(8, os.availableParallelism()));

/**
 * gzip as a series of complete gzip members, one per GZIP_MEMBER_BYTES of input (the last one
 * shorter; one empty member for no input), concatenated in order: RFC 1952 makes that one valid
 * gzip file, and every reader of layers (Go's gzip reader, zlib's gunzip, GNU gzip) reads all the
 * members. The members are independent, so they are compressed at once on libuv's thread pool (a
 * few in flight per stream, so memory stays a few MiB), and one layer uses every core, as pigz and
 * pgzip do. The bytes do not depend on the cores or the timing: the member size is fixed, and
 * zlib's member header has no name and mtime 0 (OS byte 3, Unix).
 *
 * zlib's match search costs four times the rest of the work on bytes it finds no match in (already
 * compressed files: archives, images, packed binaries), at any level. So each member's start,
 * middle and end are deflated first at level 1 (a twentieth of the work): when they do not shrink
 * by 2%, the member is Huffman-coded only; by less than 10% (such files with tar headers, padding
 * or other runs between them), run-length matches only; otherwise zlib's usual search. A decision by
 * content alone, so the bytes are still the same everywhere.
 */
class GzipMembers extends Transform {
  private readonly parts: Buffer[] = [];
  private held = 0;
  private readonly inFlight: Promise<Buffer>[] = [];
  private started = 0;
  private readonly opts: ZlibOptions;
  private readonly huffman: ZlibOptions;
  private readonly runs: ZlibOptions;

  constructor(level: number) {
    super();
    // One output chunk larger than any member, so each member is one job on the pool.
    this.opts = { level, chunkSize: GZIP_MEMBER_BYTES + 64 * 1024 };
    // memLevel 9: a Huffman tree built for every 32k symbols instead of 16k, which saves about a
    // fifth of the time of these two, where building trees is much of the work.
    this.huffman = { ...this.opts, strategy: zc.Z_HUFFMAN_ONLY, memLevel: 9 };
    this.runs = { ...this.opts, strategy: zc.Z_RLE, memLevel: 9 };
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.cut(chunk).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    const last = async () => {
      if (this.held > 0 || this.started === 0) this.start(Buffer.concat(this.parts, this.held));
      while (this.inFlight.length) this.push(await this.inFlight.shift()!);
    };
    last().then(() => cb(), cb);
  }

  /** Cut `chunk` into members; past the in-flight limit, wait for the oldest and pass it on. */
  private async cut(chunk: Buffer): Promise<void> {
    while (chunk.length > 0) {
      let block: Buffer;
      if (this.held === 0 && chunk.length >= GZIP_MEMBER_BYTES) {
        // A whole block in one chunk (1 MiB reads line up with the blocks): no copy.
        block = chunk.subarray(0, GZIP_MEMBER_BYTES);
        chunk = chunk.subarray(GZIP_MEMBER_BYTES);
      } else {
        const n = Math.min(chunk.length, GZIP_MEMBER_BYTES - this.held);
        this.parts.push(chunk.subarray(0, n));
        this.held += n;
        chunk = chunk.subarray(n);
        if (this.held < GZIP_MEMBER_BYTES) continue;
        block = Buffer.concat(this.parts, this.held);
        this.parts.length = 0;
        this.held = 0;
      }
      this.start(block);
      if (this.inFlight.length >= GZIP_IN_FLIGHT) this.push(await this.inFlight.shift()!);
    }
  }

  private start(block: Buffer): void {
    this.started++;
    const member = this.optionsFor(block).then((opts) => zlibAsync(gzip, block, opts));
    member.catch(() => undefined); // awaited in order; a failure surfaces there
    this.inFlight.push(member);
  }

  /** How to compress a block, by how much its start, middle and end shrink at level 1. */
  private async optionsFor(block: Buffer): Promise<ZlibOptions> {
    const n = GZIP_SAMPLE_BYTES;
    if (block.length < 4 * n) return this.opts;
    const mid = (block.length - n) >> 1;
    const sample = Buffer.concat([block.subarray(0, n), block.subarray(mid, mid + n), block.subarray(block.length - n)]);
    const packed = await zlibAsync(deflateRaw, sample, { level: 1 });
    const ratio = packed.length / sample.length;
    return ratio >= 0.98 ? this.huffman : ratio >= 0.9 ? this.runs : this.opts;
  }
}

function zlibAsync(f: typeof gzip, b: Buffer, opts: ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => f(b, opts, (e, out) => (e ? reject(e) : resolve(out))));
}

/**
 * Refuses to pass more than `limit` bytes: the guard against decompression bombs. The error names
 * what overflowed so the user knows which blob and which limit.
 */
export class SizeCap extends Transform {
  private seen = 0;
  constructor(private readonly limit: number, private readonly what: string) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      cb(new Error(`${this.what}: expands past ${this.limit} bytes (limit BALE_MAX_LAYER_BYTES)`));
      return;
    }
    cb(null, chunk);
  }
}

/** The largest uncompressed layer bale accepts, from BALE_MAX_LAYER_BYTES (default 64 GiB). */
export function maxLayerBytes(): number {
  const v = process.env['BALE_MAX_LAYER_BYTES'];
  const n = v ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : 64 * 1024 ** 3;
}
