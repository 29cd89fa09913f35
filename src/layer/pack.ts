// Packing a directory tree into a tar stream: files streamed from disk, never held whole.
//
// Input is a walk (tree.ts) in tar order. Output is an iterable of buffers (wrap it with
// Readable.from to pipe); both are synchronous, as every file operation here is. packRanges gives
// the contents of large files as open descriptors instead, for a writer that copies them in the
// kernel (store/outputs.ts, export -o). What is kept: type, mode (with setuid/setgid/sticky), uid/gid, mtime
// (whole seconds), symlink targets, device numbers, xattrs (pax SCHILY.xattr.*), hardlinks (by
// dev+inode when nlink > 1: the first name seen is the file, later names are link entries that
// repeat the file's xattrs).
// Overlay-internal xattrs (trusted.overlay.*, user.overlay.*) and security.selinux (a host label)
// are left out.
//
// Entries a walk flags in overlay form become layer-tar whiteouts: a whiteout device NAME becomes
// an empty file `.wh.NAME`; an opaque directory becomes the directory plus `DIR/.wh..wh..opq`.
import { keepXattr } from './rules.js';
import { closeSync, openSync, readlinkSync, readSync, constants as fsc } from 'node:fs';
import { Readable } from 'node:stream';
import { BaleError, oneLine } from '../util/errors.js';
import { readXattrMap } from '../util/xattrs.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type EntryType, type TarHeader } from './tar-header.js';
import type { TreeEntry } from './tree.js';
import { WH_OPAQUE, WH_PREFIX } from './whiteout.js';

export interface PackOptions {
  /** Clamp every mtime to at most this (seconds since the epoch), for reproducible layers. */
  clampMtime?: number;
  /** Leave these paths (and everything below them) out. */
  exclude?: (rel: string) => boolean;
}

/** A regular file's contents, `size` bytes from offset 0 of `fd`: the consumer copies them and closes `fd`. */
export interface FileRange {
  fd: number;
  size: number;
  /** The file's path, for errors. */
  abs: string;
}

/** What packRanges gives: the tar's bytes, or a file's contents to copy from where they are. */
export type TarPart = Buffer | FileRange;

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

