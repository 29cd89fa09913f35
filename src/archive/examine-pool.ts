// Examining blobs that are already on disk (load's temp files) in worker threads, so that hashing,
// decompressing and checking a layer run beside the main thread's reading and writing of the next
// archive entry instead of in series with it; hashing the blobs save copies out, beside the copy;
// and re-encoding the layers save compresses (reencode.ts), a pool of their own. A worker reads the
// file back from the page cache it was just written into; nothing of it is held in memory. Small
// files are examined in the calling thread: handing them over costs more than their hash.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import os from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import type { Digest } from '../oci/digest.js';
import type { Compression } from '../oci/media.js';
import { examine, type Examined } from './examine.js';
import { reencodeFile, type Reencoded } from './reencode.js';

/** Files below this many bytes are examined in the calling thread. */
const INLINE_MAX = 4 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;

type Job =
  | { kind: 'examine'; file: string; name: string; size: number }
  | { kind: 'hash'; file: string }
  | { kind: 'reencode'; file: string; from: Compression; to: Compression; dest: string };
type Result = Examined | Digest | Reencoded;
type Request = { id: number; job: Job };
type Reply = { id: number; result?: Result; error?: string };

function readFile(file: string): AsyncIterable<Buffer> {
  return createReadStream(file, { highWaterMark: READ_CHUNK });
}

/**
 * Only the digest of `file` (a blob save copies out, checked against its name). Read into one
 * buffer, over and over: the hash is done with each chunk before the next read, and a stream's
 * fresh buffer per read costs its page faults and its garbage.
 */
async function digestOfFile(file: string): Promise<Digest> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafeSlow(READ_CHUNK);
  const fh = await fsp.open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return `sha256:${h.digest('hex')}`;
}

interface Slot {
  worker: Worker;
  busy: number;
}

class Pool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void; slot: Slot }>();
  private next = 0;
  constructor(private readonly max: number) {}

  run(job: Job): Promise<Result> {
    const slot = this.pick();
    const id = this.next++;
    slot.busy++;
    if (slot.busy === 1) slot.worker.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ id, job } satisfies Request);
    });
  }

  private pick(): Slot {
    const idle = this.slots.reduce<Slot | undefined>((best, s) => (!best || s.busy < best.busy ? s : best), undefined);
    if (idle && (idle.busy === 0 || this.slots.length >= this.max)) return idle;
    const worker = new Worker(new URL(import.meta.url));
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (m: Reply) => this.settle(m));
    worker.on('error', (e) => this.fail(slot, e));
    worker.on('exit', (code) => this.fail(slot, new Error(`examining worker exited (${code})`)));
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  private settle(m: Reply): void {
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (--w.slot.busy === 0) w.slot.worker.unref();
    if (m.result) {
      // Buffers arrive as Uint8Array views after the structured clone.
      const r = m.result;
      if (typeof r !== 'string' && 'json' in r && r.json) r.json = Buffer.from(r.json.buffer, r.json.byteOffset, r.json.byteLength);
      w.resolve(r);
    } else w.reject(new Error(m.error ?? 'examining failed'));
  }

  private fail(slot: Slot, e: Error): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    for (const [id, w] of this.waiting) {
      if (w.slot !== slot) continue;
      this.waiting.delete(id);
      w.reject(e);
    }
  }
}

let pool: Pool | undefined;
let reencodePool: Pool | undefined;

/** Examine the file `file` (blob `name`, `size` bytes), in a worker thread when it is large. */
export function examineFile(file: string, name: string, size: number): Promise<Examined> {
  if (size < INLINE_MAX) return examine(readFile(file), name, size);
  return thePool().run({ kind: 'examine', file, name, size }) as Promise<Examined>;
}

/** The digest of the file `file` (`size` bytes), taken in a worker thread when it is large. */
export function hashFile(file: string, size: number): Promise<Digest> {
  if (size < INLINE_MAX) return digestOfFile(file);
  return thePool().run({ kind: 'hash', file }) as Promise<Digest>;
}

/** Re-encode the layer blob `file` from `from` to `to` into the new file `dest`, in a worker thread. */
export function reencodeInWorker(file: string, from: Compression, to: Compression, dest: string): Promise<Reencoded> {
  // A worker per core (at most 4, each with its compressor's buffers): a layer's compressor may
  // block its thread (reencode.ts), and zstd spreads each layer over the cores anyway.
  reencodePool ??= new Pool(Math.max(1, Math.min(4, os.availableParallelism())));
  return reencodePool.run({ kind: 'reencode', file, from, to, dest }) as Promise<Reencoded>;
}

function thePool(): Pool {
  // One worker fewer than the cores: the main thread is busy moving the bytes.
  return (pool ??= new Pool(Math.max(1, Math.min(4, os.availableParallelism() - 1))));
}

function work(job: Job): Promise<Result> {
  switch (job.kind) {
    case 'examine':
      return examine(readFile(job.file), job.name, job.size);
    case 'hash':
      return digestOfFile(job.file);
    case 'reencode':
      return reencodeFile(job.file, job.from, job.to, job.dest);
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', (m: Request) => {
    work(m.job).then(
      (result) => port.postMessage({ id: m.id, result } satisfies Reply),
      (e: Error) => port.postMessage({ id: m.id, error: e.message } satisfies Reply),
    );
  });
}
