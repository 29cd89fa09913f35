// bale history: an image's history, newest first, empty layers included.
import { Store } from '../../store/store.js';
import { shortId } from '../../oci/digest.js';
import type { HistoryEntry } from '../../oci/types.js';
import { ellipsis } from '../command-text.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { humanAge, humanSize, outputFormat, printJson, printTable } from '../output.js';

export const help = `Usage: bale history [OPTIONS] IMAGE

Show the history of an image, newest first. Entries that made no layer (ENV, CMD, ...) show 0B.
SIZE is what docker shows: the sizes of the files in the layer, not the tar's length.

Options:
      --no-trunc   Do not shorten ids and commands
  -q, --quiet      Only image ids
      --format F   table (default) or json
  -h, --help       Show this help
`;

export interface HistoryRow {
  ID: string;
  Created: string;
  CreatedBy: string;
  Size: number;
  Comment: string;
  EmptyLayer: boolean;
  Layer?: string;
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['no-trunc', 'quiet', 'human'], string: ['format'], alias: { q: 'quiet', H: 'human' } }, 'history');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'history');
  const format = outputFormat(p['format'], 'history');
  const store = await Store.open();
  const rec = await store.resolve(p._[0]!);
  const cfg = await store.config(rec);
  let hist: HistoryEntry[] = cfg.history ?? [];
  const layersInHistory = hist.filter((h) => !h.empty_layer).length;
  if (layersInHistory !== rec.layers.length) {
    // History that does not match the layers (some tools write none): one row per layer instead.
    hist = rec.layers.map(() => ({ created: cfg.created, created_by: '' }));
  }
  const rows: HistoryRow[] = [];
  let layer = 0;
  for (const h of hist) {
    const row: HistoryRow = { ID: '<missing>', Created: h.created ?? '', CreatedBy: h.created_by ?? '', Size: 0, Comment: h.comment ?? '', EmptyLayer: Boolean(h.empty_layer) };
    if (!h.empty_layer) {
      const l = rec.layers[layer];
      row.Size = rec.diffSizes?.[layer] ?? l?.size ?? 0;
      row.Layer = rec.diffIds[layer];
      layer++;
    }
    rows.push(row);
  }
  rows.reverse();
  if (rows[0]) rows[0].ID = rec.id;
  if (p['quiet']) {
    for (const r of rows) process.stdout.write(`${r.ID === '<missing>' || p['no-trunc'] ? r.ID : shortId(rec.id)}\n`);
    return 0;
  }
  if (format === 'json') {
    printJson(rows);
    return 0;
  }
  printTable(
    ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
    rows.map((r) => [
      r.ID === '<missing>' || p['no-trunc'] ? r.ID : shortId(rec.id),
      humanAge(r.Created),
      p['no-trunc'] ? r.CreatedBy.replace(/\t/g, ' ') : ellipsis(r.CreatedBy.replace(/\t/g, ' '), 45),
      humanSize(r.Size),
      r.Comment,
    ]),
  );
  return 0;
}
