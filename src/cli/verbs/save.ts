// bale save: images from the store into one archive that docker, podman and skopeo load.
import { promises as fsp, rmSync } from 'node:fs';
import path from 'node:path';
import { parseFlags, needArgs, wantsHelp } from '../verb.js';
import { Progress, humanSize } from '../output.js';
import { Store } from '../../store/store.js';
import { isDigest, type Digest } from '../../oci/digest.js';
import { parseReference } from '../../oci/reference.js';
import type { Compression } from '../../oci/media.js';
import { writeArchive, type ArchiveFormat, type LayerSet, type SaveRequest } from '../../archive/writer.js';
import { archiveLayerSet } from '../../archive/layer-set.js';
import { parseSize, SplitWriter } from '../../archive/split.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { uniqueName } from '../../util/fsx.js';
import { onInterrupt } from '../../util/interrupt.js';
import { OutputFile } from '../../store/outputs.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale save [OPTIONS] IMAGE [IMAGE...]',
  summary: `Save images to a tar archive that is both a Docker archive (manifest.json, repositories, legacy
<id>/ dirs) and an OCI image layout (oci-layout, index.json, blobs/sha256). Layers shared by several
images are written once. Writes to stdout when -o is not given and stdout is not a terminal.
Images named by tag keep that tag in the archive; images named by id are saved without one.
With -o DIR/ (a trailing slash, or an existing empty directory) the same layouts are written as a
directory: --format oci gives an OCI image layout (skopeo oci:DIR, umoci).`,
  operands: 'image',
  options: [
    { flags: '-o, --output', arg: 'FILE|DIR/', text: 'Write to FILE or DIR (made complete under a temp name, then renamed)', values: 'file' },
    { flags: '--format', arg: 'FORMAT', text: 'docker, oci or both (default both)', values: ['docker', 'oci', 'both'] },
    { flags: '--compress', arg: 'C', text: 'Re-encode layers as none, gzip or zstd (default: as stored; layers already so are kept). zstd needs --format oci: docker reads only plain and gzip layers', values: ['none', 'gzip', 'zstd'] },
    { flags: '--split', arg: 'SIZE', text: 'Write FILE.000, FILE.001, … of at most SIZE bytes each (4G, 700M) and FILE.sha256 listing them; bale load -i FILE.000 reads the set' },
    { flags: '--exclude-from', arg: 'BASE', text: 'Leave out layers the archive BASE already carries (a delta archive for a host that has loaded BASE); may be repeated', values: 'file' },
    { flags: '--exclude-image', arg: 'IMAGE', text: 'Leave out the layers of an image in the store; may be repeated', values: 'image' },
    { flags: '-q, --quiet', text: 'No progress' },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

const FORMATS: ArchiveFormat[] = ['docker', 'oci', 'both'];
const COMPRESSIONS: Compression[] = ['none', 'gzip', 'zstd'];

/** Find an image the way docker save names it: by tag (kept in the archive) or by id (no tag). */
async function request(store: Store, ref: string): Promise<SaveRequest> {
  if (!isDigest(ref)) {
    try {
      const r = parseReference(ref);
      if (!r.digest) {
        const key = `${r.name}:${r.tag ?? 'latest'}`;
        const id = (await store.tags())[key];
        if (id) {
          const rec = await store.image(id);
          if (rec) return { rec, tags: [key] };
        }
      }
    } catch {
      // not a reference: an id, resolved below
    }
  }
  return { rec: await store.resolve(ref), tags: [] };
}

/** `-o DIR/` or an existing directory: write the layout as a directory (which must be empty). */
async function wantsDirectory(output: string): Promise<boolean> {
  const st = await fsp.stat(output).catch(() => undefined);
  if (st?.isDirectory()) {
    if ((await fsp.readdir(output)).length) throw new BaleError(`${output} is a directory that is not empty (save writes a new layout)`);
    return true;
  }
  if (st) return false;
  if (output.endsWith('/')) return true;
  return false;
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(
    args,
    { boolean: ['quiet'], string: ['output', 'format', 'compress', 'split'], multi: ['exclude-from', 'exclude-image'], alias: { o: 'output', q: 'quiet' } },
    'save',
  );
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'save');
  const format = (p['format'] ?? 'both') as ArchiveFormat;
  if (!FORMATS.includes(format)) throw new UsageError(`--format takes docker, oci or both, not ${JSON.stringify(p['format'])}`);
  const compress = p['compress'] as Compression | undefined;
  if (compress !== undefined && !COMPRESSIONS.includes(compress)) {
    throw new UsageError(`--compress takes none, gzip or zstd, not ${JSON.stringify(compress)}`);
  }
  if (compress === 'zstd' && format !== 'oci') {
    // docker before 23 cannot read zstd layers ("archive/tar: invalid tar header"), and the Docker
    // half of an archive is for exactly those readers.
    throw new UsageError('--compress zstd needs --format oci: the Docker half of an archive holds only layers docker reads (plain or gzip; use --compress gzip for both)');
  }
  const output = p['output'] as string | undefined;
  const toStdout = output === undefined || output === '-';
  if (toStdout && process.stdout.isTTY) {
    throw new UsageError('refusing to write an archive to a terminal (use -o FILE or redirect stdout)');
  }
  const quiet = Boolean(p['quiet']);
  let split: number | undefined;
  if (p['split'] !== undefined) {
    try {
      split = parseSize(String(p['split']));
    } catch (e) {
      throw new UsageError(`--split: ${(e as Error).message}`);
    }
    if (toStdout) throw new UsageError('bale save: --split needs -o FILE (the parts are FILE.000, FILE.001, …)');
  }

  const store = await Store.open();
  // Shared with loads, exclusive for rmi/gc: no blob this save reads is collected under it.
  const lock = await store.writerLock();
  try {
    const requests: SaveRequest[] = [];
    for (const ref of p._) requests.push(await request(store, ref));

    let exclude: LayerSet | undefined;
    const excludeFrom = p['exclude-from'] as string[];
    const excludeImages = p['exclude-image'] as string[];
    if (excludeFrom.length || excludeImages.length) {
      exclude = { digests: new Set<Digest>(), diffIds: new Set<Digest>() };
      for (const f of excludeFrom) {
        const s = await archiveLayerSet(f);
        for (const d of s.digests) exclude.digests.add(d);
        for (const d of s.diffIds) exclude.diffIds.add(d);
      }
      for (const ref of excludeImages) {
        const rec = await store.resolve(ref);
        for (const l of rec.layers) exclude.digests.add(l.digest);
        for (const d of rec.diffIds) exclude.diffIds.add(d);
      }
    }

    const progress = new Progress(quiet);
    const onProgress = (e: { bytes: number; total: number; what: string }) =>
      progress.update(e.total ? `Saving ${e.what}  ${humanSize(e.bytes)}/${humanSize(e.total)}` : e.what);

    // Interrupted: leave no re-encoded layer in the store (OutputFile looks after the archive).
    const temps = new Set<string>();
    let tmpDir: string | undefined;
    const forget = onInterrupt(() => {
      for (const f of temps) rmSync(f, { force: true, recursive: true });
      if (tmpDir) rmSync(tmpDir, { force: true, recursive: true });
    });
    let summary;
    try {
      if (toStdout) {
        summary = await writeArchive(store, requests, process.stdout, { format, compress, exclude, onProgress, temps, end: false });
      } else if (split !== undefined) {
        const sw = new SplitWriter(path.resolve(output!), split, (t) => temps.add(t));
        try {
          summary = await writeArchive(store, requests, sw, { format, compress, exclude, onProgress, temps });
          await sw.commit();
        } catch (e) {
          await sw.abort();
          throw e;
        }
      } else if (await wantsDirectory(output!)) {
        // A directory is filled under a temp name beside it and renamed into place when complete.
        const dest = path.resolve(output!);
        tmpDir = path.join(path.dirname(dest), `.${path.basename(dest)}.${uniqueName('bale')}`);
        summary = await writeArchive(store, requests, { dir: tmpDir }, { format, compress, exclude, onProgress, temps });
        await fsp.rmdir(dest).catch(() => {});
        await fsp.rename(tmpDir, dest);
        tmpDir = undefined;
      } else {
        const out = await OutputFile.create(store, output!);
        try {
          summary = await writeArchive(store, requests, out.stream, { format, compress, exclude, onProgress, temps });
          await out.commit();
        } catch (e) {
          throw await out.fail(e);
        }
      }
    } finally {
      forget();
      if (tmpDir) await fsp.rm(tmpDir, { force: true, recursive: true });
    }
    progress.done();
    if (!quiet && process.stderr.isTTY) {
      const ex = summary.excluded.length ? `, ${summary.excluded.length} layer${summary.excluded.length === 1 ? '' : 's'} left out` : '';
      process.stderr.write(`Saved ${summary.images} image${summary.images === 1 ? '' : 's'} (${summary.blobs} blobs, ${humanSize(summary.bytes)}${ex})\n`);
    }
    return 0;
  } finally {
    await lock.release();
  }
}
