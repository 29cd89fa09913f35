// bale save: images from the store into one archive that docker, podman and skopeo load.
import { createWriteStream, promises as fsp, rmSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { parseFlags, needArgs, wantsHelp } from '../verb.js';
import { Progress, humanSize } from '../output.js';
import { Store } from '../../store/store.js';
import { isDigest, type Digest } from '../../oci/digest.js';
import { parseReference } from '../../oci/reference.js';
import type { Compression } from '../../oci/media.js';
import { writeArchive, type ArchiveFormat, type LayerSet, type SaveRequest } from '../../archive/writer.js';
import { archiveLayerSet } from '../../archive/layer-set.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { uniqueName } from '../../util/fsx.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale save [OPTIONS] IMAGE [IMAGE...]',
  summary: `Save images to a tar archive that is both a Docker archive (manifest.json, repositories, legacy
<id>/ dirs) and an OCI image layout (oci-layout, index.json, blobs/sha256). Layers shared by several
images are written once. Writes to stdout when -o is not given and stdout is not a terminal.
Images named by tag keep that tag in the archive; images named by id are saved without one.`,
  operands: 'image',
  options: [
    { flags: '-o, --output', arg: 'FILE', text: 'Write to FILE (made complete under a temp name, then renamed)', values: 'file' },
    { flags: '--format', arg: 'FORMAT', text: 'docker, oci or both (default both)', values: ['docker', 'oci', 'both'] },
    { flags: '--compress', arg: 'C', text: 'Re-encode layers as none, gzip or zstd (default: as stored; layers already so are kept). zstd needs an OCI archive (--format oci, or both with --compress zstd)', values: ['none', 'gzip', 'zstd'] },
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

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(
    args,
    { boolean: ['quiet'], string: ['output', 'format', 'compress'], multi: ['exclude-from', 'exclude-image'], alias: { o: 'output', q: 'quiet' } },
    'save',
  );
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'save');
  const format = (p['format'] ?? 'both') as ArchiveFormat;
  if (!FORMATS.includes(format)) throw new UsageError(`bale save: --format takes docker, oci or both, not ${JSON.stringify(p['format'])}`);
  const compress = p['compress'] as Compression | undefined;
  if (compress !== undefined && !COMPRESSIONS.includes(compress)) {
    throw new UsageError(`bale save: --compress takes none, gzip or zstd, not ${JSON.stringify(compress)}`);
  }
  if (compress === 'zstd' && format === 'docker') {
    throw new UsageError('bale save: --compress zstd needs an OCI archive: a Docker archive cannot declare zstd layers (use --format oci or both, or --compress gzip)');
  }
  const output = p['output'] as string | undefined;
  const toStdout = output === undefined || output === '-';
  if (toStdout && process.stdout.isTTY) {
    throw new UsageError('bale save: refusing to write an archive to a terminal (use -o FILE or redirect stdout)');
  }
  const quiet = Boolean(p['quiet']);

  const store = await Store.open();
  // Shared with loads, exclusive for rmi/gc: no blob this save reads is collected under it.
  const lock = await store.writerLock();
  let tmp: string | undefined;
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

    // Interrupted: leave no half archive next to the output and no re-encoded layer in the store.
    const temps = new Set<string>();
    const onSignal = (partial?: string) => {
      for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
        process.removeAllListeners(sig);
        process.once(sig, () => {
          for (const f of [...temps, ...(partial ? [partial] : [])]) rmSync(f, { force: true });
          process.exit(code);
        });
      }
    };
    onSignal();
    let summary;
    if (toStdout) {
      summary = await writeArchive(store, requests, process.stdout, { format, compress, exclude, onProgress, temps, end: false });
    } else {
      const dest = path.resolve(output!);
      tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${uniqueName('bale')}`);
      onSignal(tmp);
      const ws = createWriteStream(tmp, { mode: 0o644 });
      await once(ws, 'open').catch((e: NodeJS.ErrnoException) => {
        throw new BaleError(`bale save: cannot write ${output}: ${e.code ?? e.message}`);
      });
      summary = await writeArchive(store, requests, ws, { format, compress, exclude, onProgress, temps });
      const fh = await fsp.open(tmp, 'r+');
      await fh.sync();
      await fh.close();
      await fsp.rename(tmp, dest);
      tmp = undefined;
    }
    progress.done();
    if (!quiet && process.stderr.isTTY) {
      const ex = summary.excluded.length ? `, ${summary.excluded.length} layer${summary.excluded.length === 1 ? '' : 's'} left out` : '';
      process.stderr.write(`Saved ${summary.images} image${summary.images === 1 ? '' : 's'} (${summary.blobs} blobs, ${humanSize(summary.bytes)}${ex})\n`);
    }
    return 0;
  } finally {
    if (tmp) await fsp.rm(tmp, { force: true });
    await lock.release();
  }
}
