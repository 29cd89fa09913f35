// bale unpause: thaw the processes of paused containers.
import { Store } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { repairAll, requireRoot } from '../../runtime/lifecycle.js';
import { unpauseContainer } from '../../runtime/pause.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';

export const help = `Usage: bale unpause CONTAINER [CONTAINER...]

Unpause all processes within one or more containers paused with 'bale pause'.
`;

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, {}, 'unpause');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'unpause');
  requireRoot('unpause');
  const store = await Store.open();
  await repairAll(store);
  let failed = 0;
  for (const ref of p._) {
    try {
      await unpauseContainer(store, await findContainer(store, ref));
      process.stdout.write(ref + '\n');
    } catch (e) {
      failed++;
      process.stderr.write(`bale: ${(e as Error).message.split('\n')[0]}\n`);
    }
  }
  return failed ? 1 : 0;
}
