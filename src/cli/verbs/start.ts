// bale start: start created or exited containers (in the background, or attached with -a).
import { Store } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { removeContainer, repairAll, requireRoot, startContainer, startDetached } from '../../runtime/lifecycle.js';
import { printError } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { BaleError } from '../../util/errors.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale start [OPTIONS] CONTAINER [CONTAINER...]',
  summary: `Start one or more created or stopped containers. Without -a they run in the background and their
output goes to 'bale logs'; with -a bale waits and its exit code is the container's.`,
  operands: 'container',
  options: [
    { flags: '-a, --attach', text: 'Attach stdout/stderr (one container) and wait for it' },
    { flags: '-i, --interactive', text: 'Attach stdin too' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['attach', 'interactive', 'monitor'], alias: { a: 'attach', i: 'interactive' } }, 'start');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, p['attach'] || p['monitor'] ? 1 : Infinity, 'start');
  requireRoot('start');
  const store = await Store.open();
  if (p['monitor']) return monitor(store, p._[0]!);
  await repairAll(store);
  if (p['attach']) {
    const rec = await findContainer(store, p._[0]!);
    if (rec.process.tty && p['interactive'] && !process.stdin.isTTY) throw new BaleError('the input device is not a TTY', { exitCode: 1 }); // docker's CLI check: 1, not 125
    const code = await startContainer(store, rec, {
      stdin: p['interactive'] ? 'inherit' : 'ignore',
      stdout: 'inherit',
      stderr: 'inherit',
      tty: rec.process.tty,
    });
    if (rec.autoRemove) await removeContainer(store, (await findContainer(store, rec.id).catch(() => rec)), true);
    return code;
  }
  let failed = 0;
  for (const ref of p._) {
    try {
      const rec = await findContainer(store, ref);
      if (rec.state.status !== 'running') await startDetached(store, rec);
      process.stdout.write(ref + '\n');
    } catch (e) {
      failed++;
      printError(e);
    }
  }
  return failed ? 125 : 0;
}

/**
 * The hidden `start --monitor ID`: the detached bale that runs a container in the background,
 * output to its log (our stdout/stderr), and records its exit. Fd 3 tells the starter it runs.
 */
async function monitor(store: Store, id: string): Promise<number> {
  const { createWriteStream } = await import('node:fs');
  const notify = createWriteStream('', { fd: 3 });
  notify.on('error', () => {});
  const rec = await findContainer(store, id);
  let code: number;
  try {
    code = await startContainer(store, rec, {
      stdin: 'ignore',
      stdout: 'inherit',
      stderr: 'inherit',
      tty: false,
      onStarted: () => {
        notify.end('started\n');
      },
    });
  } finally {
    notify.end();
  }
  if (rec.autoRemove) {
    const now = await findContainer(store, rec.id).catch(() => undefined);
    if (now) await removeContainer(store, now, true);
  }
  return code;
}
