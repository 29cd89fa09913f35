// bale stop: SIGTERM, then SIGKILL after a grace period.
import { Store } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { repairAll, stopContainer } from '../../runtime/lifecycle.js';
import { printError } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { UsageError } from '../../util/errors.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale stop [OPTIONS] CONTAINER [CONTAINER...]',
  summary: "Stop running containers: SIGTERM to the container's process, SIGKILL after the grace period.",
  operands: 'container',
  options: [
    { flags: '-t, --time', arg: 'SECS', text: 'Seconds to wait before killing (default 10)' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['time'], alias: { t: 'time' } }, 'stop');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'stop');
  const t = p['time'] === undefined ? 10 : Number(p['time']);
  if (!Number.isFinite(t) || t < 0) throw new UsageError(`--time takes a number of seconds, not ${JSON.stringify(p['time'])}`);
  const store = await Store.open();
  await repairAll(store);
  let failed = 0;
  for (const ref of p._) {
    try {
      await stopContainer(store, await findContainer(store, ref), t);
      process.stdout.write(ref + '\n');
    } catch (e) {
      failed++;
      printError(e);
    }
  }
  return failed ? 1 : 0;
}
