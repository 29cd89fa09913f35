// bale commit: a container's read-write layer → a new layer on top of its image.
import { commitLayer } from '../../image/commit.js';
import { holdStill } from '../../runtime/pause.js';
import { containerPaths, findContainer } from '../../runtime/container.js';
import { Store } from '../../store/store.js';
import { BaleError } from '../../util/errors.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { layerProgress, parseCompression, parseTag } from './import.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  summary: `Create an image from a container's changes: its read-write layer becomes one new
layer on top of the container's image (deletions become .wh. whiteouts, replaced
directories .wh..wh..opq). The image's config is kept (change it with --change);
history gets one entry. Prints the new image id.`,
  operands: 'container',
  options: [
    { flags: '-c, --change', arg: 'INSTR', text: 'Apply a Dockerfile instruction to the config (repeatable)' },
    { flags: '-m, --message', arg: 'MSG', text: 'History comment' },
    { flags: '-a, --author', arg: 'NAME', text: 'Author (e.g. "Jane <jane@example.com>")' },
    { flags: '--compress', arg: 'ALG', text: 'Store the new layer as none (default), gzip or zstd', values: ['none', 'gzip', 'zstd'] },
    { flags: '-q, --quiet', text: 'No progress (progress only shows on a terminal)' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['message', 'author', 'compress'], multi: ['change'], boolean: ['quiet'], alias: { q: 'quiet', c: 'change', m: 'message', a: 'author' } }, 'commit');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 2, 'commit');
  const [name, ref] = p._ as [string, string | undefined];
  const tags = parseTag(ref, 'commit');
  const compression = parseCompression(p['compress'], 'commit');
  const store = await Store.open();
  const ctr = await findContainer(store, name);
  const parent = await store.image(ctr.image);
  if (!parent) throw new BaleError(`container ${ctr.name}: its image ${ctr.image} is gone from the store`);
  const progress = layerProgress(`committing ${ctr.name}`, Boolean(p['quiet']));
  // held still while it runs, as docker commit pauses it (pause.ts says why)
  const rec = await holdStill(store, ctr, () => commitLayer(store, parent, {
    upper: containerPaths(store, ctr.id).upper,
    createdBy: ctr.process.args.join(' '),
    changes: p['change'] as string[],
    message: typeof p['message'] === 'string' ? p['message'] : undefined,
    author: typeof p['author'] === 'string' && p['author'] !== '' ? p['author'] : undefined,
    compression,
    tags,
    onBytes: progress.update,
  })).finally(progress.done);
  process.stdout.write(`${rec.id}\n`);
  return 0;
}
