// bale fsck: re-hash the store and report damaged or missing blobs.
import { shortId } from '../../oci/digest.js';
import { fsck, type FsckReport } from '../../store/fsck.js';
import { Store } from '../../store/store.js';
import { UsageError } from '../../util/errors.js';
import { humanSize, outputFormat, printJson, Progress } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale fsck [OPTIONS]',
  summary: `Re-hash every blob in the store and check every image and tag against it. Reports blobs whose
content no longer matches their digest, blobs an image needs that are missing, and records that
contradict their blobs. Exits 0 when the store is sound, 1 when anything is wrong.`,
  options: [
    { flags: '-j, --jobs', arg: 'N', text: 'Blobs hashed at once (default 2)' },
    { flags: '--format', arg: 'F', text: 'table (default) or json', values: ['table', 'json'] },
    { flags: '-q, --quiet', text: 'Print problems only, no summary and no progress' },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['quiet'], string: ['format', 'jobs'], alias: { q: 'quiet', j: 'jobs' } }, 'fsck');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 0, 'fsck');
  const format = outputFormat(p['format'], 'fsck');
  const jobs = p['jobs'] === undefined ? 2 : Number(p['jobs']);
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError(`--jobs takes a positive integer, not ${JSON.stringify(p['jobs'])}`);
  }
  const quiet = Boolean(p['quiet']);
  const store = await Store.open();
  const progress = new Progress(quiet || format === 'json');
  const report = await fsck(store, {
    concurrency: jobs,
    onBlob: (done, total, bytes) => progress.update(`checking blobs ${done}/${total} (${humanSize(bytes)})`),
  });
  progress.done();
  if (format === 'json') printJson(report);
  else printReport(report, quiet);
  return report.problems.length === 0 ? 0 : 1;
}

function printReport(r: FsckReport, quiet: boolean): void {
  const lines: string[] = [];
  for (const pr of r.problems) {
    const who = pr.images?.length ? ` (image${pr.images.length > 1 ? 's' : ''} ${pr.images.map(shortId).join(', ')})` : '';
    lines.push(`${pr.kind.padEnd(7)}  ${pr.digest ?? '-'}  ${pr.detail}${who}`);
  }
  if (!quiet) {
    lines.push(
      `checked ${r.blobs} blob${r.blobs === 1 ? '' : 's'} (${humanSize(r.bytes)}), ${r.images} image${r.images === 1 ? '' : 's'}, ${r.tags} tag${r.tags === 1 ? '' : 's'}: ` +
        (r.problems.length === 0 ? 'no problems' : `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`) +
        (r.tmpFiles ? ` (${r.tmpFiles} temp file${r.tmpFiles === 1 ? '' : 's'} left; 'bale gc' removes them)` : ''),
    );
  }
  if (lines.length) process.stdout.write(lines.join('\n') + '\n');
}
