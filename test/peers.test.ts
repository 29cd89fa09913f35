// Every file in ../shared/fixtures/peers, read the way its INDEX.tsv says: archives and layouts are
// loaded, rootfs exports imported; each image must carry the index's tags and config id, flatten
// (bale export) to exactly the writer's listing in expected/*.tsv, and print the index's output when run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { baleOk, tmpDir } from './helpers.js';
import { expectedListing, listing, PEERS } from './listing.js';


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

for (const row of index.filter((r) => ['docker-archive', 'oci-archive', 'oci-layout-dir', 'containers-dir'].includes(r.kind))) {
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
