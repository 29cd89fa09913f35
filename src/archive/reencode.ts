// Re-encoding one stored layer blob into a file in another compression (save --compress): the blob
// is decompressed, the plain tar hashed (its diff_id, for the caller to check), compressed, and the
// result hashed (its new blob digest) on the way to the file. Pure file in, file out: it runs in a
// worker thread (examine-pool.ts), because zstd-napi's stream compresses in its caller's thread and
// waits there for zstd's own threads, which would stall every other layer and the archive writer.
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { HashCounter, type Digest } from '../oci/digest.js';
import type { Compression } from '../oci/media.js';
import { compressor, decompressor } from '../layer/compression.js';

export interface Reencoded {
  /** Digest and size of the re-encoded blob written to the file. */
  digest: Digest;
  size: number;
  /** sha256 of the uncompressed tar that went through. */
  diffId: Digest;
}

/** Write `src` (compressed with `from`) to the new file `dest` compressed with `to` (mode 0600). */
export async function reencodeFile(src: string, from: Compression, to: Compression, dest: string): Promise<Reencoded> {
  const plain = new HashCounter();
  const out = new HashCounter();
  await pipeline(createReadStream(src, { highWaterMark: 1024 * 1024 }), decompressor(from), plain, compressor(to), out, createWriteStream(dest, { mode: 0o600 }));
  return { digest: out.digest(), size: out.bytes, diffId: plain.digest() };
}
