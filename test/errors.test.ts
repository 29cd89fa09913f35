// What a user sees when bale fails: one line, "bale: " once, docker's exit codes (125 for bale's own
// failures in the verbs that run containers; the container's 126/127 stay its own).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { Store } from '../src/store/store.js';
import { unpackLayers } from '../src/store/layers.js';
import { BaleError } from '../src/util/errors.js';
import { bale, baleOk, REPO, tmpDir } from './helpers.js';
import { seedBusybox } from './images.js';

const work = tmpDir('bale-errors-');
const root = path.join(work.dir, 'store');
const SAMPLE = path.join(REPO, 'samples', 'busybox.tar.gz');
test.after(() => work.cleanup());

function oneLine(stderr: string, what: string): void {
  assert.ok(/^bale: [^\n]+\n$/.test(stderr), `${what}: not one line: ${JSON.stringify(stderr)}`);
  assert.not.match(stderr, /^bale: bale /, `${what}: doubled prefix`);
}

test('run, create, start and exec exit 125 for their own failures, as docker does', async () => {
  await baleOk(root, ['load', '-q', '-i', SAMPLE]);
  for (const args of [['run', 'nosuchimage'], ['run', '--bogus', 'busybox'], ['create', 'nosuchimage'], ['start', 'nosuchbox'], ['exec', 'nosuchbox', 'true'], ['run', '--net', 'bridge', 'busybox']]) {
    const r = await bale(root, args);
    assert.is(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
    oneLine(r.stderr, args.join(' '));
  }
  // The command's own failures are the container's exit codes, not bale's.
  assert.is((await bale(root, ['run', '--rm', 'busybox', 'nosuchcmd'])).code, 127);
  assert.is((await bale(root, ['run', '--rm', 'busybox', '/etc/passwd'])).code, 126);
  assert.is((await bale(root, ['run', '--rm', 'busybox', 'sh', '-c', 'exit 3'])).code, 3);
});

test('other verbs keep 1 for failures and 2 for usage, with "bale: " said once', async () => {
  let r = await bale(root, ['images', '--bogus']);
  assert.is(r.code, 2);
  oneLine(r.stderr, 'images --bogus');
  assert.match(r.stderr, /unknown flag --bogus/);
  r = await bale(root, ['save', '--format', 'x', 'busybox']);
  assert.is(r.code, 2);
  oneLine(r.stderr, 'save --format x');
  r = await bale(root, ['rmi', 'nosuchimage']);
  assert.is(r.code, 1);
  oneLine(r.stderr, 'rmi');
});

test('an image removed under a run: one line naming the blob, not a raw ENOENT', async () => {
  // What `bale run` racing `bale rmi` meets: the record was read, then rmi and gc took the blobs.
  const r2 = path.join(work.dir, 'race');
  const rec = await seedBusybox(r2);
  const store = await Store.open(r2);
  rmSync(store.blobPath(rec.layers[0]!.digest), { force: true });
  try {
    await unpackLayers(store, rec);
    assert.unreachable('unpacked a layer whose blob is gone');
  } catch (e) {
    assert.instance(e, BaleError);
    assert.match((e as Error).message, /^blob sha256:[0-9a-f]{64} is not in the store \(its image was removed while in use/);
  }
  try {
    rmSync(store.blobPath(rec.id), { force: true });
    await store.config(rec);
    assert.unreachable('read a config whose blob is gone');
  } catch (e) {
    assert.instance(e, BaleError);
    assert.match((e as Error).message, /^blob sha256:[0-9a-f]{64} is not in the store/);
  }
  // And the real race, a few rounds: whatever wins, run's failure is one line and exit 125.
  for (let i = 0; i < 4; i++) {
    await baleOk(root, ['load', '-q', '-i', SAMPLE]);
    await baleOk(root, ['gc', '-q']);
    const run = bale(root, ['run', '--rm', 'busybox', 'true']);
    await new Promise((r) => setTimeout(r, 40 * i));
    await baleOk(root, ['rmi', '-f', 'busybox']);
    await baleOk(root, ['gc', '-q']);
    const r = await run;
    if (r.code !== 0) {
      assert.is(r.code, 125, r.stderr);
      oneLine(r.stderr, `round ${i}`);
      assert.not.match(r.stderr, /ENOENT/);
    }
  }
});

test.run();
