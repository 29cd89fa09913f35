// The shape of verbs that act on each container named (pause, unpause): one line per success,
// one error line per failure, exit 1 if any failed, as docker's.
import { Store } from '../store/store.js';
import { findContainer, type ContainerRecord } from '../runtime/container.js';
import { repairAll, requireRoot } from '../runtime/lifecycle.js';
import { printError } from './output.js';
import { needArgs, parseFlags, wantsHelp } from './verb.js';

export async function eachContainer(args: string[], verb: string, help: string, op: (store: Store, rec: ContainerRecord) => Promise<unknown>): Promise<number> {
  const p = parseFlags(args, {}, verb);
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, verb);
  requireRoot(verb);
  const store = await Store.open();
  await repairAll(store);
  let failed = 0;
  for (const ref of p._) {
    try {
      await op(store, await findContainer(store, ref));
      process.stdout.write(ref + '\n');
    } catch (e) {
      failed++;
      printError(e);
    }
  }
  return failed ? 1 : 0;
}
