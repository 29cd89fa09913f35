// bale diff: what a container added (A), changed (C) and deleted (D), compared as docker compares
// (layer/changes.ts).
import { upperChanges } from '../../layer/changes.js';
import { containerPaths, findContainer } from '../../runtime/container.js';
import { containerLowers } from '../../runtime/rootfs.js';
import { holdStill } from '../../runtime/pause.js';
import { Store } from '../../store/store.js';
import { outputFormat, printJson } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale diff [OPTIONS] CONTAINER',
  summary: `List the paths a container changed, sorted by path, as docker diff does:
  A  added (not in the image)
  C  changed: a file whose mode, owner, mtime, size or capabilities differ from the image's
     (one only opened for writing is not), a directory whose mode or owner differ, or that
     holds a change
  D  deleted (also the image's entries under a directory the container replaced)`,
  operands: 'container',
  options: [
    { flags: '--format', arg: 'FMT', text: "table (default) or json ([{\"Path\":..., \"Kind\":0|1|2}] as docker's API)", values: ['table', 'json'] },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['format'] }, 'diff');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'diff');
  const format = outputFormat(p['format'], 'diff');
  const store = await Store.open();
  const ctr = await findContainer(store, p._[0]!);
  const lowers = await containerLowers(store, ctr);
  const list = await holdStill(store, ctr, () => upperChanges(containerPaths(store, ctr.id).upper, lowers));
  if (format === 'json') {
    printJson(list.map((c) => ({ Path: c.path, Kind: c.kind === 'C' ? 0 : c.kind === 'A' ? 1 : 2 })));
  } else if (list.length) {
    process.stdout.write(list.map((c) => `${c.kind} ${c.path}`).join('\n') + '\n');
  }
  return 0;
}
