// Apply one layer tar stream onto an empty directory, leaving it ready to be an overlayfs layer.
//
// Whiteouts become what overlayfs reads: `.wh.NAME` a 0/0 character device NAME, `.wh..wh..opq` the
// xattr trusted.overlay.opaque=y (user.overlay.opaque in a user namespace) on its directory. In a
// user namespace (rootless), ids the namespace does not map stay the caller's and device nodes are
// skipped: the kernel refuses both there. Nothing is ever written through a symlink: every
// parent component of every entry (and of every hardlink target) is checked with lstat inside the
// root, and files are opened with O_NOFOLLOW | O_EXCL (a name already taken is cleared first and the
// open tried again). Before that, each entry passes the same LayerRules the load-time check applies.
import { spawn } from 'node:child_process';
import { closeSync, lstatSync, constants as fsc, fchmodSync, fchownSync, futimesSync, openSync, promises as fsp, writeSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ENTRY_TYPES, readTar, TarFormatError, type ReadHeader, type TarEvent } from './tar-reader.js';
import { setAttribute } from 'fs-xattr';
import { cleanEntryPath } from './entry-path.js';
import { keepXattr, LayerRules } from './rules.js';
import { inUserNamespace } from '../util/userns.js';
import { overlayOpaqueXattr, parseWhiteout } from './whiteout.js';

export interface ApplyOptions {
  /**
   * Set ownership and create device nodes. Defaults to running as root; without it, uid/gid are
   * left as the caller's and device entries are skipped (an unprivileged process cannot make them).
   */
  privileged?: boolean;
  /** The input is a plain tar (a build context, a tar ADD unpacks), not a layer: no whiteouts. */
  plain?: boolean;
}

export interface ApplyResult {
  entries: number;
  whiteouts: number;
  /** Device entries not created because the process is not privileged (or in a user namespace). */
  skippedDevices: number;
  /** Entries whose uid or gid the user namespace does not map, left owned by its root. */
  unmappedOwners: number;
}

/** One entry's header, as the applier uses it. */
interface EntryHeader {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** xattrs from pax SCHILY.xattr.* records, values as raw bytes (security.capability is binary). */
  xattrs: Map<string, Buffer>;
}


function entryHeader(h: ReadHeader): EntryHeader {
  const xattrs = new Map<string, Buffer>();
  for (const [k, v] of h.pax) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
  return {
    name: h.name,
    type: ENTRY_TYPES[h.typeflag] ?? `type ${JSON.stringify(h.typeflag)}`,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    mtime: new Date(Math.floor(h.mtime) * 1000),
    linkname: h.linkname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs,
  };
}

type Body = AsyncIterable<Buffer>;

interface DirMeta {
  mode: number;
  mtime: Date;
}


class Applier {
  private readonly checkedDirs = new Set<string>(['']);
  private readonly dirMeta = new Map<string, DirMeta>();
  readonly result: ApplyResult = { entries: 0, whiteouts: 0, skippedDevices: 0, unmappedOwners: 0 };
  private readonly userns = inUserNamespace();

  constructor(private readonly root: string, private readonly privileged: boolean, private readonly whiteouts = true) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  /**
   * Walk the parent directories of `rel` inside the root: none may be a symlink or anything but a
   * directory. For an entry (`create`), missing parents are made (0755, as tar does); for a hardlink
   * target they must already exist. Checked directories are remembered until replaced.
   */
  private async checkParents(rel: string, entry: string, create: boolean): Promise<void> {
    const parts = rel.split('/');
    parts.pop();
    let cur = '';
    for (const p of parts) {
      cur = cur ? `${cur}/${p}` : p;
      if (this.checkedDirs.has(cur)) continue;
      const st = await lstatOrUndefined(this.abs(cur));
      if (st?.isSymbolicLink()) throw new Error(`path traversal via symlink: ${entry}${create ? '' : ` (hardlink target ${rel})`}`);
      if (!st && create) await fsp.mkdir(this.abs(cur), { mode: 0o755 });
      else if (!st?.isDirectory()) throw new Error(create ? `${entry}: parent ${cur} is not a directory` : `${entry}: hardlink target ${rel} does not exist in the layer`);
      this.checkedDirs.add(cur);
    }
  }

