// Every file in ../shared/fixtures/peers, read the way its INDEX.tsv says: archives and layouts are
// loaded, rootfs exports imported; each image must carry the index's tags and config id, flatten
// (bale export) to exactly the writer's listing in expected/*.tsv, and print the index's output when run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readTar } from '../src/layer/tar-reader.js';
import { baleOk, SHARED, tmpDir } from './helpers.js';

const PEERS = path.join(SHARED, 'fixtures', 'peers');

interface IndexRow {
  file: string;
  kind: string;
  /** In archive order: the tags of each image ('-' = untagged) and its config digest prefix. */
  images: { tags: string[]; id: string }[];
  outputs: string[];
  listings: string[];
}

function readIndex(): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const line of readFileSync(path.join(PEERS, 'INDEX.tsv'), 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [file, kind, , images, output, listings] = line.split('\t');
    rows.push({
      file: file!,
      kind: kind!,
      images: images === '-' ? [] : images!.split(' ').map((s) => {
        const [tags, id] = s.split('=');
        return { tags: tags === '-' ? [] : tags!.split(','), id: id! };
      }),
      outputs: output === '-' ? [] : output!.split('|'),
      listings: listings!.split(' '),
    });
  }
  return rows;
}

/**
 * A flat tar as the index's listing lines: path, type, mode with type bits, uid:gid, size, link,
 * xattr names. A group of hardlinked names is listed as the describer does: the first name in
 * sorted order is the file, the others are hardlinks to it.
 */
async function listing(tarFile: string): Promise<string[]> {
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

function expectedListing(rel: string): string[] {
  return readFileSync(path.join(PEERS, rel), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
}

async function assertFlattensTo(root: string, ref: string, rel: string, what: string): Promise<void> {
  const out = path.join(root, '..', `flat-${Math.random().toString(36).slice(2)}.tar`);
  await baleOk(root, ['export', '-q', '-o', out, ref]);
  assert.equal(await listing(out), expectedListing(rel), `${what}: flattened listing differs from ${rel}`);
}

interface ImageRow {
  Repository: string;
  Tag: string;
  ID: string;
}

const index = existsSync(path.join(PEERS, 'INDEX.tsv')) ? readIndex() : [];

test('the peers folder and its index are there (CI lays ../shared beside the checkout)', () => {
  assert.ok(index.length >= 10, `expected the peer fixtures at ${PEERS}`);
  for (const r of index) assert.ok(existsSync(path.join(PEERS, r.file)), `${r.file} listed in INDEX.tsv exists`);
});

// Directory layouts (oci-layout-dir, containers-dir) join this list when load reads directories (issue 11).
for (const row of index.filter((r) => r.kind === 'docker-archive' || r.kind === 'oci-archive')) {
  test(`${row.file} (${row.kind}) loads, keeps tags and ids, flattens to its writer's listing and runs`, async () => {
    const t = tmpDir('bale-peers-');
    const root = path.join(t.dir, 'store');
    try {
      await baleOk(root, ['load', '-q', '-i', path.join(PEERS, row.file)]);
      const rows = (await baleOk(root, ['images', '--no-trunc', '--format', 'json'])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as ImageRow);
      assert.is(new Set(rows.map((r) => r.ID)).size, row.images.length, 'one image per index entry, no others');
      for (const [i, img] of row.images.entries()) {
        const mine = rows.filter((r) => r.ID.startsWith(`sha256:${img.id}`));
        assert.ok(mine.length > 0, `image ${img.id} loaded`);
        const tags = mine.filter((r) => r.Tag !== '<none>').map((r) => `${r.Repository}:${r.Tag}`).sort();
        const want = img.tags.map((t) => (t.includes(':') ? t : `${t}:latest`)).sort();
        assert.equal(tags, want, `tags of ${img.id}`);
        await assertFlattensTo(root, mine[0]!.ID, row.listings[i]!, `${row.file} image ${i}`);
        const printed = await baleOk(root, ['run', '--rm', mine[0]!.ID]);
        assert.is(printed.trim(), row.outputs[i], `${row.file} image ${i} output`);
      }
    } finally {
      t.cleanup();
    }
  });
}

for (const row of index.filter((r) => r.kind === 'rootfs-export')) {
  test(`${row.file} (rootfs export) imports and flattens back to the same listing`, async () => {
    const t = tmpDir('bale-peers-');
    const root = path.join(t.dir, 'store');
    try {
      const id = (await baleOk(root, ['import', '-q', path.join(PEERS, row.file), 'exported:1'])).trim();
      assert.match(id, /^sha256:[a-f0-9]{64}$/);
      await assertFlattensTo(root, 'exported:1', row.listings[0]!, row.file);
    } finally {
      t.cleanup();
    }
  });
}

test.run();
