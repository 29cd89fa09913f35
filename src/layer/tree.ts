// Walking directory trees in tar order: one plain directory, an overlay upper directory (whiteouts
// recognised), or the merged view of a stack of unpacked layers, computed here without a mount.
//
// Layer directories and overlay upper directories use overlayfs's own whiteout form: a 0/0
// character device hides NAME from the layers below; a directory with the xattr
// trusted.overlay.opaque=y (user.overlay.opaque in a user namespace) hides everything below it.
// fuse-overlayfs (rootless, kernels before 5.11) writes an opaque directory in an upper dir its own
// way: user.fuseoverlayfs.opaque=y, a regular file .wh..wh..opq and a whiteout of the name .wh..opq;
// upper and merged walks read that as the same opaque directory and list neither marker.
// The merged walk applies exactly those rules, so its result is what an overlay mount of the same directories would show (hardlinks included:
// each file comes from the real inode in the layer that provides it).
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { getAttributeSync } from 'fs-xattr';
import { inUserNamespace } from '../util/userns.js';
import { overlayOpaqueXattr, WH_OPAQUE, WH_PREFIX } from './whiteout.js';

export interface TreeEntry {
  /** Path relative to the tree's root, `/`-separated, no leading slash. */
  rel: string;
  /** Where the file really is (in the layer that provides it). */
  abs: string;
  st: BigIntStats;
  /** overlay form: 0/0 char device (upper walks only; merged walks hide them). */
  whiteout?: boolean;
  /** overlay form: directory with the opaque xattr (see overlayOpaqueXattr; upper walks only). */
  opaque?: boolean;
}

const S_IFMT = 0o170000n;
const S_IFDIR = 0o040000n;
const S_IFCHR = 0o020000n;

export function isDir(st: BigIntStats): boolean {
  return (st.mode & S_IFMT) === S_IFDIR;
}

/** Is this an overlayfs whiteout (a character device with device number 0/0)? */
export function isWhiteoutDevice(st: BigIntStats): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0n;
}

// Metadata calls are synchronous on purpose: a walk makes one lstat per entry, and a thread-pool
// round trip per call costs far more than the call itself. The walks are synchronous generators for
// the same reason: an async generator's every entry is a promise round trip at each level of the
// recursion (a third of a merged walk's time).
export function isOpaqueDir(abs: string): boolean {
  if (hasXattrY(abs, overlayOpaqueXattr())) return true;
  if (!inUserNamespace()) return false;
  return hasXattrY(abs, FUSE_OPAQUE) || lstatOrUndef(path.join(abs, WH_OPAQUE)) !== undefined;
}

const FUSE_OPAQUE = 'user.fuseoverlayfs.opaque';

function hasXattrY(abs: string, name: string): boolean {
  try {
    return getAttributeSync(abs, name).toString() === 'y';
  } catch {
    return false;
  }
}

/** fuse-overlayfs's opaque-directory markers (see the top): never entries of the tree. */
function isFuseMarker(name: string, st: BigIntStats): boolean {
  return name === WH_OPAQUE || (name === `${WH_PREFIX}.opq` && isWhiteoutDevice(st));
}

