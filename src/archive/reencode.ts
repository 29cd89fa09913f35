// Re-encoding one stored layer blob into another compression (save --compress): the blob is
// decompressed, the plain tar hashed (its diff_id, for the caller to check), compressed, and the
// result hashed (its new blob digest) on the way out. The result goes to a new file, or straight
// into the archive being written: an open descriptor, written at its offset (and the offset moved
// on), so no copy of the layer is made. Pure file in, file out: it runs in a worker thread
// (examine-pool.ts), because zstd's streaming compression runs in its caller's thread and waits there
// for zstd's own threads, which would stall every other layer and the archive writer.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { HashCounter, type Digest } from '../oci/digest.js';
import type { Compression } from '../oci/media.js';
import { compressor, decompressor } from '../layer/compression.js';
import { Writeback } from '../store/outputs.js';

export interface Reencoded {
  /** Digest and size of the re-encoded blob written out. */
  digest: Digest;
  size: number;
  /** sha256 of the uncompressed tar that went through. */
  diffId: Digest;
}

/** Where a re-encoded blob goes: a new file (mode 0600), or an open file from its descriptor's offset on. */
export type ReencodeDest = string | { fd: number };

/** Write `src` (compressed with `from`) to `dest` compressed with `to`. */
export async function reencodeFile(src: string, from: Compression, to: Compression, dest: ReencodeDest): Promise<Reencoded> {
  const plain = new HashCounter();
  const out = new HashCounter();
  // Into an open file, its data goes to the disk while it is written (as the rest of that file
  // does, store/outputs.ts). The descriptor is the caller's: never closed here, not even by the
  // stream's destruction on an error (autoClose does not cover that).
  const writeback = typeof dest === 'string' ? undefined : new Writeback();
  const keepOpen = (_fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => void writeback!.settle().then(() => cb(null), cb);
  const sink: WriteStream =
    typeof dest === 'string'
      ? createWriteStream(dest, { mode: 0o600 })
      : createWriteStream('', { fd: dest.fd, autoClose: false, highWaterMark: 1024 * 1024, fs: { ...writeback!.fs, close: keepOpen } });
  await pipeline(createReadStream(src, { highWaterMark: 1024 * 1024 }), decompressor(from), plain, compressor(to), out, sink);
  await writeback?.settle();
  return { digest: out.digest(), size: out.bytes, diffId: plain.digest() };
}
