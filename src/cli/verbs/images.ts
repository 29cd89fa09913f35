// bale images: the images in the store, one row per tag (untagged images once).
import { Store, type ImageRecord } from '../../store/store.js';
import { hexOf } from '../../oci/digest.js';
import type { ImageConfig } from '../../oci/types.js';
import { parseReference } from '../../oci/reference.js';
import { IMAGE_FILTERS, imageFilter } from '../../image/filter.js';
import { parseFilters } from '../../util/filters.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { goTime, humanAge, humanSize } from '../output.js';
import { FORMAT_HELP, printRows, type Listing } from '../format.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale images [OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images: one row per tag, untagged images once (as <none>).',
  operands: 'image',
  options: [
    { flags: '-q, --quiet', text: 'Only image ids (each once)' },
    { flags: '--no-trunc', text: 'Full image ids' },
    { flags: '--digests', text: 'Show manifest digests' },
    { flags: '-f, --filter', arg: 'FILTER', text: 'dangling=true|false, reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE', values: ['dangling=true', 'dangling=false', 'reference=', 'label=', 'before=', 'since='] },
    { flags: '--format', arg: 'F', text: FORMAT_HELP, values: ['table', 'json'] },
    { flags: '-h, --help', text: 'Show this help' },
  ],
  notes: `SIZE is what docker shows: the sizes of the files in the image's layers (not the tars' length;
for images from before bale recorded that, the layers as stored). Template fields: .ID .Repository .Tag .Digest .CreatedSince
.CreatedAt .Size .VirtualSize .SharedSize .UniqueSize .Containers`,
};

/** One image under one name, before it is formatted. */
export interface ImageRow {
  Repository: string;
  Tag: string;
  ID: ImageRecord['id'];
  Digest: string;
  Created: string;
  Size: number;
  Labels: Record<string, string>;
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
    const cfg = configs.get(rec.id);
    const base = { ID: rec.id, Digest: rec.manifest.digest, Created: cfg?.created ?? '', Size: Store.imageSize(rec), Labels: cfg?.config?.Labels ?? {} };
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

const LISTING: Listing = {
  table: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}',
  headers: {
    Containers: 'CONTAINERS', CreatedAt: 'CREATED AT', CreatedSince: 'CREATED', Digest: 'DIGEST', ID: 'IMAGE ID', Repository: 'REPOSITORY',
    SharedSize: 'SHARED SIZE', Size: 'SIZE', Tag: 'TAG', UniqueSize: 'UNIQUE SIZE', VirtualSize: 'SIZE',
  },
};

/** A row as docker's formatter shows it: every field a string. */
function shown(r: ImageRow, noTrunc: boolean, digests: boolean) {
  return {
    Containers: 'N/A',
    CreatedAt: goTime(r.Created),
    CreatedSince: humanAge(r.Created),
    // As docker: the digest only with --digests, and none for an untagged image.
    Digest: digests && r.Repository !== '<none>' ? r.Digest : '<none>',
    ID: noTrunc ? r.ID : hexOf(r.ID).slice(0, 12),
    Repository: r.Repository,
    SharedSize: 'N/A',
    Size: humanSize(r.Size),
    Tag: r.Tag,
    UniqueSize: 'N/A',
    VirtualSize: humanSize(r.Size, 4),
  };
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(
    args,
    { boolean: ['quiet', 'no-trunc', 'digests', 'all'], string: ['format'], multi: ['filter'], alias: { q: 'quiet', a: 'all', f: 'filter' } },
    'images',
  );
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 1, 'images');
  const filters = parseFilters(p['filter'] as string[], IMAGE_FILTERS, 'images');
  const store = await Store.open();
  const match = await imageFilter(store, filters);
  let rows = (await imageRows(store)).filter((r) =>
    match({ ...(r.Repository === '<none>' ? {} : { repository: r.Repository, tag: r.Tag }), created: r.Created, labels: r.Labels }),
  );
  if (p._[0]) {
    const want = parseReference(p._[0]);
    rows = rows.filter((r) => r.Repository === want.name && (!want.tag || r.Tag === want.tag));
  }
  const noTrunc = Boolean(p['no-trunc']);
  if (p['quiet']) {
    const ids = new Set(rows.map((r) => shown(r, noTrunc, false).ID));
    process.stdout.write([...ids].map((id) => id + '\n').join(''));
    return 0;
  }
  const listing = p['digests'] ? { ...LISTING, table: LISTING.table.replace('{{.Tag}}', '{{.Tag}}\t{{.Digest}}') } : LISTING;
  // As docker: a template that names .Digest shows digests as --digests does.
  const digests = Boolean(p['digests']) || String(p['format'] ?? '').includes('.Digest');
  printRows(rows.map((r) => shown(r, noTrunc, digests)), p['format'] as string | undefined, listing);
  return 0;
}
