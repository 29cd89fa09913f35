// bale images: the images in the store, one row per tag (untagged images once).
import { Store, type ImageRecord } from '../../store/store.js';
import { hexOf, shortId } from '../../oci/digest.js';
import type { ImageConfig } from '../../oci/types.js';
import { parseReference } from '../../oci/reference.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { humanAge, humanSize, outputFormat, printJson, printTable } from '../output.js';

export const help = `Usage: bale images [OPTIONS] [REPOSITORY[:TAG]]

List images: one row per tag, untagged images once (as <none>).

Options:
  -q, --quiet        Only image ids (each once)
      --no-trunc     Full image ids
      --digests      Show manifest digests
      --format F     table (default) or json
  -h, --help         Show this help

SIZE is what docker shows: the sizes of the files in the image's layers (not the tars' length;
for images from before bale recorded that, the layers as stored).
`;

export interface ImageRow {
  Repository: string;
  Tag: string;
  ID: string;
  Digest: string;
  Created: string;
  Size: number;
}

export async function imageRows(store: Store): Promise<ImageRow[]> {
  const tags = await store.tags();
  const byId = new Map<string, string[]>();
  for (const [t, id] of Object.entries(tags)) byId.set(id, [...(byId.get(id) ?? []), t]);
  const rows: ImageRow[] = [];
  const recs = await store.images();
  const configs = new Map<string, ImageConfig>();
  for (const r of recs) configs.set(r.id, await store.config(r).catch(() => ({}) as ImageConfig));
  for (const rec of recs) {
    const size = Store.imageSize(rec);
    const created = configs.get(rec.id)?.created ?? '';
    const base = { ID: rec.id, Digest: rec.manifest.digest, Created: created, Size: size };
    const ts = byId.get(rec.id) ?? [];
    if (ts.length === 0) rows.push({ Repository: '<none>', Tag: '<none>', ...base });
    for (const t of ts.sort()) {
      const i = t.lastIndexOf(':');
      rows.push({ Repository: t.slice(0, i), Tag: t.slice(i + 1), ...base });
    }
  }
  // Newest first, like docker; then by name for a stable order.
  rows.sort((a, b) => b.Created.localeCompare(a.Created) || a.Repository.localeCompare(b.Repository) || a.Tag.localeCompare(b.Tag));
  return rows;
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['quiet', 'no-trunc', 'digests', 'all'], string: ['format'], alias: { q: 'quiet', a: 'all' } }, 'images');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 1, 'images');
  const format = outputFormat(p['format'], 'images');
  const store = await Store.open();
  let rows = await imageRows(store);
  if (p._[0]) {
    const want = parseReference(p._[0]);
    rows = rows.filter((r) => r.Repository === want.name && (!want.tag || r.Tag === want.tag));
  }
  if (p['quiet']) {
    const seen = new Set<string>();
    for (const r of rows) {
      if (seen.has(r.ID)) continue;
      seen.add(r.ID);
      process.stdout.write(`${p['no-trunc'] ? r.ID : shortId(r.ID as ImageRecord['id'])}\n`);
    }
    return 0;
  }
  if (format === 'json') {
    printJson(rows);
    return 0;
  }
  const header = ['REPOSITORY', 'TAG', ...(p['digests'] ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
  printTable(
    header,
    rows.map((r) => [
      r.Repository,
      r.Tag,
      ...(p['digests'] ? [r.Digest] : []),
      p['no-trunc'] ? r.ID : hexOf(r.ID as ImageRecord['id']).slice(0, 12),
      humanAge(r.Created),
      humanSize(r.Size),
    ]),
  );
  return 0;
}
