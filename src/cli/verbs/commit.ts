// bale commit: a container's read-write layer → a new layer on top of its image.
import { Readable } from 'node:stream';
import { applyChanges } from '../../image/change.js';
import { baseHistory, createImage, historyEntry, ociLayers, writeLayer } from '../../image/create.js';
import { packEntries } from '../../layer/pack.js';
import { END_OF_ARCHIVE } from '../../layer/tar-header.js';
import { walkDir } from '../../layer/tree.js';
import type { ImageConfig } from '../../oci/types.js';
import { containerPaths, findContainer } from '../../runtime/container.js';
import { Store } from '../../store/store.js';
import { BaleError } from '../../util/errors.js';
import { exists } from '../../util/fsx.js';
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
    { flags: '-p, --pause', text: 'Accepted for docker compatibility; bale does not pause the container' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['message', 'author', 'compress'], multi: ['change'], boolean: ['pause', 'quiet'], alias: { q: 'quiet', c: 'change', m: 'message', a: 'author', p: 'pause' } }, 'commit');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 2, 'commit');
  const [name, ref] = p._ as [string, string | undefined];
  const tags = parseTag(ref, 'commit');
  const compression = parseCompression(p['compress'], 'commit');
  const store = await Store.open();
  const ctr = await findContainer(store, name);
  const parent = await store.image(ctr.image);
  if (!parent) throw new BaleError(`container ${ctr.name}: its image ${ctr.image} is gone from the store`);
  const parentCfg = await store.config(parent);
  const runConfig = applyChanges(parentCfg.config ?? {}, p['change'] as string[]);
  const upper = containerPaths(store, ctr.id).upper;
  const source = (await exists(upper)) ? Readable.from(packEntries(walkDir(upper, { overlayUpper: true })), { objectMode: false, highWaterMark: 1024 * 1024 }) : Readable.from([END_OF_ARCHIVE]);

  const lock = await store.writerLock();
  try {
    const progress = layerProgress(`committing ${ctr.name}`, Boolean(p['quiet']));
    const layer = await writeLayer(store, source, compression, progress.update).finally(progress.done);
    const created = new Date().toISOString();
    const author = typeof p['author'] === 'string' && p['author'] !== '' ? p['author'] : undefined;
    const config: ImageConfig = { ...parentCfg, created, config: runConfig };
    delete config['container'];
    delete config['container_config'];
    if (author) config.author = author;
    else delete config.author;
    config.history = [
      ...baseHistory(parentCfg),
      historyEntry({ created_by: ctr.process.args.join(' '), author, comment: typeof p['message'] === 'string' ? p['message'] : undefined }, created),
    ];
    const rec = await createImage(store, { config, layers: [...ociLayers(parent), layer], tags });
    process.stdout.write(`${rec.id}\n`);
  } finally {
    await lock.release();
  }
  return 0;
}
