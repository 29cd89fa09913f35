// Reading tar streams (ustar, pax, GNU long names, v7) as a flat series of events: each entry's
// header, then its content in chunks as they arrive. Nothing is buffered beyond one input chunk.
// One synchronous parser does the reading; readTar drives it from an async iterable, and
// TarPusher from chunks pushed to it (the load-time check, which needs no await per entry).
//
// Written here rather than through tar-stream's extractor because import needs the raw bytes of
// pax records (binary xattr values such as security.capability) and pax uid/gid/mtime, and because
// a synchronous parse over the input chunks is several times faster on trees of small files.
import { BLOCK, type EntryType } from './tar-header.js';

export interface ReadHeader {
  name: string;
  /** The typeflag character ('0', '5', '2', ...; '\0' is reported as '0'). */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (pax mtime may carry a fraction). */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** pax records that applied to this entry (global ones included), values as raw bytes. */
  pax: ReadonlyMap<string, Buffer>;
}

export type TarEvent = { header: ReadHeader } | { data: Buffer };

export class TarFormatError extends Error {}

/** What each typeflag a layer may hold means (the reader reports '\0' and '7' as '0'). */
export const ENTRY_TYPES: Readonly<Record<string, EntryType>> = {
  '0': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

/** Buffers input chunks and hands out exact byte counts. */
class ByteQueue {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already taken (kept as an offset: a header costs one view, not two). */
  private head = 0;
  private len = 0;
  /** No more input will come. */
  ended = false;
  offset = 0;

  get available(): number {
    return this.len;
  }

  push(b: Buffer): void {
    if (b.length) {
      this.chunks.push(b);
      this.len += b.length;
    }
  }

  /** Take exactly n bytes (all buffered). */
  take(n: number): Buffer {
    this.offset += n;
    this.len -= n;
    const first = this.chunks[0]!;
    const start = this.head;
    if (first.length - start >= n) {
      const out = start === 0 && first.length === n ? first : first.subarray(start, start + n);
      this.advance(first, n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length - this.head, n - o);
      c.copy(out, o, this.head, this.head + k);
      o += k;
      this.advance(c, k);
    }
    return out;
  }

  /** Take up to n bytes from the first buffered chunk (at least one byte must be buffered). */
  takeSome(n: number): Buffer {
    return this.take(Math.min(n, this.chunks[0]!.length - this.head));
  }

  /** k bytes of the first chunk `c` are taken. */
  private advance(c: Buffer, k: number): void {
    this.head += k;
    if (this.head === c.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}

function cstring(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

/**
 * An octal field as writers fill it: digits, possibly after leading spaces or NULs (GNU tar and
 * others right-align some fields), ended by a NUL or a space (whatever follows is ignored) or by
 * the field's end. A field of only spaces and NULs is 0. -1 for anything else.
 */
function octalField(b: Buffer, off: number, len: number): number {
  const end = off + len;
  let i = off;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x30 && c <= 0x37) v = v * 8 + (c - 0x30);
    else if (c === 0 || c === 0x20) break;
    else return -1;
  }
  return v;
}

function num(b: Buffer, off: number, len: number, what: string): number {
  if (b[off]! & 0x80) {
    // GNU base-256: big-endian two's complement, first byte's top bit is the marker
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(i === 0 ? b[off]! & 0x7f : b[off + i]!);
    if (b[off]! & 0x40) v -= 1n << BigInt(len * 8 - 1);
    return Number(v);
  }
  const v = octalField(b, off, len);
  if (v < 0) throw new TarFormatError(`invalid number in ${what} field: ${JSON.stringify(b.toString('latin1', off, off + len).replace(/^[\0 ]+|[\0 ]+$/g, ''))}`);
  return v;
}

/** The stored checksum matches the header's bytes, summed unsigned (or signed, as some old tars did). */
function checksumOk(b: Buffer): boolean {
  const stored = b[148]! & 0x80 ? -1 : octalField(b, 148, 8);
  if (stored < 0) return false;
  // Every byte, eight a step (about 3x faster than one), less the checksum field, which counts as
  // eight spaces.
  let unsigned = 8 * 0x20;
  for (let i = 0; i < BLOCK; i += 8) unsigned += b[i]! + b[i + 1]! + b[i + 2]! + b[i + 3]! + b[i + 4]! + b[i + 5]! + b[i + 6]! + b[i + 7]!;
  for (let i = 148; i < 156; i++) unsigned -= b[i]!;
  if (stored === unsigned) return true;
  let high = 0; // bytes above 127, which the signed sum counts 256 lower
  for (let i = 0; i < BLOCK; i++) if (b[i]! > 127 && (i < 148 || i >= 156)) high++;
  return stored === unsigned - 256 * high;
}

/** The end-of-archive marker: a block of zeros. */
function zeroBlock(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

function parsePax(body: Buffer, into: Map<string, Buffer>): void {
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0) break; // padding
    const sp = body.indexOf(0x20, pos);
    if (sp < 0) throw new TarFormatError('malformed pax record');
    const len = Number(body.toString('ascii', pos, sp));
    if (!Number.isInteger(len) || len <= sp - pos + 1 || pos + len > body.length) throw new TarFormatError('malformed pax record length');
    const rec = body.subarray(sp + 1, pos + len - 1); // without the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError('malformed pax record (no =)');
    const key = rec.toString('utf8', 0, eq);
    const value = rec.subarray(eq + 1);
    if (value.length === 0) into.delete(key);
    else into.set(key, Buffer.from(value));
    pos += len;
  }
}

/** 'ustar' at the magic field (ustar and GNU headers; v7 has none and no prefix or device fields). */
function isUstar(b: Buffer): boolean {
  return b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72;
}

/** An entry's header from its block `b` and the pax records and GNU long names before it. */
function header(b: Buffer, typeflag: string, size: number, pax: ReadonlyMap<string, Buffer>, longName?: string, longLink?: string): ReadHeader {
  const ustar = isUstar(b);
  let name = cstring(b, 0, 100);
  // POSIX ustar (magic "ustar\0") puts the name's leading directories in a prefix field; GNU's
  // "ustar  " headers use those bytes for other things
  if (ustar && b[262] === 0 && b[345] !== 0) name = `${cstring(b, 345, 155)}/${name}`;
  const h: ReadHeader = {
    name: longName ?? name,
    typeflag,
    mode: num(b, 100, 8, 'mode'),
    uid: num(b, 108, 8, 'uid'),
    gid: num(b, 116, 8, 'gid'),
    size,
    mtime: num(b, 136, 12, 'mtime'),
    linkname: longLink ?? cstring(b, 157, 100),
    devmajor: ustar ? num(b, 329, 8, 'devmajor') : 0,
    devminor: ustar ? num(b, 337, 8, 'devminor') : 0,
    pax,
  };
  if (pax.size) applyPax(h);
  // only a GNU base-256 field can be negative
  if (h.uid < 0 || h.gid < 0 || h.size < 0) for (const k of ['uid', 'gid', 'size'] as const) if (h[k] < 0) throw new TarFormatError(`entry ${JSON.stringify(h.name)}: invalid ${k}`);
  // old (v7) tars mark directories only by the trailing slash
  if (h.typeflag === '0' && h.name.endsWith('/')) h.typeflag = '5';
  return h;
}

/** pax records override the header's fields; their numbers are text, so checked here. */
function applyPax(h: ReadHeader): void {
  const { pax } = h;
  for (const k of pax.keys()) if (k.startsWith('GNU.sparse.')) throw new TarFormatError('GNU sparse entries are not supported');
  const name = pax.get('path');
  if (name) h.name = name.toString('utf8');
  const link = pax.get('linkpath');
  if (link) h.linkname = link.toString('utf8');
  for (const k of ['uid', 'gid', 'size', 'mtime'] as const) {
    const v = pax.get(k);
    if (!v) continue;
    const n = Number(v.toString());
    if (!Number.isFinite(n) || (k !== 'mtime' && (n < 0 || !Number.isInteger(n)))) throw new TarFormatError(`entry ${JSON.stringify(h.name)}: invalid ${k}`);
    h[k] = n;
  }
}

const MAX_META = 16 * 1024 * 1024;
/** The pax records of the many entries that have none: one map, not one each. */
const NO_PAX: ReadonlyMap<string, Buffer> = new Map();
/** pax keys that describe one file and so mean nothing in a global header. */
const PER_FILE_KEYS = ['path', 'linkpath', 'size'];
/** Types whose size field says nothing about data following (as Go's archive/tar reads them). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

/**
 * The parser: yields the tar's events, or a number n when it needs n bytes buffered before it can
 * go on (its driver then pushes input until there are, or marks the queue ended). Returns at the
 * end-of-archive blocks or a clean end of input.
 */
function* parse(q: ByteQueue): Generator<TarEvent | number, void, void> {
  const global = new Map<string, Buffer>();
  let local: Map<string, Buffer> | undefined; // made by the first pax header before an entry
  let longName: string | undefined;
  let longLink: string | undefined;
  let sawEntry = false;
  function* readMeta(size: number, what: string): Generator<number, Buffer, void> {
    if (size > MAX_META) throw new TarFormatError(`${what} of ${size} bytes is too large`);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (q.available < padded && !q.ended) yield padded;
    if (q.available < padded) throw new TarFormatError('unexpected end of data');
    return q.take(padded).subarray(0, size);
  }
  for (;;) {
    if (q.available < BLOCK && !q.ended) yield BLOCK;
    if (q.available === 0) {
      if (!sawEntry) throw new TarFormatError('empty input');
      return; // no end-of-archive blocks: tolerated, as GNU tar does
    }
    if (q.available < BLOCK) throw new TarFormatError('unexpected end of data');
    const at = q.offset;
    const b = q.take(BLOCK);
    if (zeroBlock(b)) return;
    if (!checksumOk(b)) throw new TarFormatError(`invalid tar header at byte ${at}`);
    sawEntry = true;
    let typeflag = String.fromCharCode(b[156]!);
    if (typeflag === '\0' || typeflag === '7') typeflag = '0';
    const size = num(b, 124, 12, 'size');
    switch (typeflag) {
      case 'x':
        parsePax(yield* readMeta(size, 'pax header'), (local ??= new Map()));
        continue;
      case 'g':
        parsePax(yield* readMeta(size, 'pax global header'), global);
        // A name, link target or size names one file: from a global header they would rename every
        // entry after it (`path=evil/x`), which docker and tar-stream ignore. So does bale.
        for (const k of PER_FILE_KEYS) global.delete(k);
        continue;
      case 'L':
        longName = cstring(yield* readMeta(size, 'GNU long name'), 0, size);
        continue;
      case 'K':
        longLink = cstring(yield* readMeta(size, 'GNU long link name'), 0, size);
        continue;
      case 'V':
        yield* readMeta(size, 'volume header');
        continue;
      case 'S':
      case 'M':
      case 'N':
        throw new TarFormatError(`GNU ${typeflag === 'S' ? 'sparse' : 'multi-volume'} entries are not supported`);
    }
    const pax = global.size === 0 ? (local ?? NO_PAX) : new Map([...global, ...(local ?? [])]);
    local = undefined;
    const h = header(b, typeflag, size, pax, longName, longLink);
    longName = undefined;
    longLink = undefined;
    yield { header: h };
    const dataSize = HEADER_ONLY.has(typeflag) ? 0 : h.size;
    let left = dataSize;
    while (left > 0) {
      if (q.available === 0 && !q.ended) yield 1;
      if (q.available === 0) throw new TarFormatError(`entry ${JSON.stringify(h.name)}: unexpected end of data`);
      const c = q.takeSome(left);
      left -= c.length;
      yield { data: c };
    }
    const pad = (BLOCK - (dataSize % BLOCK)) % BLOCK;
    if (pad) {
      if (q.available < pad && !q.ended) yield pad;
      if (q.available < pad) throw new TarFormatError('unexpected end of data');
      q.take(pad);
    }
  }
}

/** The events of a tar stream. Stops at the end-of-archive blocks (or a clean end of input). */
export async function* readTar(input: AsyncIterable<Buffer | string>): AsyncGenerator<TarEvent> {
  const it = input[Symbol.asyncIterator]();
  const q = new ByteQueue();
  const parser = parse(q);
  for (let r = parser.next(); !r.done; r = parser.next()) {
    if (typeof r.value !== 'number') {
      yield r.value;
      continue;
    }
    while (q.available < r.value && !q.ended) {
      const c = await it.next();
      if (c.done) q.ended = true;
      else q.push(typeof c.value === 'string' ? Buffer.from(c.value) : c.value);
    }
  }
}

/**
 * The same reader, fed by push: each chunk's events go to `onEvent` before push returns (a
 * TarFormatError is thrown from push or end). After the end-of-archive blocks, input is ignored.
 */
export class TarPusher {
  private readonly q = new ByteQueue();
  private readonly parser = parse(this.q);
  /** Bytes the parser waits for; 0 once it has finished. */
  private need = -1;

  constructor(private readonly onEvent: (ev: TarEvent) => void) {}

  push(chunk: Buffer): void {
    if (this.need === 0) return;
    this.q.push(chunk);
    if (this.q.available >= this.need) this.step();
  }

  end(): void {
    if (this.need === 0) return;
    this.q.ended = true;
    this.step();
  }

  private step(): void {
    for (let r = this.parser.next(); ; r = this.parser.next()) {
      if (r.done) {
        this.need = 0;
        return;
      }
      if (typeof r.value !== 'number') this.onEvent(r.value);
      else if (this.q.available < r.value) {
        this.need = r.value;
        return;
      }
    }
  }
}
