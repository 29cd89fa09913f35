// Re-writing a tar from outside (bale import) as a clean layer tar, streaming.
//
// Every entry goes through the layer rules (rules.ts: names cleaned, escapes, writes through a
// symlink and dangling hardlinks refused); the root entry is dropped. Kept: mode, uid/gid (pax ones too), mtime
// (whole seconds), symlink targets, device numbers, xattrs (SCHILY.xattr.* records, raw bytes, minus
// overlay-internal ones).
import type { Readable } from 'node:stream';
import { BaleError } from '../util/errors.js';
import { keepXattr, LayerRules, type CheckedEntry } from './rules.js';
import { entrySize } from './size.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarHeader } from './tar-header.js';
import { readTar, type ReadHeader } from './tar-reader.js';


export interface NormalizeStats {
  entries: number;
  /** The layer's size as docker counts it (size.ts), when asked for. */
  diffSize?: number;
  /** The first thing cleaning changed (a name, a dropped root entry or xattr); unset when the input was already clean. */
  rewritten?: string;
}

/**
 * The clean layer tar of the (uncompressed) tar `input`. `what` names the source in errors. `plain`:
 * the tar is not a layer (a build context), so `.wh.` names are files, not whiteouts.
 */
export function normalizeTar(input: Readable, what: string, stats?: NormalizeStats, plain = false): AsyncGenerator<Buffer> {
  return named(normalize(input, what, stats, plain, true), what);
}

/**
 * Every check normalizeTar makes of the tar `input`, and its `stats` (whether cleaning would change
 * anything, docker's size), without making the clean tar: for a tar that is kept as it is.
 */
export async function checkTar(input: Readable, what: string, stats: NormalizeStats): Promise<void> {
  for await (const _ of named(normalize(input, what, stats, false, false), what));
}

/** A reader's own errors (not the rules') name the source as a broken tar. */
async function* named(tar: AsyncGenerator<Buffer>, what: string): AsyncGenerator<Buffer> {
  try {
    yield* tar;
  } catch (e) {
    if (e instanceof BaleError) throw e;
    throw new BaleError(`${what}: not a valid tar (${(e as Error).message})`);
  }
}

function header(h: ReadHeader, what: string, rules: LayerRules, stats?: NormalizeStats): TarHeader | undefined {
  // Only changes of meaning count: re-encoding alone (type bits in the mode, header dialect) does not.
  const changed = (why: string) => {
    if (stats && stats.rewritten === undefined) stats.rewritten = why;
  };
  let e: CheckedEntry;
  try {
    e = rules.check(h);
  } catch (err) {
    throw new BaleError(`${what}: ${(err as Error).message}`, { cause: err });
  }
  if (e.path === '') {
    changed(`root entry ${JSON.stringify(h.name)} dropped`);
    return undefined;
  }
  if (h.name !== e.path && h.name !== `${e.path}/`) changed(`name ${JSON.stringify(h.name)} cleaned`);
  const out: TarHeader = {
    name: e.path,
    type: e.type,
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    size: e.type === 'file' ? h.size : 0,
    mtime: Math.floor(h.mtime),
    devmajor: h.devmajor,
    devminor: h.devminor,
  };
  if (e.type === 'symlink') out.linkname = h.linkname;
  if (e.type === 'link') {
    out.linkname = e.target;
    if (e.target !== h.linkname) changed(`hardlink target ${JSON.stringify(h.linkname)} cleaned`);
  }
  for (const [k, v] of h.pax) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    const x = k.slice('SCHILY.xattr.'.length);
    if (keepXattr(x)) (out.xattrs ??= new Map()).set(x, v);
    else changed(`xattr ${x} dropped`);
  }
  return out;
}

/** The clean tar, or with `emit` false only its checks (nothing is encoded or yielded). */
async function* normalize(input: Readable, what: string, stats: NormalizeStats | undefined, plain: boolean, emit: boolean): AsyncGenerator<Buffer> {
  const rules = new LayerRules(!plain);
  let current: TarHeader | undefined;
  let written = 0;
  const finish = function* (): Generator<Buffer> {
    if (current?.type === 'file') {
      if (written !== current.size) throw new BaleError(`${what}: ${current.name}: truncated`);
      if (emit) yield padding(current.size);
    }
  };
  for await (const ev of readTar(input)) {
    if ('header' in ev) {
      yield* finish();
      current = header(ev.header, what, rules, stats);
      written = 0;
      if (current) {
        if (stats) {
          stats.entries++;
          if (stats.diffSize !== undefined) stats.diffSize += entrySize(current.type, current.size, current.linkname);
        }
        if (emit) yield encodeHeader(current);
      }
    } else if (current?.type === 'file') {
      written += ev.data.length;
      if (emit) yield ev.data;
    }
  }
  yield* finish();
  if (emit) yield END_OF_ARCHIVE;
}
