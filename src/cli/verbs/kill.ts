// bale kill: send a signal to running containers' processes.
import { Store } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { repairAll, signalContainer } from '../../runtime/lifecycle.js';
import { parseSignal } from '../../runtime/proc.js';
import { printError } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { UsageError } from '../../util/errors.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale kill [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Send a signal (default SIGKILL) to running containers.',
  operands: 'container',
  options: [
    { flags: '-s, --signal', arg: 'SIG', text: 'Signal name (KILL, SIGTERM, ...) or number' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['signal'], alias: { s: 'signal' } }, 'kill');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'kill');
  const sig = parseSignal(p['signal'] === undefined ? 'KILL' : String(p['signal']));
  if (sig === undefined) throw new UsageError(`invalid signal: ${p['signal']}`);
  const store = await Store.open();
  await repairAll(store);
  let failed = 0;
  for (const ref of p._) {
    try {
      await signalContainer(store, await findContainer(store, ref), sig);
      process.stdout.write(ref + '\n');
    } catch (e) {
      failed++;
      printError(e);
    }
  }
  return failed ? 1 : 0;
}
