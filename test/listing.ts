// Flattened listings in the format of ../shared/fixtures/peers/expected/*.tsv (path, type, mode with
// the type bits, uid:gid, size, link, xattr names), made from a flat tar such as `bale export` writes.
import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { readTar } from '../src/layer/tar-reader.js';
import { SHARED } from './helpers.js';

export const PEERS = path.join(SHARED, 'fixtures', 'peers');

/**
 * A flat tar as the index's listing lines: path, type, mode with type bits, uid:gid, size, link,
 * xattr names. A group of hardlinked names is listed as the describer does: the first name in
 * sorted order is the file, the others are hardlinks to it.
 */
export async function listing(tarFile: string): Promise<string[]> {
  const TYPE: Record<string, [string, number]> = { '0': ['file', 0o100000], '1': ['hardlink', 0o100000], '2': ['symlink', 0o120000], '5': ['dir', 0o040000], '6': ['fifo', 0o010000], '3': ['char', 0o020000], '4': ['block', 0o060000] };
  const rows = new Map<string, { type: string; mode: number; owner: string; size: number; link: string; xattrs: string }>();
  for await (const ev of readTar(createReadStream(tarFile))) {
    if (!('header' in ev)) continue;
    const h = ev.header;
    const name = '/' + h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    if (name === '/') continue;
    const [type, bits] = TYPE[h.typeflag] ?? ['?', 0];
    const xattrs = [...h.pax.keys()].filter((k) => k.startsWith('SCHILY.xattr.')).map((k) => k.slice(13)).sort().join(',');
    const link = type === 'hardlink' ? '/' + h.linkname.replace(/^\.?\/+/, '') : type === 'symlink' ? h.linkname : '';
    rows.set(name, { type, mode: bits | (h.mode & 0o7777), owner: `${h.uid}:${h.gid}`, size: h.size, link, xattrs });
  }
  // Canonical hardlink groups: every name that links to a file joins that file's group.
  const groups = new Map<string, string[]>();
  for (const [name, r] of rows) if (r.type === 'hardlink') groups.set(r.link, [...(groups.get(r.link) ?? [r.link]), name]);
  for (const names of groups.values()) {
    const sorted = names.sort();
    const file = rows.get(names.find((n) => rows.get(n)!.type !== 'hardlink')!)!;
    for (const [i, n] of sorted.entries()) {
      rows.set(n, i === 0 ? { ...file, type: 'file', link: '' } : { ...file, type: 'hardlink', size: 0, link: sorted[0]! });
    }
  }
  return [...rows.keys()].sort().map((n) => {
    const r = rows.get(n)!;
    return [n, r.type, r.mode.toString(8), r.owner, r.size, r.link, r.xattrs].join('\t');
  });
}

const TYPE_BITS: Record<string, number> = { file: 0o100000, hardlink: 0o100000, symlink: 0o120000, dir: 0o040000, fifo: 0o010000, char: 0o020000, block: 0o060000 };

/**
 * The describer copies a layer's raw mode field, and umoci writes it without the type bits that
 * Go's archive/tar adds (`0755` for a directory, not `040755`): the type column says the same, so the
 * mode is compared as type bits | permissions. It also lists umoci's root entry `./` as `/.`;
 * listing() skips the root on both sides.
 */
export function expectedListing(rel: string): string[] {
  return readFileSync(path.join(PEERS, rel), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('/.\t'))
    .map((l) => {
      const f = l.split('\t');
      f[2] = ((TYPE_BITS[f[1]!] ?? 0) | (parseInt(f[2]!, 8) & 0o7777)).toString(8);
      return f.join('\t');
    });
}

