// bale squash: an image flattened into one layer, keeping its whole config and its history.
import { squashImage } from '../../image/squash.js';
import { Store } from '../../store/store.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { layerProgress, parseCompression, parseTag } from './import.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale squash [OPTIONS] IMAGE REPOSITORY[:TAG]',
  summary: `Flatten an image into a new image with one layer: the merged filesystem of all
its layers (whiteouts applied). The config is kept whole (Cmd, Entrypoint, Env,
WorkingDir, User, Labels, ...). The history is kept too: the old entries are
marked empty_layer and one entry for the squashed layer is added, so
'bale history' still tells how the image was made. Prints the new image id.`,
  operands: 'image',
  options: [
    { flags: '-c, --change', arg: 'INSTR', text: 'Apply a Dockerfile instruction to the config (repeatable)' },
    { flags: '-m, --message', arg: 'MSG', text: "Comment of the squashed layer's history entry" },
    { flags: '--compress', arg: 'ALG', text: 'Store the layer as none (default), gzip or zstd', values: ['none', 'gzip', 'zstd'] },
    { flags: '-q, --quiet', text: 'No progress (progress only shows on a terminal)' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['message', 'compress'], multi: ['change'], boolean: ['quiet'], alias: { q: 'quiet', c: 'change', m: 'message' } }, 'squash');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 2, 2, 'squash');
  const [src, ref] = p._ as [string, string];
  const tags = parseTag(ref, 'squash');
  const compression = parseCompression(p['compress'], 'squash');
  const store = await Store.open();
  const img = await store.resolve(src);
  const progress = layerProgress(`squashing ${src}`, Boolean(p['quiet']));
  const message = typeof p['message'] === 'string' ? p['message'] : undefined;
  const rec = await squashImage(store, img, { changes: p['change'] as string[], message, compression, tags, onBytes: progress.update }).finally(progress.done);
  process.stdout.write(`${rec.id}\n`);
  return 0;
}
