// bale image prune: remove dangling images (-a: every image no container uses).
import { Store } from '../../store/store.js';
import { listContainers } from '../../runtime/container.js';
import { pruneImages } from '../../store/prune.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { confirm, humanSize } from '../output.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale image prune [OPTIONS]',
  summary: `Remove dangling images (those with no tag), or with -a every image no container uses. Prints
what it untagged and deleted, and the space reclaimed. Layers another image shares are kept.`,
  options: [
    { flags: '-a, --all', text: 'Remove all images no container uses, not just dangling ones' },
    { flags: '-f, --force', text: 'Do not ask for confirmation' },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['all', 'force'], alias: { a: 'all', f: 'force' } }, 'image prune');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 0, 'image prune');
  const all = Boolean(p['all']);
  const warning = all ? 'This will remove all images without at least one container associated to them.' : 'This will remove all dangling images.';
  if (!p['force'] && !(await confirm(warning))) return 0;
  const store = await Store.open();
  const inUse = new Set((await listContainers(store)).map((c) => c.image));
  const res = await pruneImages(store, { all, inUse });
  const lines = [...res.untagged.map((t) => `untagged: ${t}`), ...res.deleted.map((d) => `deleted: ${d}`)];
  if (lines.length) process.stdout.write(`Deleted Images:\n${lines.join('\n')}\n\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(res.bytes)}\n`);
  return 0;
}
