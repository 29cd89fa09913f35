// images, inspect, history, tag, rmi, gc against a real store.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Store } from '../src/store/store.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { seedImage } from './images.js';
import { unpackLayers } from '../src/store/layers.js';
import { VERBS } from '../src/cli/main.js';

const shared = [{ name: 'base/' }, { name: 'base/file', content: 'shared layer' }];

async function twoImages(root: string) {
  const a = await seedImage(root, { layers: [shared, [{ name: 'a', content: 'A' }]], tags: ['a:1'], config: { Cmd: ['a'] } });
  const b = await seedImage(root, { layers: [shared, [{ name: 'b', content: 'B' }]], tags: ['b:1', 'b:2'], config: { Cmd: ['b'] } });
  return { a, b };
}

test('images lists one row per tag; -q lists ids once; a repository filter narrows', async () => {
  const t = tmpDir();
  try {
    const { a, b } = await twoImages(t.dir);
    const lines = (await baleOk(t.dir, ['images', '--format', 'json'])).trim().split('\n');
    const rows = lines.map((l) => JSON.parse(l) as { Repository: string; Tag: string; ID: string });
    assert.equal(rows.map((r) => `${r.Repository}:${r.Tag}`).sort(), ['a:1', 'b:1', 'b:2']);
    const q = (await baleOk(t.dir, ['images', '-q', '--no-trunc'])).trim().split('\n').sort();
    assert.equal(q, [a.id, b.id].sort());
    const table = await baleOk(t.dir, ['images', 'b']);
    assert.match(table, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
    assert.is(table.trim().split('\n').length, 3);
  } finally {
    t.cleanup();
  }
});

test('rmi: a shared layer stays while another image uses it, and goes with the last user', async () => {
  const t = tmpDir();
  try {
    const { a, b } = await twoImages(t.dir);
    const store = await Store.open(t.dir);
    const sharedLayer = a.layers[0]!.digest;
    assert.is(b.layers[0]!.digest, sharedLayer);
    assert.is((await store.blobRefCounts()).get(sharedLayer), 2);

    // Untagging one of two tags keeps the image.
    assert.match(await baleOk(t.dir, ['rmi', 'b:2']), 'Untagged: b:2');
    assert.ok(await store.image(b.id));

    assert.match(await baleOk(t.dir, ['rmi', 'a:1']), `Deleted: ${a.id}`);
    assert.ok(await store.hasBlob(sharedLayer), 'shared layer kept for b');
    assert.not.ok(await store.hasBlob(a.layers[1]!.digest), "a's own layer removed");
    assert.not.ok(await store.hasBlob(a.id), "a's config removed");

    await baleOk(t.dir, ['rmi', 'b:1']);
    assert.not.ok(await store.hasBlob(sharedLayer), 'shared layer removed with its last user');
    assert.equal(readdirSync(store.blobDir), []);
  } finally {
    t.cleanup();
  }
});

test('rmi by id of an image with several tags needs --force; unknown images fail', async () => {
  const t = tmpDir();
  try {
    const { b } = await twoImages(t.dir);
    const r = await bale(t.dir, ['rmi', b.id.slice(7, 19)]);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'must be forced');
    await baleOk(t.dir, ['rmi', '-f', b.id.slice(7, 19)]);
    assert.not.ok(await (await Store.open(t.dir)).image(b.id));
    const r2 = await bale(t.dir, ['rmi', 'nope:1']);
    assert.is(r2.code, 1);
    assert.match(r2.stderr, 'No such image: nope:1');
  } finally {
    t.cleanup();
  }
});

test('tag adds a name (moving an existing one); bad names are usage errors', async () => {
  const t = tmpDir();
  try {
    const { a, b } = await twoImages(t.dir);
    await baleOk(t.dir, ['tag', 'a:1', 'registry.example.com/x/y:z']);
    assert.is(JSON.parse(await baleOk(t.dir, ['inspect', 'registry.example.com/x/y:z']))[0].Id, a.id);
    await baleOk(t.dir, ['tag', b.id, 'a:1']);
    assert.is(JSON.parse(await baleOk(t.dir, ['inspect', 'a:1']))[0].Id, b.id);
    const r = await bale(t.dir, ['tag', 'a:1', 'Bad Name']);
    assert.is(r.code, 2);
  } finally {
    t.cleanup();
  }
});

