// bale load: images from an archive into the store.
import { createReadStream, promises as fsp } from 'node:fs';
import { Store } from '../../store/store.js';
import { loadArchive, type LoadInput } from '../../archive/load.js';
import { parsePlatform } from '../../oci/platform.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { damagedPart, joinParts, listName, readPartList, splitBase } from '../../archive/split.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { Progress, humanSize } from '../output.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale load [OPTIONS]',
  summary: `Load images from an archive: docker save (any version since 1.10), podman save, skopeo
docker-archive and oci-archive, crane, or a plain OCI image layout tar; or from a directory: an
OCI image layout (skopeo oci:, umoci), the containers dir: layout (skopeo dir:, podman save
--format docker-dir) or an unpacked docker save. FILE.000 reads the parts bale save --split wrote,
in the order FILE.sha256 lists them, each checked against it. Layers may be plain, gzip
or zstd; the archive itself may be gzip or zstd compressed. Every blob digest and layer diff_id is
verified while reading; on any error nothing is added to the store.`,
  options: [
    { flags: '-i, --input', arg: 'PATH', text: 'Read from the archive or directory PATH instead of standard input', values: 'file' },
    { flags: '-q, --quiet', text: 'Print nothing on success' },
    { flags: '--platform', arg: 'P', text: 'Pick P (os/arch[/variant]) from multi-platform archives (default: this host)' },
    { flags: '--all-platforms', text: "Load every platform of a multi-platform image and keep its index, so bale save writes the same index back (the tags go to --platform's image)" },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['quiet', 'all-platforms'], string: ['input', 'platform'], alias: { i: 'input', q: 'quiet' } }, 'load');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 0, 'load');
  const file = p['input'] as string | undefined;
  let input: LoadInput;
  let label: string;
  let total = 0;
  let parts: Awaited<ReturnType<typeof readPartList>> | undefined;
  if (file && file !== '-') {
    const st = await fsp.stat(file).catch(() => {
      throw new BaleError(`${file}: no such file`);
    });
    const base = splitBase(file);
    if (st.isDirectory()) input = { dir: file };
    else if (base) {
      parts = await readPartList(base);
      for (const part of parts) total += (await fsp.stat(part.file)).size;
      input = joinParts(parts);
    } else {
      total = st.size;
      input = createReadStream(file, { highWaterMark: 1024 * 1024 });
    }
    label = file;
  } else {
    if (process.stdin.isTTY) throw new UsageError('requested load from stdin, but stdin is a terminal (use -i FILE or a pipe)');
    input = process.stdin;
    label = 'stdin';
  }
  const platform = p['platform'] ? parsePlatform(String(p['platform'])) : undefined;
  const quiet = Boolean(p['quiet']);
  const progress = new Progress(quiet);
  const store = await Store.open();
  const started = Date.now();
  let result;
  try {
    result = await loadArchive(store, input, {
      label,
      platform,
      allPlatforms: Boolean(p['all-platforms']),
      onProgress: (n) =>
        progress.update(`Loading ${label}: ${humanSize(n)}${total ? ` / ${humanSize(total)}` : ''} (${humanSize((n * 1000) / Math.max(1, Date.now() - started))}/s)`),
    });
  } catch (e) {
    // A damaged part can break the archive before its own check is reached: name the part.
    const bad = parts && (await damagedPart(parts));
    if (bad) throw new BaleError(`${bad}: part damaged (its sha256 is not the one ${listName(splitBase(file!)!)} gives)`);
    throw e;
  } finally {
    progress.done();
  }
  if (!quiet) {
    for (const img of result.images) {
      if (img.tags.length === 0) process.stdout.write(`Loaded image ID: ${img.id}\n`);
      for (const t of img.tags) process.stdout.write(`Loaded image: ${t}\n`);
    }
  }
  return 0;
}
