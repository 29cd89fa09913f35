// Encoding tar headers (POSIX ustar + pax extended headers) for the layer tars bale writes.
//
// Written here rather than through tar-stream's packer because layer tars need what it cannot do:
// binary xattr values (security.capability) in SCHILY.xattr records, sizes and ids past the ustar
// field limits, and a plain async-iterable of buffers that pipes with backpressure.
import path from 'node:path';

export type EntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface TarHeader {
  /** Relative path, no leading `/` or `./`; directories without a trailing slash (added here). */
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Content size; 0 for everything but regular files. */
  size: number;
  /** Seconds since the epoch (whole seconds). */
  mtime: number;
  /** Symlink target, or the hardlink's target entry name. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as `SCHILY.xattr.<name>` pax records. */
  xattrs?: Map<string, Buffer>;
}

const TYPEFLAG: Record<EntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

export const BLOCK = 512;
/** Two zero blocks end a tar. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

const ZEROS = Buffer.alloc(BLOCK);

/**
 * Zero bytes that pad `size` bytes of content up to a whole block: a view of one shared block of
 * zeros (never written to), so that padding costs no allocation.
 */
export function padding(size: number): Buffer {
  const r = size % BLOCK;
  return ZEROS.subarray(0, r === 0 ? 0 : BLOCK - r);
}

/** Does `n` fit an octal field of `width` bytes (width-1 digits plus NUL)? */
function fitsOctal(n: number, width: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < 8 ** (width - 1);
}

/** `n` as width-1 zero-padded octal digits and a NUL (0 when it does not fit), digit by digit. */
function writeOctal(buf: Buffer, off: number, width: number, n: number): void {
  let v = fitsOctal(n, width) ? n : 0;
  buf[off + width - 1] = 0;
  for (let i = off + width - 2; i >= off; i--) {
    buf[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
}

function writeString(buf: Buffer, off: number, width: number, s: Buffer): void {
  s.copy(buf, off, 0, Math.min(width, s.length));
}

/** One pax record: `<len> <key>=<value>\n`, where len counts the whole record including itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'ascii'), body]);
}

/** Magic and version of a POSIX ustar header. */
const USTAR_MAGIC = Buffer.from('ustar\u000000', 'ascii');

function ustar(h: { name: Buffer; prefix?: Buffer; mode: number; uid: number; gid: number; size: number; mtime: number; typeflag: string; linkname?: Buffer; devmajor?: number; devminor?: number }): Buffer {
  const b = Buffer.allocUnsafe(BLOCK).fill(0); // from Node's pool: no allocation of its own
  writeString(b, 0, 100, h.name);
  writeOctal(b, 100, 8, h.mode & 0o7777);
  writeOctal(b, 108, 8, h.uid);
  writeOctal(b, 116, 8, h.gid);
  writeOctal(b, 124, 12, h.size);
  writeOctal(b, 136, 12, h.mtime);
  b[156] = h.typeflag.charCodeAt(0);
  if (h.linkname) writeString(b, 157, 100, h.linkname);
  USTAR_MAGIC.copy(b, 257);
  writeOctal(b, 329, 8, h.devmajor ?? 0);
  writeOctal(b, 337, 8, h.devminor ?? 0);
  if (h.prefix) writeString(b, 345, 155, h.prefix);
  writeChecksum(b);
  return b;
}

/** A header block's checksum: the sum of all its bytes with the checksum field taken as eight spaces. */
function writeChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  writeOctal(b, 148, 7, sum); // six digits and a NUL
  b[155] = 0x20;
}

/**
 * Put `size` into ustar header block `b` in GNU base-256 (for sizes past the octal field's 8 GiB,
 * which every tar reader takes), keeping the entry one block where a pax header would add one.
 */
export function setBase256Size(b: Buffer, size: number): void {
  b[124] = 0x80;
  for (let i = 135, n = size; i > 124; i--, n = Math.floor(n / 256)) b[i] = n % 256;
  writeChecksum(b);
}

/** Split a long name into ustar prefix + name if it can be (prefix ≤155 bytes, name ≤100, split at a `/`). */
function splitUstar(name: Buffer): { prefix: Buffer; name: Buffer } | undefined {
  if (name.length <= 100) return { prefix: Buffer.alloc(0), name };
  if (name.length > 256) return undefined;
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
    if (i < name.length - 101) break;
  }
  return undefined;
}

/**
 * The header block(s) for one entry: a pax extended header first when something does not fit ustar
 * (long names or link targets, large ids/sizes, xattrs), then the ustar block.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const fullName = h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const nameBuf = Buffer.from(fullName, 'utf8');
  const linkBuf = h.linkname === undefined ? undefined : Buffer.from(h.linkname, 'utf8');
  const records: Buffer[] = [];
  const split = splitUstar(nameBuf);
  if (!split) records.push(paxRecord('path', nameBuf));
  if (linkBuf && linkBuf.length > 100) records.push(paxRecord('linkpath', linkBuf));
  if (!fitsOctal(h.uid, 8)) records.push(paxRecord('uid', Buffer.from(String(h.uid))));
  if (!fitsOctal(h.gid, 8)) records.push(paxRecord('gid', Buffer.from(String(h.gid))));
  if (!fitsOctal(h.size, 12)) records.push(paxRecord('size', Buffer.from(String(h.size))));
  if (!fitsOctal(h.mtime, 12)) records.push(paxRecord('mtime', Buffer.from(String(h.mtime))));
  if (h.xattrs) {
    for (const k of [...h.xattrs.keys()].sort()) records.push(paxRecord(`SCHILY.xattr.${k}`, h.xattrs.get(k)!));
  }
  const main = ustar({
    name: split ? split.name : nameBuf.subarray(0, 100),
    prefix: split?.prefix,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime: h.mtime,
    typeflag: TYPEFLAG[h.type],
    linkname: linkBuf?.subarray(0, 100),
    devmajor: h.devmajor,
    devminor: h.devminor,
  });
  if (records.length === 0) return main;
  const body = Buffer.concat(records);
  const paxName = Buffer.from(`PaxHeaders/${path.posix.basename(fullName)}`.slice(0, 99), 'utf8').subarray(0, 100);
  const pax = ustar({ name: paxName, mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: fitsOctal(h.mtime, 12) ? h.mtime : 0, typeflag: 'x' });
  return Buffer.concat([pax, body, padding(body.length), main]);
}
