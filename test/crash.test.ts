// Crash consistency: `bale load` killed with SIGKILL at random points, again and again, leaves a
// store that lists only complete images, that `bale gc` cleans, and that the next load fills.
// Two loads of different archives at once both succeed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { hexOf, type Digest } from '../src/oci/digest.js';
import { Store } from '../src/store/store.js';
import { generateDockerArchive, type GenResult } from '../bench/gen.js';
import { BALE, bale, baleOk, tmpDir } from './helpers.js';

const work = tmpDir('bale-crash-');
let A: GenResult;
let B: GenResult;
/** How long a complete load of A takes here (process start included), to aim the kills. */
let loadMs = 0;

test.before(async () => {
  // ~200 MB over 5 layers: a load takes a second or two, long enough to be hit in many places.
  A = await generateDockerArchive(path.join(work.dir, 'a.tar'), { totalBytes: 200 * 1024 * 1024, layers: 5, seed: 'crash-a', tag: 'crash/a:latest' });
  B = await generateDockerArchive(path.join(work.dir, 'b.tar'), { totalBytes: 80 * 1024 * 1024, layers: 5, seed: 'crash-b', tag: 'crash/b:latest' });
  const root = path.join(work.dir, 'timing');
  const t0 = Date.now();
  await baleOk(root, ['load', '-q', '-i', A.file]);
  loadMs = Date.now() - t0;
});

test.after(() => work.cleanup());

/** Start a load and SIGKILL it after `delayMs`; resolves with how it ended. */
function loadAndKill(root: string, file: string, delayMs: number): Promise<{ killed: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BALE, ['load', '-q', '-i', file], { env: { ...process.env, BALE_ROOT: root }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL', code, stderr });
    });
  });
}

/** Blobs an image needs, as hex names. */
function needed(imgs: Awaited<ReturnType<Store['images']>>): Set<string> {
  const s = new Set<string>();
  for (const r of imgs) for (const d of [r.id, r.manifest.digest, ...r.layers.map((l) => l.digest)]) s.add(hexOf(d));
  return s;
}

/** The store shows only complete images: A or nothing, its blobs all present and whole. */
async function assertOnlyComplete(root: string, round: number): Promise<void> {
  const store = await Store.open(root);
  const imgs = await store.images();
  assert.ok(imgs.length <= 1, `round ${round}: ${imgs.length} images`);
  for (const r of imgs) {
    assert.is(r.id, A.configDigest as Digest, `round ${round}: an image that is not A`);
    assert.equal(r.diffIds, A.diffIds, `round ${round}: image recorded with other layers`);
    for (const l of r.layers) assert.ok(await store.hasBlob(l.digest), `round ${round}: listed image lacks layer ${l.digest}`);
  }
  const tags = await store.tags();
  for (const [t, id] of Object.entries(tags)) {
    assert.ok(imgs.some((r) => r.id === id), `round ${round}: tag ${t} points at an image not in the store`);
  }
  // Every listed image's blobs exist and hash right; every blob that exists hashes right.
  const fsck = await bale(root, ['fsck', '--format', 'json']);
  assert.is(fsck.code, 0, `round ${round}: fsck: ${fsck.stdout} ${fsck.stderr}`);
  const images = await bale(root, ['images']);
  assert.is(images.code, 0, images.stderr);
  if (imgs.length === 0) assert.not.match(images.stdout, /crash\/a/);
  else assert.match(images.stdout, /crash\/a\s+latest/);
}

