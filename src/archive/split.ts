// Archives in parts, for media smaller than the archive (`bale save --split 4G -o NAME.tar`):
// NAME.tar.000, NAME.tar.001, … each at most SIZE bytes, and NAME.tar.sha256, the list of parts in
// `sha256sum` format (so `sha256sum -c NAME.tar.sha256` checks a set by hand too). Parts are written
// under temp names and renamed when all are complete, the list last. Reading (`bale load -i
// NAME.tar.000`) streams the parts in the list's order, hashing each, and names a part that is
// missing, of the wrong size, or whose bytes are not the list's.
import { createReadStream, createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { uniqueName } from '../util/fsx.js';
import { BaleError } from '../util/errors.js';

/** `4G`, `700M`, `64k`, `1000` → bytes (binary units, as split(1) reads them). */
export function parseSize(s: string): number {
  const m = /^(\d+)([kKmMgGtT]?)(i?[bB])?$/.exec(s.trim());
  if (!m) throw new BaleError(`${JSON.stringify(s)} is not a size (e.g. 4G, 700M, 64k)`);
  const n = Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  if (!(n >= 1)) throw new BaleError(`${JSON.stringify(s)} is not a size greater than 0`);
  return n;
}

const partName = (base: string, i: number) => `${base}.${String(i).padStart(3, '0')}`;
export const listName = (base: string) => `${base}.sha256`;

/** A Writable that cuts what it is given into parts of `size` bytes beside `base`. `commit()` after it finished. */
export class SplitWriter extends Writable {
  private parts: { tmp: string; name: string; hash: Hash; size: number }[] = [];
  private out?: WriteStream;

  constructor(private readonly base: string, private readonly size: number, private readonly onTemp?: (tmp: string) => void) {
    super({ highWaterMark: 1024 * 1024 });
  }

  private async next(): Promise<void> {
    if (this.out) {
      this.out.end();
      await once(this.out, 'finish');
    }
    const name = partName(this.base, this.parts.length);
    if (this.parts.length > 999) throw new BaleError(`${this.base}: more than 1000 parts (give a larger --split)`);
    const tmp = path.join(path.dirname(name), `.${path.basename(name)}.${uniqueName('bale')}`);
    this.parts.push({ tmp, name, hash: createHash('sha256'), size: 0 });
    this.onTemp?.(tmp);
    this.out = createWriteStream(tmp, { mode: 0o644 });
    await once(this.out, 'open');
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    (async () => {
      let rest = chunk;
      while (rest.length) {
        const cur = this.parts[this.parts.length - 1];
        if (!cur || cur.size === this.size) {
          await this.next();
          continue;
        }
        const take = rest.subarray(0, this.size - cur.size);
        rest = rest.subarray(take.length);
        cur.hash.update(take);
        cur.size += take.length;
        if (!this.out!.write(take)) await once(this.out!, 'drain');
      }
    })().then(() => done(), done);
  }

  override _final(done: (e?: Error | null) => void): void {
    (async () => {
      if (!this.out) await this.next();
      this.out!.end();
      await once(this.out!, 'finish');
    })().then(() => done(), done);
  }

  /** Sync every part, rename them into place, then write the list. */
  async commit(): Promise<number> {
    for (const p of this.parts) {
      const fh = await fsp.open(p.tmp, 'r+');
      await fh.sync();
      await fh.close();
    }
    for (const p of this.parts) await fsp.rename(p.tmp, p.name);
    const list = this.parts.map((p) => `${p.hash.digest('hex')}  ${path.basename(p.name)}\n`).join('');
    const tmp = `${listName(this.base)}.${uniqueName('t')}`;
    await fsp.writeFile(tmp, list, { mode: 0o644 });
    await fsp.rename(tmp, listName(this.base));
    return this.parts.length;
  }

  /** Remove whatever was written (after a failure). */
  async abort(): Promise<void> {
    this.out?.destroy();
    await Promise.allSettled(this.parts.map((p) => fsp.rm(p.tmp, { force: true })));
  }
}

/** For `NAME.000`: the set's base name; otherwise undefined. */
export function splitBase(file: string): string | undefined {
  const m = /^(.*)\.000$/.exec(file);
  return m ? m[1] : undefined;
}

interface Part {
  file: string;
  sha256: string;
}

/** The parts the list names, in order; a missing part or list is named. */
export async function readPartList(base: string): Promise<Part[]> {
  const list = listName(base);
  const text = await fsp.readFile(list, 'utf8').catch(() => {
    throw new BaleError(`${base}.000: the list of parts ${list} is missing`);
  });
  const parts: Part[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = /^([a-f0-9]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new BaleError(`${list}: not a sha256sum line: ${JSON.stringify(line.slice(0, 80))}`);
    parts.push({ file: path.join(path.dirname(base), m[2]!), sha256: m[1]! });
  }
  if (!parts.length) throw new BaleError(`${list}: names no part`);
  for (const p of parts) {
    await fsp.access(p.file).catch(() => {
      throw new BaleError(`${p.file}: part missing (${list} lists ${parts.length} parts)`);
    });
  }
  return parts;
}

/** The parts as one stream, each hashed on the way: a part whose bytes are not the list's fails the stream, naming it. */
export function joinParts(parts: Part[]): Readable {
  async function* gen() {
    for (const p of parts) {
      const h = createHash('sha256');
      for await (const c of createReadStream(p.file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
        h.update(c);
        yield c;
      }
      if (h.digest('hex') !== p.sha256) throw new BaleError(`${p.file}: part damaged (its sha256 is not the one the list gives)`);
    }
  }
  return Readable.from(gen(), { objectMode: false, highWaterMark: 1024 * 1024 });
}

/** After a failed read: the first part whose bytes are not the list's, if any (so the message names it). */
export async function damagedPart(parts: Part[]): Promise<string | undefined> {
  for (const p of parts) {
    const h = createHash('sha256');
    for await (const c of createReadStream(p.file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) h.update(c);
    if (h.digest('hex') !== p.sha256) return p.file;
  }
  return undefined;
}
