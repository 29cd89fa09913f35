// bale pause: freeze every process of running containers (cgroup freezer).
import { Store } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { repairAll, requireRoot } from '../../runtime/lifecycle.js';
import { pauseContainer } from '../../runtime/pause.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';

export const help = `Usage: bale pause CONTAINER [CONTAINER...]

Pause all processes within one or more containers: they are frozen in their cgroup
until 'bale unpause' (or stop, kill, rm -f, which thaw them after signalling).
`;

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, {}, 'pause');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'pause');
  requireRoot('pause');
  const store = await Store.open();
  await repairAll(store);
  let failed = 0;
  for (const ref of p._) {
    try {
      await pauseContainer(store, await findContainer(store, ref));
      process.stdout.write(ref + '\n');
    } catch (e) {
      failed++;
      process.stderr.write(`bale: ${(e as Error).message.split('\n')[0]}\n`);
    }
  }
  return failed ? 1 : 0;
}
