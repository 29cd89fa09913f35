// Files bale writes outside the store (`save -o`, `export -o`): written under a temp name beside the
// destination, renamed over it when complete. The temp file is removed on every error and on
// SIGINT/SIGTERM/SIGHUP; for a bale killed outright, each one is recorded in the store
// (tmp/output-*.json: its path and the owner's pid and start time), and the next gc, save or
// export removes those whose owner is gone. A live writer's file is never touched.
import { close, closeSync, createWriteStream, fdatasync, open, promises as fsp, rmSync, write, writev, type WriteStream } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { BaleError, oneLine } from '../util/errors.js';
import { onInterrupt } from '../util/interrupt.js';
import { isAlive, procInfo } from '../util/proc.js';
import { readJson, writeFileAtomic } from '../util/fsx.js';
import { crypto } from '../util/crypto.js';
import { copyRange } from '../util/filecopy.js';
import type { FileRange, TarPart } from '../layer/pack.js';
import type { Store } from './store.js';

interface OutputRecord {
  path: string;
  pid: number;
  start: number;
}

/** `.NAME.bale-tmp-PID-HEX`: the only names a sweep will delete. */
const TEMP_NAME = /^\..+\.bale-tmp-\d+-[0-9a-f]{12}$/;

/** Records live in tmp/ as `output-PID-HEX.json`; gc's sweep of tmp/ leaves them to sweepOutputs. */
export const RECORD_PREFIX = 'output-';

/** Bytes written between two fdatasyncs of a Writeback. */
const SYNC_EVERY = 32 * 1024 * 1024;

/**
 * A file's data sent to the disk while the file is still being written: after every SYNC_EVERY
 * bytes an fdatasync starts in the background (one at a time), so the fsync before the rename
 * finds little left to write (waiting for all of it took 0.9 to 1.1 s of a 512 MiB export, a
 * fifth of its time) and nothing is less durable.
 */
export class Writeback {
  private unsynced = 0;
  private pending: Promise<void> | undefined;
  private error: Error | undefined;

  /**
   * For createWriteStream's `fs` option: the fs functions it uses, counting what they write. The
   * descriptor is closed only once the fdatasync under way is done: closed under it, the sync
   * would fail (EBADF) or reach whatever file took the number next.
   */
  readonly fs = {
    open,
    close: (fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => void Promise.resolve(this.pending).then(() => close(fd, cb)),
    write: (fd: number, b: Buffer, off: number, len: number, pos: number | null, cb: (e: Error | null, n: number, b: Buffer) => void) =>
      write(fd, b, off, len, pos, (e, n, buf) => (this.wrote(fd, e ? 0 : n), cb(e, n, buf))),
    writev: (fd: number, bs: Buffer[], pos: number | null, cb: (e: Error | null, n: number, bs: NodeJS.ArrayBufferView[]) => void) =>
      writev(fd, bs, pos, (e, n, bufs) => (this.wrote(fd, e ? 0 : n), cb(e, n, bufs))),
  };

  /**
   * Count `n` bytes written to `fd`, starting an fdatasync when SYNC_EVERY have gathered (the
   * descriptor must stay open until settle()).
   */
  wrote(fd: number, n: number): void {
    this.unsynced += n;
    if (this.unsynced < SYNC_EVERY || this.pending) return;
    this.unsynced = 0;
    this.pending = new Promise((resolve) =>
      fdatasync(fd, (e) => {
        this.error ??= e ?? undefined;
        this.pending = undefined;
        resolve();
      }),
    );
  }

  /** Wait for the fdatasync under way, if one is; throws what one of them failed with. */
  async settle(): Promise<void> {
    await this.pending;
    if (this.error) throw this.error;
  }
}

export class OutputFile {
  private done = false;
  private readonly forget: () => void;
  private writeError: Error | undefined;

  private constructor(
    readonly dest: string,
    readonly tmp: string,
    private readonly record: string,
    readonly stream: WriteStream,
    private readonly writeback: Writeback,
  ) {
    stream.on('error', (e) => {
      if (!this.done) this.writeError ??= e; // not the pending write that abort() cut short
    });
    this.forget = onInterrupt(() => {
      rmSync(this.tmp, { force: true });
      rmSync(this.record, { force: true });
    });
  }

  /** Start writing `dest`: sweeps dead writers' leftovers, records the temp file, opens it. */
  static async create(store: Store, dest: string, mode = 0o644): Promise<OutputFile> {
    await sweepOutputs(store);
    const abs = path.resolve(dest);
    const hex = crypto().randomBytes(6).toString('hex');
    const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.bale-tmp-${process.pid}-${hex}`);
    const record = path.join(store.tmpDir, `${RECORD_PREFIX}${process.pid}-${hex}.json`);
    const rec: OutputRecord = { path: tmp, pid: process.pid, start: procInfo(process.pid)?.start ?? 0 };
    await writeFileAtomic(record, JSON.stringify(rec) + '\n', store.tmpDir);
    // A shallow buffer: each chunk is written while it is still in the CPU's cache (at 8 MiB the
    // writes came in batches of 7 MiB read back from memory: more system time, a slower export).
    // The disk's share of the work is overlapped by the Writeback instead.
    const writeback = new Writeback();
    const stream = createWriteStream(tmp, { mode, flags: 'wx', highWaterMark: 512 * 1024, fs: writeback.fs });
    const out = new OutputFile(abs, tmp, record, stream, writeback);
    try {
      await once(stream, 'open');
    } catch (e) {
      await out.abort();
      throw new BaleError(`cannot write ${dest}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    return out;
  }

