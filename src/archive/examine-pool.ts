// Examining blobs in worker threads, so that hashing, decompressing and checking a layer run beside
// the main thread's moving of bytes instead of in series with it: blobs still arriving (load's
// archive entries, pull's downloads), whose chunks are handed over as they come, a few MiB at most
// in flight per blob. Nothing of a blob is held in memory. Small blobs are examined in the calling
// thread: handing them over costs more than their hash. The layers save compresses are re-encoded
// (reencode.ts) in a pool of their own; the blobs save copies as stored are hashed by the copy.
import os from 'node:os';
import { parentPort, Worker } from 'node:worker_threads';
import type { Compression } from '../oci/media.js';
import { examine, type Examined } from './examine.js';
import { reencodeFile, type Reencoded, type ReencodeDest } from './reencode.js';

/** Files below this many bytes are examined in the calling thread. */
const INLINE_MAX = 4 * 1024 * 1024;

/** Bytes of one arriving blob handed to a worker and not yet taken by its examination. */
const IN_FLIGHT_MAX = 4 * 1024 * 1024;

type Job =
  | { kind: 'reencode'; file: string; from: Compression; to: Compression; dest: ReencodeDest }
  /** A blob whose chunks follow as requests of their own (see BlobExamination). */
  | { kind: 'arriving'; name: string; size: number };
type Result = Examined | Reencoded;
type Request =
  | { id: number; job: Job }
  | { id: number; chunk: Uint8Array }
  | { id: number; end: true }
  | { id: number; abort: string };
/** An error travels as its message and, for a system call's failure, its code (ENOSPC). */
type Reply = { id: number; result?: Result; error?: string; code?: string; took?: number };
/** Chunks pushed in, read out as an async iterable (by examine()), and told how many bytes it took. */
class Feed implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private done = false;
  private error?: Error;
  private wake?: () => void;
  constructor(private readonly took: (n: number) => void) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.poke();
  }
  end(error?: Error): void {
    this.done = true;
    this.error = error;
    this.poke();
  }
  private poke(): void {
    this.wake?.();
    this.wake = undefined;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const b = this.chunks.shift();
      if (b) {
        this.took(b.length);
        yield b;
        continue;
      }
      if (this.error) throw this.error;
      if (this.done) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}


interface Slot {
  worker: Worker;
  busy: number;
}