  /** Forget that `rel` and anything below it were checked directories (it is being replaced). */
  private forget(rel: string): void {
    const prefix = rel + '/';
    this.checkedDirs.delete(rel);
    for (const d of this.checkedDirs) if (d.startsWith(prefix)) this.checkedDirs.delete(d);
    for (const d of this.dirMeta.keys()) if (d === rel || d.startsWith(prefix)) this.dirMeta.delete(d);
  }

  /** Remove whatever is at `rel` unless it is a directory and `keepDir` is set. Returns the old stat. */
  private async clear(rel: string, keepDir: boolean): Promise<Stats | undefined> {
    const p = this.abs(rel);
    // Synchronous: in a fresh layer directory this is almost always a quick ENOENT.
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.isDirectory() && keepDir) return st;
    this.forget(rel);
    await fsp.rm(p, { recursive: true, force: true });
    return undefined;
  }

  /**
   * Run `create`, which makes `rel` and fails with EEXIST if the name is taken; if it is, remove
   * what is there and run it again. In a fresh layer directory the name is almost always free, so
   * this saves the lstat per entry that checking first would cost (tar does not make one either).
   */
  private async replacing<T>(rel: string, create: () => T | Promise<T>): Promise<T> {
    try {
      return await create();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'EISDIR') throw e;
    }
    await this.clear(rel, false);
    return await create();
  }

  /** Apply one entry; a failure is reported as one line naming the entry. */
  async entry(header: EntryHeader, body: Body): Promise<void> {
    try {
      await this.entryInner(header, body);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!;
      // Our own messages already name the entry; a system error (EACCES, ENOSPC...) names a host path.
      const own = msg.includes(header.name) || msg.includes(JSON.stringify(header.name));
      throw new Error(own ? msg : `${header.name}: ${msg.replace(this.root + '/', '')}`);
    }
  }

  private async entryInner(header: EntryHeader, body: Body): Promise<void> {
    const name = header.name;
    let rel: string;
    try {
      rel = cleanEntryPath(name);
    } catch (e) {
      throw new Error((e as Error).message);
    }
    this.result.entries++;
    const wh = rel === '' || !this.whiteouts ? undefined : parseWhiteout(rel);
    if (wh) {
      await drain(body);
      this.result.whiteouts++;
      if (wh.kind === 'opaque') {
        const dir = wh.dir;
        if (dir !== '') {
          await this.checkParents(dir, name, true);
          const st = await lstatOrUndefined(this.abs(dir));
          if (!st) {
            await fsp.mkdir(this.abs(dir), { mode: 0o755 });
            this.dirMeta.set(dir, { mode: 0o755, mtime: header.mtime ?? new Date(0) });
          } else if (!st.isDirectory()) {
            throw new Error(`${name}: opaque whiteout in ${dir}, which is not a directory`);
          }
        }
        await setAttribute(this.abs(dir), overlayOpaqueXattr(), 'y').catch((e: Error) => {
          throw new Error(`${name}: cannot set ${overlayOpaqueXattr()}: ${e.message}`);
        });
        return;
      }
      await this.checkParents(wh.target, name, true);
      await this.clear(wh.target, false);
      await mknod(this.abs(wh.target), 'c', 0, 0, name);
      return;
    }

    const type = header.type ?? 'file';
    if (rel === '') {
      // The root itself: only its metadata matters.
      await drain(body);
      if (type !== 'directory') throw new Error(`${name}: the layer root must be a directory, not a ${type}`);
      await this.owner(rel, header);
      this.dirMeta.set(rel, { mode: header.mode ?? 0o755, mtime: header.mtime ?? new Date(0) });
      await this.xattrs(rel, header);
      return;
    }
    await this.checkParents(rel, name, true);
    const p = this.abs(rel);

    switch (type) {
      case 'directory': {
        await drain(body);
        // An existing directory is kept (its contents stay); anything else there is replaced.
        await fsp.mkdir(p, { mode: 0o700 }).catch(async (e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
          if (!(await this.clear(rel, true))) await fsp.mkdir(p, { mode: 0o700 });
        });
        this.checkedDirs.add(rel);
        await this.owner(rel, header);
        this.dirMeta.set(rel, { mode: header.mode ?? 0o755, mtime: header.mtime ?? new Date(0) });
        await this.xattrs(rel, header);
        return;
      }
      case 'file':
      case 'contiguous-file': {
        // Synchronous calls on the open descriptor: a layer is mostly small files, and a trip
        // through libuv's pool per open/write/chown/chmod/utimes costs more than the call itself
        // (the first run of a many-file image took 2-3x longer that way). Working on the fd also
        // means nothing after the O_NOFOLLOW|O_EXCL open can be redirected by a path.
        const fd = await this.replacing(rel, () => openSync(p, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600));
        try {
          // Plain async iteration: tar-stream's entry streams are streamx, which Node's pipeline()
          // does not always see end or fail. Each chunk is written before the next is read.
          for await (const chunk of body as AsyncIterable<Buffer>) {
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
          }
          // chown first: it clears setuid/setgid bits, which the chmod after it puts back.
          if (this.privileged) this.chown(() => fchownSync(fd, header.uid ?? 0, header.gid ?? 0));
          fchmodSync(fd, (header.mode ?? 0o644) & 0o7777);
          if (header.xattrs.size) await this.xattrs(rel, header);
          futimesSync(fd, header.mtime ?? new Date(0), header.mtime ?? new Date(0));
        } finally {
          closeSync(fd);
        }
        return;
      }
      case 'symlink': {
        await drain(body);
        await this.replacing(rel, () => fsp.symlink(header.linkname ?? '', p));
        await this.owner(rel, header);
        await fsp.lutimes(p, header.mtime ?? new Date(0), header.mtime ?? new Date(0));
        return;
      }
      case 'link': {
        await drain(body);
        const target = cleanEntryPath(header.linkname ?? '', `hardlink ${name} target`);
        if (target === '') throw new Error(`${name}: hardlink to the layer root`);
        await this.checkParents(target, name, false);
        const tst = await lstatOrUndefined(this.abs(target));
        if (!tst) throw new Error(`${name}: hardlink target ${target} does not exist in the layer`);
        if (tst.isDirectory()) throw new Error(`${name}: hardlink target ${target} is a directory`);
        if (target === rel) return;
        await this.replacing(rel, () => fsp.link(this.abs(target), p));
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await drain(body);
        if ((!this.privileged || this.userns) && type !== 'fifo') {
          this.result.skippedDevices++;
          return;
        }
        await this.clear(rel, false);
        const t = type === 'fifo' ? 'p' : type === 'character-device' ? 'c' : 'b';
        await mknod(p, t, header.devmajor ?? 0, header.devminor ?? 0, name);
        await this.meta(rel, header);
        return;
      }
      default:
        await drain(body);
        throw new Error(`${name}: unsupported tar entry type ${type}`);
    }
  }

  private async owner(rel: string, h: EntryHeader): Promise<void> {
    if (!this.privileged) return;
    try {
      await fsp.lchown(this.abs(rel), h.uid ?? 0, h.gid ?? 0);
    } catch (e) {
      this.unmapped(e);
    }
  }

  private chown(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.unmapped(e);
    }
  }

  /** A chown failed: EINVAL in a user namespace is an id it does not map, left as it is and counted; the rest throw. */
  private unmapped(e: unknown): void {
    if (!(this.userns && (e as NodeJS.ErrnoException).code === 'EINVAL')) throw e;
    this.result.unmappedOwners++;
  }

  private async meta(rel: string, h: EntryHeader): Promise<void> {
    const p = this.abs(rel);
    // chown first: it clears setuid/setgid bits, which the chmod after it puts back.
    await this.owner(rel, h);
    await fsp.chmod(p, (h.mode ?? 0o644) & 0o7777);
    await this.xattrs(rel, h);
    await fsp.lutimes(p, h.mtime ?? new Date(0), h.mtime ?? new Date(0));
  }

  private async xattrs(rel: string, h: EntryHeader): Promise<void> {
    for (const [name, value] of h.xattrs) {
      if (!keepXattr(name)) continue;
      try {
        await setAttribute(this.abs(rel), name, value);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // A file system without xattrs, or a namespace we may not write: not the layer's fault.
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || (!this.privileged && code === 'EPERM')) continue;
        throw new Error(`${h.name}: cannot set xattr ${name}: ${(e as Error).message}`);
      }
    }
  }

  /** Directory modes and mtimes last, deepest first, so writing their contents does not disturb them. */
  async finish(): Promise<void> {
    const dirs = [...this.dirMeta.keys()].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
    for (const d of dirs) {
      const m = this.dirMeta.get(d)!;
      const p = this.abs(d);
      // chmod follows symlinks: make sure this is still the directory it was (belt and braces).
      const st = await lstatOrUndefined(p);
      if (!st?.isDirectory()) continue;
      await fsp.chmod(p, m.mode & 0o7777);
      await fsp.lutimes(p, m.mtime, m.mtime);
    }
  }
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function drain(body: Body): Promise<void> {
  for await (const chunk of body) void chunk;
}

