// bale logs: the output of a container run in the background.
import { createReadStream, promises as fsp } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Store } from '../../store/store.js';
import { containerPaths, findContainer } from '../../runtime/container.js';
import { refresh, repairAll } from '../../runtime/lifecycle.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale logs [OPTIONS] CONTAINER',
  summary: `Print the output (stdout and stderr) of a container started in the background (run -d, start).
An attached run writes to the terminal, not to the log.`,
  operands: 'container',
  options: [
    { flags: '-f, --follow', text: 'Keep printing new output until the container exits' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['follow'], alias: { f: 'follow' } }, 'logs');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'logs');
  const store = await Store.open();
  await repairAll(store);
  const rec = await findContainer(store, p._[0]!);
  const log = containerPaths(store, rec.id).log;
  let pos = 0;
  const copyNew = async () => {
    const size = await fsp.stat(log).then((s) => s.size, () => 0);
    if (size > pos) {
      await pipeline(createReadStream(log, { start: pos, end: size - 1 }), process.stdout, { end: false });
      pos = size;
    }
  };
  await copyNew();
  if (p['follow']) {
    let cur = await refresh(store, rec);
    while (cur && cur.state.status === 'running') {
      await new Promise((r) => setTimeout(r, 200));
      await copyNew();
      cur = await refresh(store, cur);
    }
    await copyNew();
  }
  return 0;
}
