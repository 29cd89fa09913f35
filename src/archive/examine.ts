// What load needs to know of one blob, learnt in one pass over its bytes: its digest, its
// compression (by magic bytes), its JSON text if it is small and looks like JSON, and when it is a
// layer tar (possibly compressed) its diff_id, docker's size and whether the layer rules accept every
// entry. Pure: bytes in, facts out; where the bytes come from (an archive entry, a temp file read
// in a worker thread: examine-pool.ts) is the caller's business.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashCounter, type Digest } from '../oci/digest.js';
import type { Compression } from '../oci/media.js';
import { layerChecker, type LayerStats } from '../layer/check.js';
import { decompressor, maxLayerBytes, SizeCap, sniffCompression } from '../layer/compression.js';

/** What examining one file of an archive found. */
export interface Examined {
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
}

const JSON_MAX = 16 * 1024 * 1024;

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
 * Examine the blob `name` of `size` bytes (the size only decides whether JSON is kept) from
 * `chunks`. A layer that breaks the rules is not an error here: it is reported in layerError,
 * since it only matters if a manifest names the blob as a layer.
 */
export async function examine(chunks: AsyncIterable<Buffer>, name: string, size: number): Promise<Examined> {
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
    if (c === 'gzip' || c === 'zstd' || looksLikeTar(head)) {
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
    raw.update(chunk);
    total += chunk.length;
    if (jsonParts) jsonParts.push(chunk);
    // A layer that fails its check stops taking bytes, but the hashing goes on: whether the blob is
    // the one the archive names (digest) is told before what is wrong with it as a layer.
    if (layerIn && !layerError && !layerIn.destroyed && !layerIn.write(chunk)) await Promise.race([once(layerIn, 'drain').catch(() => undefined), layerDone!]);
  };

  try {
    for await (const chunk of chunks) {
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
  } catch (e) {
    if (layerIn && !layerIn.destroyed) layerIn.destroy();
    if (layerDone) await layerDone;
    throw e;
  }
  const digest = `sha256:${raw.digest('hex')}` as Digest;
  const out: Examined = { digest, size: total, compression };
  if (jsonParts) out.json = Buffer.concat(jsonParts);
  if (layerDone) {
    if (layerError) out.layerError = layerError;
    else {
      out.diffId = compression === 'none' ? digest : layerHash!.digest();
      out.diffSize = layerStats.diffSize;
    }
  }
  return out;
}
