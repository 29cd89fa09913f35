// Content digests: the sha256 names every blob, config and layer goes by.
import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crypto } from '../util/crypto.js';

export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Parse a digest, throwing a one-line error naming what was wrong. */
export function hexOf(d: Digest): string {
  return d.slice(7);
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${crypto().createHash('sha256').update(data).digest('hex')}`;
}

/** A pass-through stream that hashes and counts what flows through it. */
export class HashCounter extends Transform {
  private hash: Hash = crypto().createHash('sha256');
  bytes = 0;
  private done: Digest | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** The digest of everything that passed; valid once the stream has ended. */
  digest(): Digest {
    if (!this.done) this.done = `sha256:${this.hash.digest('hex')}`;
    return this.done;
  }
}

/** Short form used in tables: the first 12 hex characters. */
export function shortId(d: Digest): string {
  return hexOf(d).slice(0, 12);
}
