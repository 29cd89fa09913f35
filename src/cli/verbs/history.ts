// bale history: an image's history, newest first, empty layers included.
import { Store } from '../../store/store.js';
import { shortId } from '../../oci/digest.js';
import type { HistoryEntry } from '../../oci/types.js';
import { ellipsis } from '../command-text.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { humanAge, humanSize, rfc3339 } from '../output.js';
import { FORMAT_HELP, printRows, type Listing } from '../format.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale history [OPTIONS] IMAGE',
  summary: `Show the history of an image, newest first. Entries that made no layer (ENV, CMD, ...) show 0B.
SIZE is what docker shows: the sizes of the files in the layer, not the tar's length.`,
  operands: 'image',
  options: [
    { flags: '--no-trunc', text: 'Do not shorten ids and commands' },
    { flags: '-q, --quiet', text: 'Only image ids' },
    { flags: '-H, --human', text: 'Sizes and dates for people (default true; --human=false for bytes and RFC 3339)' },
    { flags: '--format', arg: 'F', text: FORMAT_HELP, values: ['table', 'json'] },
    { flags: '-h, --help', text: 'Show this help' },
  ],
  notes: 'Template fields: .ID .CreatedSince .CreatedAt .CreatedBy .Size .Comment',
};

export interface HistoryRow {
  ID: string;
  Created: string;
  CreatedBy: string;
  Size: number;
  Comment: string;
  EmptyLayer: boolean;
}

/** The image's history entries, newest first, each with the size of the layer it made (0 for none). */
async function historyRows(store: Store, ref: string): Promise<HistoryRow[]> {
  const rec = await store.resolve(ref);
  const cfg = await store.config(rec);
  let hist: HistoryEntry[] = cfg.history ?? [];
  if (hist.filter((h) => !h.empty_layer).length !== rec.layers.length) {
    // History that does not match the layers (some tools write none): one row per layer instead.
    hist = rec.layers.map(() => ({ created: cfg.created, created_by: '' }));
  }
  let layer = 0;
  const rows = hist.map((h): HistoryRow => {
    const size = h.empty_layer ? 0 : (rec.diffSizes?.[layer] ?? rec.layers[layer]?.size ?? 0);
    if (!h.empty_layer) layer++;
    return { ID: '<missing>', Created: h.created ?? '', CreatedBy: h.created_by ?? '', Size: size, Comment: h.comment ?? '', EmptyLayer: Boolean(h.empty_layer) };
  });
  rows.reverse();
  if (rows[0]) rows[0].ID = rec.id;
  return rows;
}

const LISTING: Listing = {
  table: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
  headers: { Comment: 'COMMENT', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', CreatedSince: 'CREATED', ID: 'IMAGE', Size: 'SIZE' },
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['no-trunc', 'quiet', 'human'], string: ['format'], alias: { q: 'quiet', H: 'human' }, default: { human: true } }, 'history');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'history');
  const rows = await historyRows(await Store.open(), p._[0]!);
  const noTrunc = Boolean(p['no-trunc']);
  const human = p['human'] !== false && p['human'] !== 'false';
  const id = (r: HistoryRow) => (r.ID === '<missing>' || noTrunc ? r.ID : shortId(r.ID as `sha256:${string}`));
  if (p['quiet']) {
    process.stdout.write(rows.map((r) => id(r) + '\n').join(''));
    return 0;
  }
  const createdBy = (s: string) => {
    const one = s.replace(/\t/g, ' ');
    return noTrunc || [...one].length <= 45 ? one : [...one].slice(0, 44).join('') + '…';
  };
  const shown = rows.map((r) => ({
    Comment: r.Comment,
    CreatedAt: rfc3339(r.Created),
    CreatedBy: createdBy(r.CreatedBy),
    CreatedSince: human ? humanAge(r.Created) : rfc3339(r.Created),
    ID: id(r),
    Size: human ? humanSize(r.Size) : String(r.Size),
  }));
  printRows(shown, p['format'] as string | undefined, human ? LISTING : { ...LISTING, headers: { ...LISTING.headers, CreatedSince: 'CREATED AT' } });
  return 0;
}