test('kill -9 at random points during load, 10+ times: only complete images, gc cleans up, the next load succeeds', async () => {
  const root = path.join(work.dir, 'killed');
  mkdirSync(root);
  let killed = 0;
  let rounds = 0;
  let completed = 0;
  // Spread the kills over the whole load: process start, archive scan, layer writes, commit.
  while (killed < 12 && rounds < 40) {
    rounds++;
    const delay = Math.floor(20 + Math.random() * Math.max(200, loadMs * 0.95));
    const r = await loadAndKill(root, A.file, delay);
    if (r.killed) killed++;
    else {
      assert.is(r.code, 0, `round ${rounds}: load exited ${r.code}: ${r.stderr}`);
      completed++;
    }
    await assertOnlyComplete(root, rounds);
    // Once A is complete, later rounds load it again: a kill must not damage what is there.
  }
  assert.ok(killed >= 10, `only ${killed} of ${rounds} loads were killed before they finished`);

  // gc reclaims the leftovers: tmp/ empty, no blob that no image needs.
  const gc = await bale(root, ['gc']);
  assert.is(gc.code, 0, gc.stderr);
  const store = await Store.open(root);
  assert.equal(readdirSync(store.tmpDir), [], 'gc left temp files');
  const keep = needed(await store.images());
  for (const hex of readdirSync(store.blobDir)) assert.ok(keep.has(hex), `gc left unreferenced blob ${hex}`);

  // The next load succeeds and gives the complete image.
  await baleOk(root, ['load', '-q', '-i', A.file]);
  const imgs = await store.images();
  assert.is(imgs.length, 1);
  assert.is(imgs[0]!.id, A.configDigest as Digest);
  assert.ok(await store.tryResolve('crash/a:latest'));
  assert.is((await bale(root, ['fsck', '-q'])).code, 0);
  process.stdout.write(`  (${rounds} rounds, ${killed} killed mid-load, ${completed} completed; full load ${loadMs} ms)\n`);
});

test('kill -9 of one load while another runs: the other completes, the store stays sound', async () => {
  const root = path.join(work.dir, 'mixed');
  mkdirSync(root);
  for (let i = 0; i < 3; i++) {
    const victim = loadAndKill(root, A.file, Math.floor(50 + Math.random() * loadMs * 0.8));
    const other = bale(root, ['load', '-q', '-i', B.file]);
    const [v, o] = await Promise.all([victim, other]);
    assert.is(o.code, 0, `round ${i}: the surviving load failed: ${o.stderr}`);
    if (!v.killed) assert.is(v.code, 0, v.stderr);
    const store = await Store.open(root);
    assert.ok(await store.tryResolve('crash/b:latest'), 'B is listed');
    assert.is((await bale(root, ['fsck', '-q'])).code, 0);
  }
  assert.is((await bale(root, ['gc'])).code, 0);
  const store = await Store.open(root);
  assert.equal(readdirSync(store.tmpDir), []);
});

test('two loads of different archives at once both succeed and both images are listed', async () => {
  const root = path.join(work.dir, 'concurrent');
  mkdirSync(root);
  const [a, b] = await Promise.all([bale(root, ['load', '-i', A.file]), bale(root, ['load', '-i', B.file])]);
  assert.is(a.code, 0, a.stderr);
  assert.is(b.code, 0, b.stderr);
  assert.match(a.stdout, /crash\/a:latest/);
  assert.match(b.stdout, /crash\/b:latest/);
  const store = await Store.open(root);
  const ids = (await store.images()).map((r) => r.id).sort();
  assert.equal(ids, [A.configDigest, B.configDigest].sort());
  assert.is((await store.tryResolve('crash/a:latest'))?.id, A.configDigest as Digest);
  assert.is((await store.tryResolve('crash/b:latest'))?.id, B.configDigest as Digest);
  const list = await baleOk(root, ['images']);
  assert.match(list, /crash\/a\s+latest/);
  assert.match(list, /crash\/b\s+latest/);
  assert.is((await bale(root, ['fsck', '-q'])).code, 0);
  // And the same archive twice at once: one image, no error.
  const [c, d] = await Promise.all([bale(root, ['load', '-q', '-i', B.file]), bale(root, ['load', '-q', '-i', B.file])]);
  assert.is(c.code, 0, c.stderr);
  assert.is(d.code, 0, d.stderr);
  assert.is((await store.images()).length, 2);
});

test.run();
