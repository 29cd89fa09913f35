// bale squash: an image flattened into one layer, keeping its whole config and its history.
import { applyChanges } from '../../image/change.js';
import { baseHistory, createImage, historyEntry, writeLayer } from '../../image/create.js';
import { packStream } from '../../layer/pack.js';
import { walkMerged } from '../../layer/tree.js';
import { shortId } from '../../oci/digest.js';
import type { ImageConfig } from '../../oci/types.js';
import { unpackLayers } from '../../store/layers.js';
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
  const cfg = await store.config(img);
  const runConfig = applyChanges(cfg.config ?? {}, p['change'] as string[]);
  const layers = (await unpackLayers(store, img)).reverse();

  const lock = await store.writerLock();
  try {
    const progress = layerProgress(`squashing ${src}`, Boolean(p['quiet']));
    const layer = await writeLayer(store, packStream(walkMerged(layers)), compression, progress.update).finally(progress.done);
    const created = new Date().toISOString();
    const message = typeof p['message'] === 'string' && p['message'] !== '' ? p['message'] : `squashed ${img.layers.length} layer${img.layers.length === 1 ? '' : 's'} of ${shortId(img.id)}`;
    const config: ImageConfig = {
      ...cfg,
      created,
      config: runConfig,
      history: [...baseHistory(cfg).map((h) => ({ ...h, empty_layer: true })), historyEntry({ created_by: 'bale squash', comment: message }, created)],
    };
    const rec = await createImage(store, { config, layers: [layer], tags });
    process.stdout.write(`${rec.id}\n`);
  } finally {
    await lock.release();
  }
  return 0;
}
