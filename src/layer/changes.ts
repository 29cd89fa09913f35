// What an overlay upper dir changed over the layers below it: `bale diff`'s A/C/D list.
import { promises as fsp } from 'node:fs';
import { exists } from '../util/fsx.js';
import { listMerged, lookupMerged, walkDir } from './tree.js';

export type ChangeKind = 'A' | 'C' | 'D';

/** The changes of the overlay upper dir `upper` over the merged `lowers` (top first), sorted by path. */
export async function changes(upper: string, lowers: string[]): Promise<{ path: string; kind: ChangeKind }[]> {
  const out = new Map<string, ChangeKind>();
  if (!(await exists(upper))) return [];
  for await (const e of walkDir(upper, { overlayUpper: true })) {
    const abs = `/${e.rel}`;
    if (e.whiteout) {
      out.set(abs, 'D');
      continue;
    }
    const inLower = (await lookupMerged(lowers, e.rel)) !== undefined;
    out.set(abs, inLower ? 'C' : 'A');
    if (e.opaque && inLower) {
      const mine = new Set(await fsp.readdir(e.abs));
      for (const n of await listMerged(lowers, e.rel)) if (!mine.has(n)) out.set(`${abs}/${n}`, 'D');
    }
  }
  return [...out.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map(([path, kind]) => ({ path, kind }));
}