  /**
   * Write `parts` (instead of piping to the stream, which is then ended): each buffer at its
   * position and each file range copied by the kernel (filecopy.ts), then its descriptor closed,
   * up to PARTS_IN_FLIGHT at once on the thread pool while the next parts are made. `onPart` is
   * called as each part is taken.
   */
  async writeParts(parts: Iterable<TarPart>, onPart?: () => void): Promise<void> {
    const fd = (this.stream as WriteStream & { fd: number }).fd;
    const inFlight = new Set<Promise<void>>();
    let pos = 0;
    let failed: { error: unknown } | undefined;
    try {
      for (const part of parts) {
        const at = pos;
        const len = Buffer.isBuffer(part) ? part.length : part.size;
        pos += len;
        const op: Promise<void> = (Buffer.isBuffer(part) ? writeAt(fd, part, at) : copyPart(part, fd, at))
          .then(
            () => this.writeback.wrote(fd, len),
            (e: unknown) => {
              if (Buffer.isBuffer(part) || WRITE_SIDE.has((e as NodeJS.ErrnoException).code ?? '')) this.writeError ??= e as Error;
              failed ??= { error: e };
            },
          )
          .finally(() => inFlight.delete(op));
        inFlight.add(op);
        onPart?.();
        while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
        if (failed) break;
      }
    } finally {
      await Promise.all(inFlight);
    }
    if (failed) throw failed.error;
    await new Promise<void>((resolve, reject) => this.stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }

  /** The stream has finished: make the file durable and put it in place. */
  async commit(): Promise<void> {
    await this.writeback.settle();
    const fh = await fsp.open(this.tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(this.tmp, this.dest);
    await this.finish();
  }

  /**
   * Give up because of `err`: the temp file goes, and the error to report comes back (a failed
   * write as one line naming the destination, not the temp file).
   */
  async fail(err: unknown): Promise<unknown> {
    await this.abort();
    const e = this.writeError ?? err;
    const code = (e as NodeJS.ErrnoException).code;
    if (e === this.writeError || (code && /^E[A-Z]+$/.test(code) && (e as NodeJS.ErrnoException).path === this.tmp)) {
      return new BaleError(`cannot write ${this.dest}: ${code ? `${code}: ` : ''}${oneLine(e).replace(/^E[A-Z]+: /, '').replace(/, \w+( '.*')?$/, '')}`, { cause: e });
    }
    return err;
  }

  /** Give up: the temp file goes, the destination is as it was. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.writeback.settle().catch(() => undefined); // its descriptor is about to close
    if (!this.stream.closed) {
      const closed = new Promise<void>((resolve) => this.stream.once('close', () => resolve()));
      this.stream.destroy();
      await closed;
    }
    await fsp.rm(this.tmp, { force: true });
    await this.finish();
  }

  private async finish(): Promise<void> {
    this.done = true;
    await fsp.rm(this.record, { force: true });
    this.forget();
  }
}

/** Parts writeParts has on the thread pool at once: 2 MiB of packer chunks at most. */
const PARTS_IN_FLIGHT = 8;

/** All of `b` written to `fd` at `pos`. */
async function writeAt(fd: number, b: Buffer, pos: number): Promise<void> {
  for (let off = 0; off < b.length; ) {
    const n = await new Promise<number>((resolve, reject) => write(fd, b, off, b.length - off, pos + off, (e, n) => (e ? reject(e) : resolve(n))));
    if (n === 0) throw Object.assign(new Error('EIO: a write wrote nothing'), { code: 'EIO' });
    off += n;
  }
}

/** Errors of a file range's copy that are the output's (the others are the input file's). */
const WRITE_SIDE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EBADF']);

/** A file range copied to `fd` at `pos`; its descriptor is closed whatever happens. */
async function copyPart(r: FileRange, fd: number, pos: number): Promise<void> {
  let copied: number;
  try {
    copied = await copyRange(r.fd, fd, pos, r.size);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw WRITE_SIDE.has(code) ? e : new BaleError(`${r.abs}: ${oneLine(e)}`, { cause: e });
  } finally {
    closeSync(r.fd);
  }
  if (copied !== r.size) throw new BaleError(`${r.abs}: changed size while being read (${copied} of ${r.size} bytes)`);
}

/** Remove the temp outputs of writers that are gone (killed outright). Returns how many. */
export async function sweepOutputs(store: Store): Promise<number> {
  let names: string[];
  try {
    names = (await fsp.readdir(store.tmpDir)).filter((n) => n.startsWith(RECORD_PREFIX));
  } catch {
    return 0;
  }
  let removed = 0;
  for (const n of names) {
    const file = path.join(store.tmpDir, n);
    const rec = await readJson<OutputRecord>(file).catch(() => undefined);
    if (rec && isAlive(rec.pid, rec.start)) continue;
    if (rec && typeof rec.path === 'string' && TEMP_NAME.test(path.basename(rec.path))) {
      const st = await fsp.lstat(rec.path).catch(() => undefined);
      if (st?.isFile()) {
        await fsp.rm(rec.path, { force: true });
        removed++;
      }
    }
    await fsp.rm(file, { force: true });
  }
  return removed;
}