test('history shows empty layers as 0B rows, newest first, with the image id on top', async () => {
  const t = tmpDir();
  try {
    const rec = await seedImage(t.dir, {
      layers: [[{ name: 'x', content: 'x'.repeat(5000) }], [{ name: 'y', content: 'y' }]],
      history: [
        { created: '2024-01-01T00:00:00Z', created_by: 'ADD x' },
        { created: '2024-01-02T00:00:00Z', created_by: 'ENV K=V', empty_layer: true },
        { created: '2024-01-03T00:00:00Z', created_by: 'ADD y' },
        { created: '2024-01-04T00:00:00Z', created_by: 'CMD ["sh"]', empty_layer: true },
      ],
      tags: ['h:1'],
    });
    const out = await baleOk(t.dir, ['history', '--no-trunc', '--human=false', '--format', 'json', 'h:1']);
    const rows = out.trim().split('\n').map((l) => JSON.parse(l) as { ID: string; CreatedBy: string; Size: string });
    assert.equal(rows.map((r) => r.CreatedBy), ['CMD ["sh"]', 'ADD y', 'ENV K=V', 'ADD x']);
    assert.is(rows[0]!.ID, rec.id);
    assert.is(rows[1]!.ID, '<missing>');
    assert.equal(rows.map((r) => r.Size), ['0', String(rec.layers[1]!.size), '0', String(rec.layers[0]!.size)]);
    const table = await baleOk(t.dir, ['history', 'h:1']);
    assert.match(table, /ENV K=V\s+0B/);
  } finally {
    t.cleanup();
  }
});

test('inspect: docker fields, templates, several names with one missing', async () => {
  const t = tmpDir();
  try {
    const { a } = await twoImages(t.dir);
    const info = JSON.parse(await baleOk(t.dir, ['inspect', 'a:1']))[0];
    assert.is(info.Id, a.id);
    assert.equal(info.RepoTags, ['a:1']);
    assert.equal(info.Config.Cmd, ['a']);
    assert.equal(info.RootFS.Layers, a.diffIds);
    assert.equal(info.RepoDigests, [], 'as docker: no registry digest for an image that came from no registry');
    assert.is(info.Descriptor.digest, a.manifest.digest);
    assert.is((await baleOk(t.dir, ['inspect', '-f', '{{.Config.Cmd}} {{json .RootFS.Type}}', 'a:1'])).trim(), '[a] "layers"');
    const r = await bale(t.dir, ['inspect', 'a:1', 'missing:1']);
    assert.is(r.code, 1);
    assert.is(JSON.parse(r.stdout).length, 1);
    assert.match(r.stderr, 'No such object: missing:1');
  } finally {
    t.cleanup();
  }
});

test('gc removes blobs no image names and leftovers in tmp/, and keeps the rest', async () => {
  const t = tmpDir();
  try {
    const { a } = await twoImages(t.dir);
    const store = await Store.open(t.dir);
    const orphan = await store.putBlobBytes('nobody uses me');
    mkdirSync(path.join(store.tmpDir, 'load-1-dead'), { recursive: true });
    writeFileSync(path.join(store.tmpDir, 'load-1-dead', 'part'), 'half a layer');
    const out = JSON.parse(await baleOk(t.dir, ['gc', '--format', 'json']));
    assert.is(out.blobs, 1);
    assert.is(out.tmp, 1);
    assert.not.ok(await store.hasBlob(orphan));
    for (const l of a.layers) assert.ok(await store.hasBlob(l.digest));
    assert.not.ok(existsSync(path.join(store.tmpDir, 'load-1-dead')));
  } finally {
    t.cleanup();
  }
});

test('gc removes unpacked layers once no image uses them, and keeps those still used', async () => {
  const t = tmpDir();
  try {
    const { a, b } = await twoImages(t.dir);
    const store = await Store.open(t.dir);
    const aDirs = await unpackLayers(store, a);
    const bDirs = await unpackLayers(store, b);
    assert.is(aDirs[0], bDirs[0], 'the shared bottom layer is unpacked once');
    await baleOk(t.dir, ['rmi', 'a:1']);
    const out = JSON.parse(await baleOk(t.dir, ['gc', '--format', 'json']));
    assert.is(out.layers, 1, "a's own layer goes");
    assert.not.ok(existsSync(aDirs[1]!));
    for (const d of bDirs) assert.ok(existsSync(d), `${d} kept for b`);
  } finally {
    t.cleanup();
  }
});

test('every verb answers --help with its usage, and unknown flags are usage errors', async () => {
  const t = tmpDir();
  try {
    for (const v of Object.keys(VERBS)) {
      const out = await baleOk(t.dir, [v, '--help']);
      assert.match(out, `Usage: bale ${v}`);
    }
    const r = await bale(t.dir, ['images', '--bogus']);
    assert.is(r.code, 2);
    assert.match(r.stderr, 'unknown flag --bogus');
    const r2 = await bale(t.dir, ['frobnicate']);
    assert.is(r2.code, 2);
  } finally {
    t.cleanup();
  }
});

test.run();