class Pool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void; slot: Slot; took?: (n: number) => void }>();
  private next = 0;
  constructor(private readonly max: number) {}

  run(job: Job): Promise<Result> {
    return this.start(job).result;
  }

  /** Open an examination of a blob whose chunks are sent after this (see BlobExamination). */
  stream(name: string, size: number): BlobExamination {
    let inFlight = 0;
    let drained: (() => void) | undefined;
    const { id, slot, result } = this.start({ kind: 'arriving', name, size }, (n) => {
      inFlight -= n;
      if (inFlight <= IN_FLIGHT_MAX) drained?.();
    });
    const failed = result.then(() => undefined, () => undefined);
    return {
      result: result as Promise<Examined>,
      write: async (chunk) => {
        inFlight += chunk.length;
        // A chunk that is all of its memory moves to the worker (no copy); a view into a larger
        // buffer is copied once (not to take all of that buffer along), and the copy moves.
        const whole = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
        const own = whole ? chunk : new Uint8Array(chunk);
        slot.worker.postMessage({ id, chunk: own } satisfies Request, [own.buffer as ArrayBuffer]);
        // Past the limit, wait for the worker to take some (or for the examination to end early).
        if (inFlight > IN_FLIGHT_MAX) await Promise.race([new Promise<void>((r) => (drained = r)), failed]);
      },
      end: () => slot.worker.postMessage({ id, end: true } satisfies Request),
      abort: (why) => slot.worker.postMessage({ id, abort: why } satisfies Request),
    };
  }

  private start(job: Job, took?: (n: number) => void): { id: number; slot: Slot; result: Promise<Result> } {
    const slot = this.pick();
    const id = this.next++;
    slot.busy++;
    if (slot.busy === 1) slot.worker.ref();
    const result = new Promise<Result>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, slot, took });
      slot.worker.postMessage({ id, job } satisfies Request);
    });
    return { id, slot, result };
  }

  private pick(): Slot {
    const idle = this.slots.reduce<Slot | undefined>((best, s) => (!best || s.busy < best.busy ? s : best), undefined);
    if (idle && (idle.busy === 0 || this.slots.length >= this.max)) return idle;
    const worker = new Worker(new URL('./examine-worker.js', import.meta.url));
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
    if (m.took !== undefined) return w.took?.(m.took);
    this.waiting.delete(m.id);
    if (--w.slot.busy === 0) w.slot.worker.unref();
    if (m.result) {
      // Buffers arrive as Uint8Array views after the structured clone.
      const r = m.result;
      if ('json' in r && r.json) r.json = Buffer.from(r.json.buffer, r.json.byteOffset, r.json.byteLength);
      w.resolve(r);
    } else w.reject(Object.assign(new Error(m.error ?? 'examining failed'), m.code ? { code: m.code } : {}));
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

/**
 * A blob being examined while it arrives: write() hands over each chunk (it is the examination's
 * from then on: its memory may move to the worker, so the caller must not touch it again; it
 * resolves when fewer than a few MiB wait in the worker), end() after the last, abort() when the
 * bytes stop coming; result is what examine() found (rejected after an abort).
 */
export interface BlobExamination {
  write(chunk: Buffer): Promise<void>;
  end(): void;
  abort(why: string): void;
  result: Promise<Examined>;
}

/** Examine the blob `name` of `size` bytes from the chunks written to the answer, in a worker thread when it is large. */
export function examineArriving(name: string, size: number): BlobExamination {
  if (size >= INLINE_MAX) return thePool().stream(name, size);
  const feed = new Feed(() => undefined);
  const result = examine(feed, name, size);
  result.catch(() => undefined); // the caller awaits it
  return {
    result,
    write: async (chunk) => feed.push(chunk),
    end: () => feed.end(),
    abort: (why) => feed.end(new Error(why)),
  };
}

/** Re-encode the layer blob `file` from `from` to `to` into `dest` (reencode.ts), in a worker thread. */
export function reencodeInWorker(file: string, from: Compression, to: Compression, dest: ReencodeDest): Promise<Reencoded> {
  // A worker per core (at most 4, each with its compressor's buffers): a layer's compressor may
  // block its thread (reencode.ts), and zstd spreads each layer over the cores anyway.
  reencodePool ??= new Pool(Math.max(1, Math.min(4, os.availableParallelism())));
  return reencodePool.run({ kind: 'reencode', file, from, to, dest }) as Promise<Reencoded>;
}

function thePool(): Pool {
  // One worker fewer than the cores: the main thread is busy moving the bytes.
  return (pool ??= new Pool(Math.max(1, Math.min(4, os.availableParallelism() - 1))));
}

function work(job: Exclude<Job, { kind: 'arriving' }>): Promise<Result> {
  switch (job.kind) {
    case 'reencode':
      return reencodeFile(job.file, job.from, job.to, job.dest);
  }
}

/** In a worker thread started by the pool (examine-worker.ts): answer its requests. */
export function serveExamine(): void {
  const port = parentPort;
  if (!port) throw new Error('serveExamine: not in a worker thread');
  const feeds = new Map<number, Feed>();
  const answer = (id: number, result: Promise<Result>) =>
    result.then(
      (result) => port.postMessage({ id, result } satisfies Reply),
      (e: NodeJS.ErrnoException) => port.postMessage({ id, error: e.message, ...(typeof e.code === 'string' ? { code: e.code } : {}) } satisfies Reply),
    );
  port.on('message', (m: Request) => {
    if ('job' in m) {
      const job = m.job;
      if (job.kind !== 'arriving') return answer(m.id, work(job));
      const feed = new Feed((took) => port.postMessage({ id: m.id, took } satisfies Reply));
      feeds.set(m.id, feed);
      return answer(m.id, examine(feed, job.name, job.size).finally(() => feeds.delete(m.id)));
    }
    const feed = feeds.get(m.id);
    if ('chunk' in m) feed?.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
    else feed?.end('abort' in m ? new Error(m.abort) : undefined);
  });
}
