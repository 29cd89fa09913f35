// Files bale writes outside the store (`save -o`, `export -o`): written under a temp name beside the
// destination, renamed over it when complete. The temp file is removed on every error and on
// SIGINT/SIGTERM/SIGHUP; for a bale killed outright, each one is recorded in the store
// (tmp/output-*.json: its path and the owner's pid and start time), and the next gc, save or
// export removes those whose owner is gone. A live writer's file is never touched.
import { createWriteStream, promises as fsp, rmSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { BaleError, oneLine } from '../util/errors.js';
import { onInterrupt } from '../util/interrupt.js';
import { isAlive, procInfo } from '../util/proc.js';
import { readJson, writeFileAtomic } from '../util/fsx.js';
import { crypto } from '../util/crypto.js';
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

export class OutputFile {
  private done = false;
  private readonly forget: () => void;
  private writeError: Error | undefined;

  private constructor(readonly dest: string, readonly tmp: string, private readonly record: string, readonly stream: WriteStream) {
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
    // A deep buffer: what is written next is made while the earlier megabytes go to the disk.
    const stream = createWriteStream(tmp, { mode, flags: 'wx', highWaterMark: 8 * 1024 * 1024 });
    const out = new OutputFile(abs, tmp, record, stream);
    try {
      await once(stream, 'open');
    } catch (e) {
      await out.abort();
      throw new BaleError(`cannot write ${dest}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    return out;
  }

  /** The stream has finished: make the file durable and put it in place. */
  async commit(): Promise<void> {
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
