// Crash consistency: `bale load` killed with SIGKILL again and again, at points spread over the whole
// load, leaves a store that lists only complete images, that `bale gc` cleans, and that the next
// load fills. Each kill lands mid-load by construction, not by timing: the archive comes through a
// pipe that stops at a chosen byte (the load cannot finish without the rest), or the test holds
// the store's metadata lock and kills the load once it waits there (every blob placed, nothing
// recorded). Two loads of different archives at once both succeed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, promises as fsp, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable, Writable } from 'node:stream';
import { hexOf, type Digest } from '../src/oci/digest.js';
import { Store } from '../src/store/store.js';
import { acquireLock } from '../src/util/lock.js';
import { generateDockerArchive, type GenResult } from '../bench/gen.js';
import { BALE, bale, baleOk, processGone, tmpDir, waitFor } from './helpers.js';

const work = tmpDir('bale-crash-');
let A: GenResult;
let B: GenResult;
let sizeA = 0;

test.before(async () => {
  // ~200 MB over 5 layers: many places for a kill to land.
  A = await generateDockerArchive(path.join(work.dir, 'a.tar'), { totalBytes: 200 * 1024 * 1024, layers: 5, seed: 'crash-a', tag: 'crash/a:latest' });
  B = await generateDockerArchive(path.join(work.dir, 'b.tar'), { totalBytes: 80 * 1024 * 1024, layers: 5, seed: 'crash-b', tag: 'crash/b:latest' });
  sizeA = (await fsp.stat(A.file)).size;
});

test.after(() => work.cleanup());

type Ended = { killed: boolean; code: number | null; stderr: string };
type Load = ChildProcessByStdio<Writable, null, Readable>;

/** Start `bale load` reading its archive from a pipe the caller writes. */
function startLoad(root: string, args: string[] = []): { child: Load; ended: Promise<Ended> } {
  const child = spawn(BALE, ['load', '-q', ...args], { env: { ...process.env, BALE_ROOT: root }, stdio: ['pipe', 'ignore', 'pipe'] });
  child.stdin.on('error', () => undefined); // EPIPE once it is killed
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const ended = new Promise<Ended>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ killed: signal === 'SIGKILL', code, stderr }));
  });
  return { child, ended };
}

/**
 * Load `file` from a pipe fed its first `cut` bytes, and SIGKILL the load once the pipe has taken
 * them: it has read all but a pipe buffer of them and waits for the rest, so it is killed mid-scan.
 */
async function killMidInput(root: string, file: string, cut: number): Promise<Ended> {
  const { child, ended } = startLoad(root);
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(1024 * 1024);
    for (let at = 0; at < cut; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, cut - at), at);
      at += bytesRead;
      // The callback comes once the kernel has the bytes: the load drains the pipe as it scans.
      await new Promise((r) => child.stdin.write(Buffer.from(buf.subarray(0, bytesRead)), r));
    }
  } finally {
    await fh.close();
  }
  child.kill('SIGKILL');
  return ended;
}

/** Is process `pid` a `flock` whose parent is `parent`? (from /proc/PID/stat: `pid (comm) state ppid ...`) */
function isFlockOf(pid: number, parent: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.includes(' (flock) ') && stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(parent);
  } catch {
    return false; // gone meanwhile
  }
}

/**
 * Load `file` while this process holds the store's metadata lock, and SIGKILL the load once it
 * waits for that lock (its `flock` child is there): every blob placed, no image recorded yet.
 */
async function killAtCommit(root: string, file: string): Promise<Ended> {
  mkdirSync(path.join(root, 'locks'), { recursive: true });
  const lock = await acquireLock(path.join(root, 'locks', 'store'), 'exclusive');
  const { child, ended } = startLoad(root, ['-i', file]);
  child.stdin.end();
  let waiter: number | undefined;
  try {
    waiter = await waitFor('the load to wait for the store lock', async () => {
      const pid = readdirSync('/proc').find((n) => /^\d+$/.test(n) && isFlockOf(Number(n), child.pid!));
      return pid === undefined ? undefined : Number(pid);
    });
  } catch (e) {
    child.kill('SIGKILL');
    await lock.release();
    throw e;
  }
  child.kill('SIGKILL');
  // The load's end (its stderr closed) with the lock still held: the flock it leaves waiting must
  // not hold the load's stderr open.
  const r = await Promise.race([ended, sleep(10_000).then(() => undefined)]);
  await lock.release();
  assert.ok(r, "the killed load's stderr was still open 10 s after, held by the flock it left waiting");
  await waitFor('the orphaned flock to exit', async () => (processGone(waiter) ? true : undefined));
  return r;
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

test('kill -9 at points spread over the whole load, 15 times: only complete images, gc cleans up, the next load succeeds', async () => {
  const root = path.join(work.dir, 'killed');
  mkdirSync(root);
  // Process start, every part of the archive scan (a cut somewhere in each sixth of it), the commit
  // point; then one load to the end, and the same kills again over a store holding the image.
  const spread = () => Array.from({ length: 6 }, (_, i) => Math.floor(((i + Math.random()) / 6) * sizeA));
  const plan: (number | 'commit' | 'complete')[] = [0, ...spread(), 'commit', 'complete', ...spread(), 'commit'];
  let rounds = 0;
  for (const step of plan) {
    rounds++;
    if (step === 'complete') {
      await baleOk(root, ['load', '-q', '-i', A.file]);
    } else {
      const r = step === 'commit' ? await killAtCommit(root, A.file) : await killMidInput(root, A.file, step);
      assert.ok(r.killed, `round ${rounds} (${step}): the load ended before the kill (exit ${r.code}): ${r.stderr}`);
    }
    await assertOnlyComplete(root, rounds);
    if (step === 'complete') assert.is((await (await Store.open(root)).images()).length, 1, 'the load to the end recorded the image');
  }

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
});

test('kill -9 of one load while another runs: the other completes, the store stays sound', async () => {
  const root = path.join(work.dir, 'mixed');
  mkdirSync(root);
  for (let i = 0; i < 3; i++) {
    const victim = killMidInput(root, A.file, Math.floor(((i + Math.random()) / 3) * sizeA));
    const other = bale(root, ['load', '-q', '-i', B.file]);
    const [v, o] = await Promise.all([victim, other]);
    assert.is(o.code, 0, `round ${i}: the surviving load failed: ${o.stderr}`);
    assert.ok(v.killed, `round ${i}: the victim ended before the kill (exit ${v.code}): ${v.stderr}`);
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