/** The xattrs to pack of `abs` (read by path, or from `fd`, the same file open). */
function readXattrs(abs: string, fd?: number): Map<string, Buffer> | undefined {
  const all = readXattrMap(fd ?? abs);
  if (!all) return undefined;
  let out: Map<string, Buffer> | undefined;
  for (const [n, v] of all) {
    if (UNSUPPORTED_OVERLAY.includes(n)) {
      throw new BaleError(`${abs}: has ${n} (overlay redirect_dir/metacopy); bale mounts with both off and cannot read such an upper dir`);
    }
    if (keepXattr(n)) (out ??= new Map()).set(n, v);
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

/**
 * The output goes out in chunks of this size (the last may be shorter): small enough to be still in
 * the CPU's cache when it is written or hashed (1 MiB chunks written in batches of 7 MiB cost an
 * export of 512 MiB about 0.5 s more system time here than 256 KiB chunks written one or two at a time).
 */
const BATCH = 256 * 1024;

/**
 * The tar's bytes gathered into BATCH-sized chunks: a tree of small files gives three small
 * pieces per file (header, content, padding), and every chunk costs a turn of the stream
 * machinery and often a write call of its own. File contents are read straight into the chunk,
 * synchronously (a read from the page cache costs less than a round trip to the thread pool),
 * never into a buffer of their own.
 */
class Output {
  private buf = Buffer.allocUnsafe(BATCH);
  private len = 0;
  /** Chunks ready to go out, in order. */
  readonly ready: Buffer[] = [];

  constructor(private readonly stats?: PackStats) {}

  flush(): void {
    if (this.len === 0) return;
    this.ready.push(this.buf.subarray(0, this.len));
    this.buf = Buffer.allocUnsafe(BATCH);
    this.len = 0;
  }

  /** Add `b` (a header, padding, the end of the archive). */
  add(b: Buffer): void {
    if (this.stats) this.stats.bytes += b.length;
    if (this.len + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) {
      this.ready.push(b); // a pax header of very large xattrs
      return;
    }
    b.copy(this.buf, this.len);
    this.len += b.length;
  }

  /**
   * The `size` bytes of regular file `abs`, open as `fd`, and their padding, read into the chunks;
   * each chunk that fills is handed out before the next read, so a file of any size holds one
   * chunk at most.
   */
  *file(fd: number, abs: string, size: number): Generator<Buffer> {
    let n = 0;
    while (n < size) {
      if (this.len === this.buf.length) {
        this.flush();
        yield* this.ready.splice(0);
      }
      let r: number;
      try {
        r = readSync(fd, this.buf, this.len, Math.min(size - n, this.buf.length - this.len), n);
      } catch (err) {
        throw new BaleError(`${abs}: ${oneLine(err)}`, { cause: err }); // ESPIPE: a fifo now
      }
      if (r === 0) break;
      n += r;
      this.len += r;
      if (this.stats) this.stats.bytes += r;
    }
    if (n !== size) throw new BaleError(`${abs}: changed size while being read (${n} of ${size} bytes)`);
    this.add(padding(size));
  }
}

/**
 * The tar of a walk. Walks of overlay dirs that carry redirect/metacopy xattrs are refused: their
 * data is not where the walk finds it.
 */
export function* packEntries(walk: Iterable<TreeEntry>, opts: PackOptions = {}, stats?: PackStats): Generator<Buffer> {
  yield* packParts(walk, false, opts, stats) as Generator<Buffer>;
}

/**
 * The tar of a walk as packEntries makes it, except that a regular file larger than one chunk
 * comes as a FileRange (its descriptor opened as Output.file opens it) for the consumer to copy.
 */
export function* packRanges(walk: Iterable<TreeEntry>, opts: PackOptions = {}, stats?: PackStats): Generator<TarPart> {
  yield* packParts(walk, true, opts, stats);
}

/** Every entry of the walk, in chunks yielded as they fill (and file ranges, with `ranges`). */
function* packParts(walk: Iterable<TreeEntry>, ranges: boolean, opts: PackOptions, stats?: PackStats): Generator<TarPart> {
  const out = new Output(stats);
  yield* packEntryParts(walk, out, ranges, opts, stats);
  out.flush();
  yield* out.ready.splice(0);
}

function* packEntryParts(walk: Iterable<TreeEntry>, out: Output, ranges: boolean, opts: PackOptions, stats?: PackStats): Generator<TarPart> {
  const links = new Map<string, string>(); // "dev:ino" -> first name
  let skipUnder: string | undefined;
  for (const e of walk) {
    yield* out.ready.splice(0);
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
      out.add(encodeHeader({ ...baseHeader(e, 'file', opts), name }));
      continue;
    }
    const type = entryType(Number(e.st.mode));
    if (!type) continue;
    const h = baseHeader(e, type, opts);
    if (type !== 'directory' && e.st.nlink > 1n) {
      const key = `${e.st.dev}:${e.st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        // The xattrs again, as docker's own layers carry them: an unpacker chowns every entry, links
        // included, and the kernel drops security.capability from the shared inode on chown;
        // only xattrs set after that (from this entry) bring it back.
        if (type !== 'symlink') h.xattrs = readXattrs(e.abs);
        out.add(encodeHeader({ ...h, type: 'link', linkname: first }));
        continue;
      }
      links.set(key, e.rel);
    }
    if (type === 'file' && e.st.size > 0n) {
      yield* packFile(out, e, h, ranges, stats);
      continue;
    }
    if (type !== 'symlink') h.xattrs = readXattrs(e.abs);
    switch (type) {
      case 'file':
        if (stats) stats.diffSize ??= 0;
        out.add(encodeHeader(h));
        break;
      case 'symlink':
        h.linkname = readlinkSync(e.abs);
        if (stats) stats.diffSize = (stats.diffSize ?? 0) + Buffer.byteLength(h.linkname);
        out.add(encodeHeader(h));
        break;
      case 'character-device':
      case 'block-device':
        h.devmajor = majorOf(e.st.rdev);
        h.devminor = minorOf(e.st.rdev);
        out.add(encodeHeader(h));
        break;
      default:
        out.add(encodeHeader(h));
    }
    if (e.opaque) {
      out.add(encodeHeader({ ...baseHeader(e, 'file', opts), name: `${e.rel}/${WH_OPAQUE}`, mode: 0o644 }));
    }
  }
  out.add(END_OF_ARCHIVE);
}

/**
 * A regular file with contents: opened first (never through a symlink), so its xattrs and its
 * bytes come from the one file the descriptor holds; read into the chunks, or with `ranges` and
 * more than a chunk of it, handed out as a FileRange (the descriptor goes with it). O_NONBLOCK:
 * a fifo put in the file's place since the walk's lstat (a running container can) fails the
 * read instead of hanging the open; a regular file reads the same.
 */
function* packFile(out: Output, e: TreeEntry, h: TarHeader, ranges: boolean, stats?: PackStats): Generator<TarPart> {
  let fd: number | undefined = openSync(e.abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  try {
    h.xattrs = readXattrs(e.abs, fd);
    h.size = Number(e.st.size);
    if (stats) stats.diffSize = (stats.diffSize ?? 0) + h.size;
    out.add(encodeHeader(h));
    if (!ranges || h.size <= BATCH) {
      yield* out.file(fd, e.abs, h.size);
      return;
    }
    out.flush();
    yield* out.ready.splice(0);
    const range: FileRange = { fd, size: h.size, abs: e.abs };
    fd = undefined;
    yield range;
    if (stats) stats.bytes += h.size;
    out.add(padding(h.size));
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** packEntries as a byte stream. */
export function packStream(walk: Iterable<TreeEntry>, opts: PackOptions = {}, stats?: PackStats): Readable {
  return Readable.from(packEntries(walk, opts, stats), { objectMode: false, highWaterMark: 1024 * 1024 });
}
