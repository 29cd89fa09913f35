// Compression of layer blobs: sniffing by magic bytes, and streams to undo or apply it. It lives with
// the layer operations because both the store (unpacking) and the archives (load, save) need it.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { createGunzip, createGzip, constants as zc } from 'node:zlib';
import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';
import type * as Zstd from 'zstd-napi';
import type { Compression } from '../oci/media.js';

/** zstd-napi (a native addon) loaded on first use: most commands, `bale run` among them, never need it. */
let zstdModule: typeof Zstd | undefined;
function zstd(): typeof Zstd {
  return (zstdModule ??= createRequire(import.meta.url)('zstd-napi') as typeof Zstd);
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
      return createGzip({ level: level ?? zc.Z_DEFAULT_COMPRESSION, chunkSize: 256 * 1024 });
    case 'zstd':
      // zstd's own worker threads: every core on one layer. Its output is the same for any
      // nbWorkers >= 1 (not for 0), so a fixed floor of 1 keeps the bytes the same on any host.
      return new (zstd().CompressStream)({ nbWorkers: Math.max(1, os.availableParallelism()), ...(level === undefined ? {} : { compressionLevel: level }) }) as unknown as Transform;
    default:
      return new Transform({ transform: (chunk, _e, cb) => cb(null, chunk) });
  }
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
