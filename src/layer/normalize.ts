// Re-writing a tar from outside (bale import) as a clean layer tar, streaming.
//
// Every name and hardlink target goes through cleanEntryPath (leading `/` and `./` dropped, `..`
// resolved, escapes refused); the root entry is dropped; a hardlink must name an entry that came
// before it; nothing may be written below an earlier symlink or file of the same tar; types tar
// layers cannot hold are refused. Kept: mode, uid/gid (pax ones too), mtime
// (whole seconds), symlink targets, device numbers, xattrs (SCHILY.xattr.* records, raw bytes, minus
// overlay-internal ones).
import type { Readable } from 'node:stream';
import { BaleError } from '../util/errors.js';
import { cleanEntryPath } from './entry-path.js';
import { keepXattr } from './pack.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type EntryType, type TarHeader } from './tar-header.js';
import { ENTRY_TYPES, readTar, type ReadHeader } from './tar-reader.js';


export interface NormalizeStats {
  entries: number;
  /** The first thing cleaning changed (a name, a dropped root entry or xattr); unset when the input was already clean. */
  rewritten?: string;
}

/** The clean layer tar of the (uncompressed) tar `input`. `what` names the source in errors. */
export async function* normalizeTar(input: Readable, what: string, stats?: NormalizeStats): AsyncGenerator<Buffer> {
  try {
    yield* normalize(input, what, stats);
  } catch (e) {
    if (e instanceof BaleError) throw e;
    throw new BaleError(`${what}: not a valid tar (${(e as Error).message})`);
  }
}

/**
 * Refuse a name below an earlier symlink or file of the same tar: writing `link/file` after
 * `link -> /etc` would write through the link when the layer is applied.
 */
function checkParents(name: string, what: string, seen: Map<string, EntryType>): void {
  let i = name.indexOf('/');
  while (i >= 0) {
    const parent = name.slice(0, i);
    const t = seen.get(parent);
    if (t === 'symlink') throw new BaleError(`${what}: ${name} would be written through the symlink ${parent}`);
    if (t !== undefined && t !== 'directory') throw new BaleError(`${what}: ${name} is below ${parent}, which is not a directory`);
    i = name.indexOf('/', i + 1);
  }
}

function header(h: ReadHeader, what: string, seen: Map<string, EntryType>, stats?: NormalizeStats): TarHeader | undefined {
  // Only changes of meaning count: re-encoding alone (type bits in the mode, header dialect) does not.
  const changed = (why: string) => {
    if (stats && stats.rewritten === undefined) stats.rewritten = why;
  };
  const type = ENTRY_TYPES[h.typeflag];
  if (!type) throw new BaleError(`${what}: entry ${JSON.stringify(h.name)} has tar type ${JSON.stringify(h.typeflag)}, which a layer cannot hold`);
  let name: string;
  try {
    name = cleanEntryPath(h.name);
  } catch (e) {
    throw new BaleError(`${what}: ${(e as Error).message}`);
  }
  if (name === '') {
    changed(`root entry ${JSON.stringify(h.name)} dropped`);
    return undefined;
  }
  if (h.name !== name && h.name !== `${name}/`) changed(`name ${JSON.stringify(h.name)} cleaned`);
  checkParents(name, what, seen);
  const out: TarHeader = {
    name,
    type,
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    size: type === 'file' ? h.size : 0,
    mtime: Math.floor(h.mtime),
    devmajor: h.devmajor,
    devminor: h.devminor,
  };
  if (type === 'symlink') out.linkname = h.linkname;
  if (type === 'link') {
    let target: string;
    try {
      target = cleanEntryPath(h.linkname, 'hardlink target');
    } catch (e) {
      throw new BaleError(`${what}: ${name}: ${(e as Error).message}`);
    }
    if (!seen.has(target)) throw new BaleError(`${what}: hardlink ${name} names ${JSON.stringify(h.linkname)}, which is not an earlier entry`);
    if (seen.get(target) === 'directory') throw new BaleError(`${what}: hardlink ${name} names the directory ${target}`);
    out.linkname = target;
    if (target !== h.linkname) changed(`hardlink target ${JSON.stringify(h.linkname)} cleaned`);
  }
  for (const [k, v] of h.pax) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    const x = k.slice('SCHILY.xattr.'.length);
    if (keepXattr(x)) (out.xattrs ??= new Map()).set(x, v);
    else changed(`xattr ${x} dropped`);
  }
  seen.set(name, type === 'link' ? seen.get(out.linkname!)! : type);
  return out;
}

async function* normalize(input: Readable, what: string, stats?: NormalizeStats): AsyncGenerator<Buffer> {
  const seen = new Map<string, EntryType>();
  let current: TarHeader | undefined;
  let written = 0;
  const finish = function* (): Generator<Buffer> {
    if (current?.type === 'file') {
      if (written !== current.size) throw new BaleError(`${what}: ${current.name}: truncated`);
      yield padding(current.size);
    }
  };
  for await (const ev of readTar(input)) {
    if ('header' in ev) {
      yield* finish();
      current = header(ev.header, what, seen, stats);
      written = 0;
      if (current) {
        if (stats) stats.entries++;
        yield encodeHeader(current);
      }
    } else if (current?.type === 'file') {
      written += ev.data.length;
      yield ev.data;
    }
  }
  yield* finish();
  yield END_OF_ARCHIVE;
}