/** Node has no mknod(2): util-linux/coreutils mknod does it. */
function mknod(p: string, type: 'c' | 'b' | 'p', major: number, minor: number, entry: string): Promise<void> {
  const args = type === 'p' ? ['-m', '0', p, 'p'] : ['-m', '0', p, type, String(major), String(minor)];
  return new Promise((resolve, reject) => {
    const child = spawn('mknod', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => reject(new Error(`${entry}: cannot run mknod: ${e.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${entry}: mknod failed: ${err.trim().split('\n')[0] ?? code}`)),
    );
  });
}

/**
 * Apply the uncompressed layer tar read from `input` onto `dest` (an existing, normally empty,
 * directory). Resolves once the whole input has been consumed and every entry written; rejects with
 * a one-line error naming the entry and the problem.
 */
export async function applyLayer(input: Readable | NodeJS.ReadableStream, dest: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const privileged = opts.privileged ?? process.getuid?.() === 0;
  const applier = new Applier(path.resolve(dest), privileged, !opts.plain);
  // The rules every layer reader applies (as load did); the applier checks the disk besides.
  const rules = new LayerRules(!opts.plain);
  // Our own iterator over the input, without return(): stopping at the end-of-archive blocks must not
  // destroy the input, whose remaining bytes (trailing zero blocks) a caller may still be hashing.
  const source = (input as Readable)[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const events = readTar({ [Symbol.asyncIterator]: () => ({ next: () => source.next() }) })[Symbol.asyncIterator]();
  let lookahead: TarEvent | undefined;
  const nextEvent = async (): Promise<TarEvent | undefined> => {
    if (lookahead) {
      const e = lookahead;
      lookahead = undefined;
      return e;
    }
    const r = await events.next();
    return r.done ? undefined : r.value;
  };
  // An entry's body: the data events up to the next header.
  const body = (): Body => ({
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const e = await nextEvent();
        if (!e) return;
        if ('header' in e) {
          lookahead = e;
          return;
        }
        yield e.data;
      }
    },
  });
  try {
    for (;;) {
      const e = await nextEvent();
      if (!e) break;
      if (!('header' in e)) continue; // data an entry left unread
      const b = body();
      rules.check(e.header);
      await applier.entry(entryHeader(e.header), b);
      await drain(b);
    }
    while (!(await source.next()).done);
  } catch (e) {
    (input as Readable).resume?.();
    const msg = (e as Error).message.split('\n')[0]!;
    if (e instanceof TarFormatError) throw new Error(msg === 'unexpected end of data' ? 'layer tar is truncated (unexpected end of data)' : `layer tar: ${msg}`);
    throw new Error(msg);
  }
  await applier.finish();
  return applier.result;
}
