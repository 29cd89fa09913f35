// Packing a directory tree into a tar stream: files streamed from disk, never held whole.
//
// Input is a walk (tree.ts) in tar order. Output is an async iterable of buffers (wrap it with
// Readable.from to pipe). What is kept: type, mode (with setuid/setgid/sticky), uid/gid, mtime
// (whole seconds), symlink targets, device numbers, xattrs (pax SCHILY.xattr.*), hardlinks (by
// dev+inode when nlink > 1: the first name seen is the file, later names are link entries that
// repeat the file's xattrs).
// Overlay-internal xattrs (trusted.overlay.*, user.overlay.*) and security.selinux (a host label)
// are left out.
//
// Entries a walk flags in overlay form become layer-tar whiteouts: a whiteout device NAME becomes
// an empty file `.wh.NAME`; an opaque directory becomes the directory plus `DIR/.wh..wh..opq`.
import { keepXattr } from './rules.js';
import { closeSync, openSync, promises as fsp, readlinkSync, readSync, constants as fsc } from 'node:fs';
import { Readable } from 'node:stream';
import { getAttributeSync, listAttributesSync } from 'fs-xattr';
import { BaleError } from '../util/errors.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type EntryType, type TarHeader } from './tar-header.js';
import type { TreeEntry } from './tree.js';
import { WH_OPAQUE, WH_PREFIX } from './whiteout.js';

export interface PackOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), for reproducible layers. */
  clampMtime?: number;
  /** Leave these paths (and everything below them) out. */
  exclude?: (rel: string) => boolean;
}

export interface PackStats {
  entries: number;
  bytes: number;
  /** The layer's size as docker counts it (size.ts's entrySize summed over the entries written). */
  diffSize?: number;
}

const S_IFMT = 0o170000;

function entryType(mode: number): EntryType | undefined {
  switch (mode & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'character-device';
    case 0o060000:
      return 'block-device';
    case 0o010000:
      return 'fifo';
    default:
      return undefined; // sockets and anything else tar cannot hold
  }
}

function majorOf(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}
function minorOf(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}


/** Xattrs that mean overlayfs features the walk cannot flatten (the data is not where the upper says). */
const UNSUPPORTED_OVERLAY = ['trusted.overlay.redirect', 'trusted.overlay.metacopy'];

function readXattrs(abs: string): Map<string, Buffer> | undefined {
  let names: string[];
  try {
    names = listAttributesSync(abs);
  } catch {
    return undefined; // no xattr support on this file system
  }
  let out: Map<string, Buffer> | undefined;
  for (const n of names) {
    if (UNSUPPORTED_OVERLAY.includes(n)) {
      throw new BaleError(`${abs}: has ${n} (overlay redirect_dir/metacopy); bale mounts with both off and cannot read such an upper dir`);
    }
    if (!keepXattr(n)) continue;
    try {
      const v = getAttributeSync(abs, n);
      (out ??= new Map()).set(n, v);
    } catch {
      // vanished between list and get
    }
  }
  return out;
}

function baseHeader(e: TreeEntry, type: EntryType, opts: PackOptions): TarHeader {
  const mtime = Number(e.st.mtimeMs / 1000n);
  return {
    name: e.rel,
    type,
    mode: Number(e.st.mode) & 0o7777,
    uid: Number(e.st.uid),
    gid: Number(e.st.gid),
    size: 0,
    mtime: opts.clampMtime !== undefined && mtime > opts.clampMtime ? opts.clampMtime : mtime,
  };
}

/** Files up to this size are read in one synchronous call; larger ones are streamed. */
const SMALL_FILE = 1024 * 1024;

async function* fileBody(abs: string, size: number): AsyncGenerator<Buffer> {
  if (size === 0) return;
  let n = 0;
  if (size <= SMALL_FILE) {
    const buf = Buffer.allocUnsafe(size);
    const fd = openSync(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      for (;;) {
        const r = readSync(fd, buf, n, size - n, n);
        if (r === 0) break;
        n += r;
        if (n === size) break;
      }
    } finally {
      closeSync(fd);
    }
    if (n !== size) throw new BaleError(`${abs}: changed size while being read (${n} of ${size} bytes)`);
    yield buf;
  } else {
    const fh = await fsp.open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      for await (const chunk of fh.createReadStream({ start: 0, end: size - 1, highWaterMark: SMALL_FILE, autoClose: false })) {
        n += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    } finally {
      await fh.close();
    }
    if (n !== size) throw new BaleError(`${abs}: changed size while being read (${n} of ${size} bytes)`);
  }
  yield padding(size);
}

