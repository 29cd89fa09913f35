// What an overlay upper dir changed over the layers below it, as `docker diff` reports it: the
// merged view after (upper over lowers) compared with the view before (the lowers), entry by
// entry, not merely what the upper dir holds. overlayfs copies a file up when it is opened for
// writing and a directory when anything inside it changes, so the upper dir holds entries that
// did not change; docker's comparison leaves them out:
//   - a path only after: A; a whiteout of a path that was there: D; below a directory that hides
//     the lower one (opaque, or under an opaque one), the lower's names missing after: D;
//   - a non-directory on both sides: C when its mode (type included), owner, device number,
//     mtime (seconds equal; nanoseconds equal unless one side has none), size or
//     security.capability differ;
//   - a directory on both sides: C when its mode, owner or device number differ (never for its
//     mtime or size), or when anything inside it is listed.
import { readdirSync, type BigIntStats } from 'node:fs';
import { readXattrMap } from '../util/xattrs.js';
import { exists } from '../util/fsx.js';
import { isDir, listMerged, lookupMerged, sortNames, walkDir } from './tree.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  /** Absolute in the container: `/etc/passwd`. */
  path: string;
  kind: ChangeKind;
}

function capability(abs: string): Buffer | undefined {
  return readXattrMap(abs)?.get('security.capability'); // not through a symlink: its target may be the host's
}

function sameMtime(a: BigIntStats, b: BigIntStats): boolean {
  const G = 1000000000n;
  if (a.mtimeNs / G !== b.mtimeNs / G) return false;
  const an = a.mtimeNs % G;
  const bn = b.mtimeNs % G;
  return an === bn || an === 0n || bn === 0n;
}

function differs(before: { abs: string; st: BigIntStats }, after: { abs: string; st: BigIntStats }): boolean {
  const o = before.st;
  const n = after.st;
  if (o.mode !== n.mode || o.uid !== n.uid || o.gid !== n.gid || o.rdev !== n.rdev) return true;
  if (isDir(o)) return false;
  if (!sameMtime(o, n) || o.size !== n.size) return true;
  const oc = capability(before.abs);
  const nc = capability(after.abs);
  return oc === undefined ? nc !== undefined : nc === undefined || !oc.equals(nc);
}

/** The changes of the overlay upper dir `upper` over the merged `lowers` (top first), sorted by path. */
export async function upperChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const out = new Map<string, ChangeKind>();
  if (!(await exists(upper))) return [];
  const record = (rel: string, kind: ChangeKind) => {
    out.set(`/${rel}`, kind);
    // every directory above a change is listed (those already listed keep their kind)
    for (let i = rel.lastIndexOf('/'); i > 0; i = rel.lastIndexOf('/', i - 1)) {
      const parent = `/${rel.slice(0, i)}`;
      if (out.has(parent)) break;
      out.set(parent, 'C');
    }
  };
  const hiding: string[] = []; // upper dirs that hide the lower ones: opaque, and everything below them
  for await (const e of walkDir(upper, { overlayUpper: true })) {
    while (hiding.length && !e.rel.startsWith(hiding[hiding.length - 1]! + '/')) hiding.pop();
    const before = await lookupMerged(lowers, e.rel);
    if (e.whiteout) {
      if (before) record(e.rel, 'D');
      continue;
    }
    if (!before) record(e.rel, 'A');
    else if (differs(before, e)) record(e.rel, 'C');
    if (!isDir(e.st)) continue;
    if (e.opaque || hiding.length) {
      hiding.push(e.rel);
      if (before && isDir(before.st)) {
        const mine = new Set(readdirSync(e.abs));
        for (const n of sortNames(await listMerged(lowers, e.rel))) if (!mine.has(n)) record(`${e.rel}/${n}`, 'D');
      }
    }
  }
  return [...out.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map(([path, kind]) => ({ path, kind }));
}