function lstatOrUndef(p: string): BigIntStats | undefined {
  try {
    return lstatSync(p, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** A character that UTF-16 and UTF-8 order differently: a surrogate or one of U+E000..U+FFFF. */
const ORDER_DIFFERS = /[\ud800-\uffff]/;

/**
 * Names sorted by their UTF-8 bytes, the order GNU tar's --sort=name uses. JavaScript's own string
 * order (UTF-16 code units) is the same unless a name holds a character of U+10000 and up (a
 * surrogate pair) and another one of U+E000..U+FFFF at the same place, so the bytes are only made
 * (once per name) when some name has such a character.
 */
export function sortNames(names: string[]): string[] {
  if (!names.some((n) => ORDER_DIFFERS.test(n))) return names.sort();
  const bytes = new Map(names.map((n) => [n, Buffer.from(n)]));
  return names.sort((a, b) => Buffer.compare(bytes.get(a)!, bytes.get(b)!));
}

function join(rel: string, name: string): string {
  return rel === '' ? name : `${rel}/${name}`;
}

/**
 * Every entry below `root` (not `root` itself), parents before children, names sorted. With
 * `overlayUpper`, whiteout devices and opaque directories are flagged.
 */
export function* walkDir(root: string, opts: { overlayUpper?: boolean } = {}): Generator<TreeEntry> {
  function* walk(rel: string): Generator<TreeEntry> {
    const dirAbs = rel === '' ? root : path.join(root, rel);
    for (const name of sortNames(readdirSync(dirAbs))) {
      const abs = path.join(dirAbs, name);
      const st = lstatOrUndef(abs);
      if (!st) continue; // removed while we walked
      if (opts.overlayUpper && isFuseMarker(name, st)) continue;
      const e: TreeEntry = { rel: join(rel, name), abs, st };
      if (opts.overlayUpper) {
        if (isWhiteoutDevice(st)) e.whiteout = true;
        else if (isDir(st) && isOpaqueDir(abs)) e.opaque = true;
      }
      yield e;
      if (isDir(st)) yield* walk(e.rel);
    }
  }
  yield* walk('');
}

/**
 * The layers (top first) that contribute to directory `rel` of the merged view, given the ones
 * contributing to its parent: from the topmost that has it as a directory down to an opaque one,
 * stopping where a layer has something else there (a file or a whiteout hides what is below).
 */
function contributors(layers: string[], rel: string): { dirs: string[]; st: BigIntStats } | undefined {
  const dirs: string[] = [];
  let top: BigIntStats | undefined;
  for (const layer of layers) {
    const abs = rel === '' ? layer : path.join(layer, rel);
    const st = lstatOrUndef(abs);
    if (!st) continue;
    if (!isDir(st)) break; // a file or a whiteout here hides the rest
    dirs.push(abs);
    top ??= st;
    if (isOpaqueDir(abs)) break;
  }
  return top ? { dirs, st: top } : undefined;
}

/**
 * Every entry of the merged view of `layersTopFirst` (each an unpacked layer or an upper dir in
 * overlay form), parents before children, names sorted. Whiteouts are applied, never listed.
 */
export function* walkMerged(layersTopFirst: string[]): Generator<TreeEntry> {
  function* walk(rel: string, dirs: string[]): Generator<TreeEntry> {
    // name -> the topmost layer dir that has it
    const names = new Map<string, number>();
    for (let i = 0; i < dirs.length; i++) {
      for (const n of readdirSync(dirs[i]!)) if (!names.has(n)) names.set(n, i);
    }
    for (const name of sortNames([...names.keys()])) {
      const i = names.get(name)!;
      const abs = path.join(dirs[i]!, name);
      const st = lstatOrUndef(abs);
      if (!st || isWhiteoutDevice(st) || isFuseMarker(name, st)) continue;
      const childRel = join(rel, name);
      if (!isDir(st)) {
        yield { rel: childRel, abs, st };
        continue;
      }
      const below = dirs.slice(i).map((d) => path.join(d, name));
      const c = contributors(below, '');
      if (!c) continue;
      yield { rel: childRel, abs, st };
      yield* walk(childRel, c.dirs);
    }
  }
  const root = contributors(layersTopFirst, '');
  if (root) yield* walk('', root.dirs);
}

/** Look one path up in the merged view of `layersTopFirst`: its stat and where it really is, or undefined. */
export async function lookupMerged(layersTopFirst: string[], rel: string): Promise<{ abs: string; st: BigIntStats } | undefined> {
  const parts = rel.split('/').filter(Boolean);
  let dirs = layersTopFirst;
  for (let k = 0; k < parts.length; k++) {
    const last = k === parts.length - 1;
    let found: { i: number; abs: string; st: BigIntStats } | undefined;
    for (let i = 0; i < dirs.length; i++) {
      const abs = path.join(dirs[i]!, parts[k]!);
      const st = lstatOrUndef(abs);
      if (st) {
        found = { i, abs, st };
        break;
      }
    }
    if (!found || isWhiteoutDevice(found.st)) return undefined;
    if (last) return { abs: found.abs, st: found.st };
    if (!isDir(found.st)) return undefined;
    const c = contributors(dirs.slice(found.i).map((d) => path.join(d, parts[k]!)), '');
    if (!c) return undefined;
    dirs = c.dirs;
  }
  const c = contributors(layersTopFirst, '');
  return c ? { abs: layersTopFirst[0]!, st: c.st } : undefined;
}

/** The names directly inside directory `rel` of the merged view (sorted), or [] if it is not a directory there. */
export async function listMerged(layersTopFirst: string[], rel: string): Promise<string[]> {
  const parts = rel.split('/').filter(Boolean);
  let dirs = layersTopFirst;
  for (const part of parts) {
    let found: { i: number; st: BigIntStats } | undefined;
    for (let i = 0; i < dirs.length; i++) {
      const st = lstatOrUndef(path.join(dirs[i]!, part));
      if (st) {
        found = { i, st };
        break;
      }
    }
    if (!found || !isDir(found.st)) return [];
    const c = contributors(dirs.slice(found.i).map((d) => path.join(d, part)), '');
    if (!c) return [];
    dirs = c.dirs;
  }
  const out: string[] = [];
  const seen = new Set<string>();
  for (const d of dirs) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      if (seen.has(n)) continue;
      seen.add(n);
      const st = lstatOrUndef(path.join(d, n));
      if (st && !isWhiteoutDevice(st)) out.push(n);
    }
  }
  return sortNames(out);
}
