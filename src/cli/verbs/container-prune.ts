// bale container prune: remove every stopped (exited or never started) container.
import { Store } from '../../store/store.js';
import { pruneContainers } from '../../runtime/prune.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { confirm, humanSize } from '../output.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale container prune [OPTIONS]',
  summary: `Remove every container that is not running (exited or only created). Prints their ids and the
space reclaimed (their read-write layers, init layers and logs).`,
  options: [
    { flags: '-f, --force', text: 'Do not ask for confirmation' },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['force'], alias: { f: 'force' } }, 'container prune');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 0, 'container prune');
  if (!p['force'] && !(await confirm('This will remove all stopped containers.'))) return 0;
  const res = await pruneContainers(await Store.open());
  if (res.removed.length) process.stdout.write(`Deleted Containers:\n${res.removed.join('\n')}\n\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(res.bytes)}\n`);
  return 0;
}
