// bale rm: remove containers (their read-write layer, init layer, log and record).
import { Store } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { removeContainer, removeDamaged, repairAll } from '../../runtime/lifecycle.js';
import { printError } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale rm [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Remove containers. A running one is refused unless -f, which kills it first.',
  operands: 'container',
  options: [
    { flags: '-f, --force', text: 'Kill a running container and remove it' },
    { flags: '-v, --volumes', text: "Also remove the container's anonymous volumes (named ones stay)" },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['force', 'volumes'], alias: { f: 'force', v: 'volumes' } }, 'rm');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'rm');
  const store = await Store.open();
  await repairAll(store);
  let failed = 0;
  for (const ref of p._) {
    try {
      const rec = await findContainer(store, ref).catch(async (e: unknown) => {
        if (await removeDamaged(store, ref)) return undefined;
        throw e;
      });
      if (rec) await removeContainer(store, rec, Boolean(p['force']), Boolean(p['volumes']));
      process.stdout.write(ref + '\n');
    } catch (e) {
      failed++;
      printError(e);
    }
  }
  return failed ? 1 : 0;
}
