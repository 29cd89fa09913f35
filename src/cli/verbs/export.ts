// bale export: a container's (or an image's) merged filesystem as one flat tar, streamed.
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { packRanges, packStream } from '../../layer/pack.js';
import { walkMerged } from '../../layer/tree.js';
import { readLayersOf } from '../../runtime/rootfs.js';
import { Store } from '../../store/store.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { exists } from '../../util/fsx.js';
import { OutputFile } from '../../store/outputs.js';
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

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['output'], boolean: ['quiet'], alias: { o: 'output', q: 'quiet' } }, 'export');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'export');
  const out = typeof p['output'] === 'string' && p['output'] !== '' && p['output'] !== '-' ? path.resolve(p['output']) : undefined;
  if (!out && process.stdout.isTTY) throw new UsageError('refusing to write a tar to a terminal; use -o FILE or redirect stdout');
  if (out && !(await exists(path.dirname(out)))) throw new BaleError(`${path.dirname(out)}: no such directory`);
  const store = await Store.open();
  const stats = { entries: 0, bytes: 0 };
  await readLayersOf(store, p._[0]!, async (layers) => {
    if (!out) return pipeline(packStream(walkMerged(layers), {}, stats), process.stdout);
    // Opened before the tar starts: a 'data' listener on it would start the flow.
    const file = await OutputFile.create(store, out);
    const progress = new Progress(Boolean(p['quiet']));
    try {
      // Large files' contents are copied by the kernel, not read into bale and written out again.
      await file.writeParts(packRanges(walkMerged(layers), {}, stats), () =>
        progress.update(`exporting ${p._[0]}: ${stats.entries} files, ${humanSize(stats.bytes)}`),
      );
      await file.commit();
    } catch (e) {
      throw await file.fail(e);
    } finally {
      progress.done();
    }
  });
  return 0;
}