/**
 * The tar of a walk. Walks of overlay dirs that carry redirect/metacopy xattrs are refused: their
 * data is not where the walk finds it.
 */
export async function* packEntries(walk: AsyncIterable<TreeEntry>, opts: PackOptions = {}, stats?: PackStats): AsyncGenerator<Buffer> {
  yield* coalesce(packParts(walk, opts, stats));
}

/** Chunks below this size are gathered; the gathered ones go out once they reach BATCH. */
const SMALL_CHUNK = 64 * 1024;
const BATCH = 1024 * 1024;

/**
 * The same bytes in fewer, larger chunks: a tree of small files gives three small buffers per
 * file (header, content, padding), and every chunk costs a turn of the stream machinery and often
 * a write call of its own. Large chunks (big files' content) pass through uncopied.
 */
async function* coalesce(parts: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const b of parts) {
    if (b.length >= SMALL_CHUNK) {
      if (heldBytes) yield Buffer.concat(held, heldBytes);
      held = [];
      heldBytes = 0;
      yield b;
      continue;
    }
    held.push(b);
    heldBytes += b.length;
    if (heldBytes >= BATCH) {
      yield Buffer.concat(held, heldBytes);
      held = [];
      heldBytes = 0;
    }
  }
  if (heldBytes) yield Buffer.concat(held, heldBytes);
}

async function* packParts(walk: AsyncIterable<TreeEntry>, opts: PackOptions, stats?: PackStats): AsyncGenerator<Buffer> {
  const links = new Map<string, string>(); // "dev:ino" -> first name
  let skipUnder: string | undefined;
  const count = (b: Buffer): Buffer => {
    if (stats) stats.bytes += b.length;
    return b;
  };
  for await (const e of walk) {
    if (skipUnder !== undefined && (e.rel === skipUnder || e.rel.startsWith(skipUnder + '/'))) continue;
    skipUnder = undefined;
    if (opts.exclude?.(e.rel)) {
      skipUnder = e.rel;
      continue;
    }
    if (stats) stats.entries++;
    if (e.whiteout) {
      const slash = e.rel.lastIndexOf('/');
      const name = slash < 0 ? `${WH_PREFIX}${e.rel}` : `${e.rel.slice(0, slash)}/${WH_PREFIX}${e.rel.slice(slash + 1)}`;
      yield count(encodeHeader({ ...baseHeader(e, 'file', opts), name }));
      continue;
    }
    const type = entryType(Number(e.st.mode));
    if (!type) continue;
    const h = baseHeader(e, type, opts);
    if (type !== 'symlink') h.xattrs = readXattrs(e.abs);
    if (type !== 'directory' && e.st.nlink > 1n) {
      const key = `${e.st.dev}:${e.st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        // The xattrs again, as docker's own layers carry them: an unpacker chowns every entry, links
        // included, and the kernel drops security.capability from the shared inode on chown;
        // only xattrs set after that (from this entry) bring it back.
        yield count(encodeHeader({ ...h, type: 'link', linkname: first }));
        continue;
      }
      links.set(key, e.rel);
    }
    switch (type) {
      case 'file': {
        h.size = Number(e.st.size);
        if (stats) stats.diffSize = (stats.diffSize ?? 0) + h.size;
        yield count(encodeHeader(h));
        for await (const b of fileBody(e.abs, h.size)) yield count(b);
        break;
      }
      case 'symlink':
        h.linkname = readlinkSync(e.abs);
        if (stats) stats.diffSize = (stats.diffSize ?? 0) + Buffer.byteLength(h.linkname);
        yield count(encodeHeader(h));
        break;
      case 'character-device':
      case 'block-device':
        h.devmajor = majorOf(e.st.rdev);
        h.devminor = minorOf(e.st.rdev);
        yield count(encodeHeader(h));
        break;
      default:
        yield count(encodeHeader(h));
    }
    if (e.opaque) {
      yield count(encodeHeader({ ...baseHeader(e, 'file', opts), name: `${e.rel}/${WH_OPAQUE}`, mode: 0o644 }));
    }
  }
  yield count(END_OF_ARCHIVE);
}

/** packEntries as a byte stream. */
export function packStream(walk: AsyncIterable<TreeEntry>, opts: PackOptions = {}, stats?: PackStats): Readable {
  return Readable.from(packEntries(walk, opts, stats), { objectMode: false, highWaterMark: 1024 * 1024 });
}
