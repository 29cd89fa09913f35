// bale verify: check an archive or image directory without touching the store.
import { createReadStream, promises as fsp } from 'node:fs';
import { verifyArchive } from '../../archive/verify.js';
import { hostPlatform } from '../../archive/load.js';
import { parsePlatform } from '../../oci/platform.js';
import { BaleError } from '../../util/errors.js';
import { damagedPart, joinParts, listName, readPartList, splitBase } from '../../archive/split.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { humanSize, Progress } from '../output.js';

export const help = `Usage: bale verify [OPTIONS] ARCHIVE|DIR|ARCHIVE.000

Check every digest, size and diff_id of an archive (any that bale load reads, plain, gzip or zstd)
or image directory (OCI layout, containers dir:, unpacked docker save), and every layer entry by
entry, as load would, without writing to the store or anywhere else. Prints one line per problem
and exits 1 if there is any, else 0.

Options:
  -q, --quiet        Print only problems
      --platform P   Check P (os/arch) of multi-platform indexes (default: this host)
  -h, --help         Show this help
`;

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['quiet'], string: ['platform'], alias: { q: 'quiet' } }, 'verify');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'verify');
  const target = String(p._[0]);
  const st = await fsp.stat(target).catch(() => {
    throw new BaleError(`${target}: no such file or directory`);
  });
  const platform = p['platform'] ? parsePlatform(String(p['platform'])) : hostPlatform();
  const quiet = Boolean(p['quiet']);
  const progress = new Progress(quiet);
  let report;
  try {
    const base = splitBase(target);
    const parts = base && !st.isDirectory() ? await readPartList(base) : undefined;
    const input = st.isDirectory() ? { dir: target } : parts ? joinParts(parts) : createReadStream(target, { highWaterMark: 1024 * 1024 });
    report = await verifyArchive(input, {
      label: target,
      ...platform,
      onProgress: (n) => progress.update(`Verifying ${target}: ${humanSize(n)}${st.isDirectory() ? '' : ` / ${humanSize(st.size)}`}`),
    });
    const bad = parts && report.problems.length ? await damagedPart(parts) : undefined;
    if (bad) report.problems = [`${bad}: part damaged (its sha256 is not the one ${listName(base!)} gives)`];
  } finally {
    progress.done();
  }
  for (const line of report.problems) process.stdout.write(`${line}\n`);
  if (report.problems.length) return 1;
  if (!quiet) process.stdout.write(`${target}: ${report.images} image${report.images === 1 ? '' : 's'}, ${report.files} files (${humanSize(report.bytes)}): OK\n`);
  return 0;
}
