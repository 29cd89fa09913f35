// bale diff: what a container added (A), changed (C) and deleted (D), from its read-write layer.
import { promises as fsp } from 'node:fs';
import { walkDir, listMerged, lookupMerged } from '../../layer/tree.js';
import { containerPaths, findContainer } from '../../runtime/container.js';
import { Store } from '../../store/store.js';
import { exists } from '../../util/fsx.js';
import { outputFormat, printJson } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { containerLowers } from './export.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale diff [OPTIONS] CONTAINER',
  summary: `List the paths a container changed, sorted by path:
  A  added (not in the image)
  C  changed (in the image, written or replaced; parents of changes show too)
  D  deleted (also the image's entries under a directory the container replaced)`,
  operands: 'container',
  options: [
    { flags: '--format', arg: 'FMT', text: "table (default) or json ([{\"Path\":..., \"Kind\":0|1|2}] as docker's API)", values: ['table', 'json'] },
  ],
};

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

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['format'] }, 'diff');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'diff');
  const format = outputFormat(p['format'], 'diff');
  const store = await Store.open();
  const ctr = await findContainer(store, p._[0]!);
  const list = await changes(containerPaths(store, ctr.id).upper, await containerLowers(store, ctr));
  if (format === 'json') {
    printJson(list.map((c) => ({ Path: c.path, Kind: c.kind === 'C' ? 0 : c.kind === 'A' ? 1 : 2 })));
  } else if (list.length) {
    process.stdout.write(list.map((c) => `${c.kind} ${c.path}`).join('\n') + '\n');
  }
  return 0;
}
