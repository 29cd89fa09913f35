// bale export: a container's (or an image's) merged filesystem as one flat tar, streamed.
import { createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { packStream } from '../../layer/pack.js';
import { walkMerged } from '../../layer/tree.js';
import { containerPaths, findContainer, lowerDirs, type ContainerRecord } from '../../runtime/container.js';
import { unpackLayers } from '../../store/layers.js';
import { Store } from '../../store/store.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { exists, uniqueName } from '../../util/fsx.js';
import { humanSize, Progress } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale export [OPTIONS] CONTAINER|IMAGE',
  summary: `Write the merged filesystem of a container (its image layers, init layer and
changes) or of an image as one flat tar: no whiteouts, hardlinks kept (a link
whose other name a later layer replaced becomes a file of its own), modes,
ownership and xattrs kept. The tar is streamed, never staged on disk.
Names are sorted, so the same filesystem gives the same tar.`,
  operands: 'container',
  options: [
    { flags: '-o, --output', arg: 'FILE', text: 'Write to FILE (atomically) instead of stdout', values: 'file' },
    { flags: '-q, --quiet', text: 'No progress (progress only shows on a terminal, with -o)' },
  ],
};

/**
 * A container's read-only layers, top first (init, then the image's layers): the runtime's
 * lowerDirs when the record names its layers and they are unpacked, else unpacked from its image.
 */
export async function containerLowers(store: Store, rec: ContainerRecord): Promise<string[]> {
  if (rec.layers) {
    const dirs = lowerDirs(store, rec);
    let all = true;
    for (const d of dirs.slice(1)) if (!(await exists(d))) all = false;
    if (all) return dirs;
  }
  const img = await store.image(rec.image);
  if (!img) throw new BaleError(`container ${rec.name}: its image ${rec.image} is gone from the store`);
  return [containerPaths(store, rec.id).init, ...(await unpackLayers(store, img)).reverse()];
}

/** The layer dirs (top first) whose merged view a container shows: upper, init, image layers. */
async function containerLayers(store: Store, nameOrId: string): Promise<string[] | undefined> {
  let rec;
  try {
    rec = await findContainer(store, nameOrId);
  } catch (e) {
    if (e instanceof BaleError && /^No such container/.test(e.message)) return undefined;
    throw e;
  }
  return [containerPaths(store, rec.id).upper, ...(await containerLowers(store, rec))];
}

/** The layer dirs (top first) of a container or, failing that, an image. */
export async function layersOf(store: Store, target: string): Promise<string[]> {
  const c = await containerLayers(store, target);
  if (c) return c;
  const img = await store.tryResolve(target);
  if (!img) throw new BaleError(`No such container or image: ${target}`);
  return (await unpackLayers(store, img)).reverse();
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['output'], boolean: ['quiet'], alias: { o: 'output', q: 'quiet' } }, 'export');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'export');
  const out = typeof p['output'] === 'string' && p['output'] !== '' && p['output'] !== '-' ? path.resolve(p['output']) : undefined;
  if (!out && process.stdout.isTTY) throw new UsageError('bale export: refusing to write a tar to a terminal; use -o FILE or redirect stdout');
  if (out && !(await exists(path.dirname(out)))) throw new BaleError(`${path.dirname(out)}: no such directory`);
  const store = await Store.open();
  const layers = await layersOf(store, p._[0]!);
  const stats = { entries: 0, bytes: 0 };
  const tar = packStream(walkMerged(layers), {}, stats);
  if (!out) {
    await pipeline(tar, process.stdout);
    return 0;
  }
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${uniqueName('bale')}`);
  const progress = new Progress(Boolean(p['quiet']));
  tar.on('data', () => progress.update(`exporting ${p._[0]}: ${stats.entries} files, ${humanSize(stats.bytes)}`));
  try {
    await pipeline(tar, createWriteStream(tmp, { mode: 0o644 }));
    await fsp.rename(tmp, out);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  } finally {
    progress.done();
  }
  return 0;
}
