// bale run: create a container and start it (attached, or -d in the background).
import { Store } from '../../store/store.js';
import { createContainer, removeContainer, repairAll, requireRoot, startContainer, startDetached } from '../../runtime/lifecycle.js';
import { findContainer } from '../../runtime/container.js';
import { parseFlagsUntilCommand, wantsHelp } from '../verb.js';
import { BaleError } from '../../util/errors.js';
import { CREATE_OPTIONS, createOptions, createSpec, warnPrivileged } from './create.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: `Run a command in a new container. Attached, bale's exit code is the container's (128+N if a
signal N ended it) and signals bale gets are passed on to it. Needs root.`,
  operands: 'image',
  options: [
    ...CREATE_OPTIONS,
    { flags: '-d, --detach', text: "Run in the background (output goes to 'bale logs'); prints the id" },
  ],
};

export async function run(args: string[]): Promise<number> {
  const spec = { ...createSpec, boolean: [...(createSpec.boolean ?? []), 'detach'], alias: { ...createSpec.alias, d: 'detach' } };
  const p = parseFlagsUntilCommand(args, spec, 'run');
  if (wantsHelp(p, help)) return 0;
  const o = createOptions(p, 'run');
  const detach = Boolean(p['detach']);
  if (o.tty && p['interactive'] && !detach && !process.stdin.isTTY) throw new BaleError('the input device is not a TTY', { exitCode: 1 }); // docker's CLI check: 1, not 125
  requireRoot('run');
  warnPrivileged(o);
  const store = await Store.open();
  await repairAll(store);
  const rec = await createContainer(store, o);
  if (detach) {
    try {
      await startDetached(store, rec);
    } catch (e) {
      if (rec.autoRemove) await removeContainer(store, rec, true).catch(() => undefined);
      throw e;
    }
    process.stdout.write(rec.id + '\n');
    return 0;
  }
  let code: number;
  try {
    code = await startContainer(store, rec, {
      stdin: p['interactive'] ? 'inherit' : 'ignore',
      stdout: 'inherit',
      stderr: 'inherit',
      tty: o.tty,
    });
  } finally {
    if (rec.autoRemove) {
      const now = await findContainer(store, rec.id).catch(() => undefined);
      if (now) await removeContainer(store, now, true);
    }
  }
  return code;
}
