// Nothing left beside an output: `save -o` and `export -o` write under a temp name beside the
// destination. A full disk or SIGTERM removes it; after kill -9, gc (or the next save to the same
// path) removes it, while the temp file of a live writer is never touched.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { generateDockerArchive } from '../bench/gen.js';
import { BALE, bale, baleOk, tmpDir } from './helpers.js';

const work = tmpDir('bale-leftovers-');
const root = path.join(work.dir, 'store');
const TEMP = /\.bale-tmp-/;

test.before(async () => {
  // Random bytes: re-encoding them with gzip takes long enough to be caught in the middle.
  const a = await generateDockerArchive(path.join(work.dir, 'big.tar'), { totalBytes: 48 * 1024 * 1024, layers: 2, seed: 'leftovers', tag: 'big:1' });
  await baleOk(root, ['load', '-q', '-i', a.file]);
});
test.after(() => work.cleanup());

function outDir(name: string): string {
  const d = path.join(work.dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

function records(): string[] {
  return readdirSync(path.join(root, 'tmp')).filter((n) => n.startsWith('output-'));
}

/** Start bale and wait until its temp output appears in `dir` (or it exits first). */
async function startWriting(args: string[], dir: string): Promise<{ child: ChildProcess; exited: Promise<{ code: number | null; signal: string | null; stderr: string }> }> {
  const child = spawn(BALE, args, { env: { ...process.env, BALE_ROOT: root }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      done = true;
      resolve({ code, signal, stderr });
    }),
  );
  const deadline = Date.now() + 30_000;
  while (!done && Date.now() < deadline && !readdirSync(dir).some((n) => TEMP.test(n))) await new Promise((r) => setTimeout(r, 2));
  assert.ok(!done, `bale ${args.join(' ')} finished before its temp file was seen: ${stderr}`);
  return { child, exited };
}

test('full disk: save -o and export -o fail with one line and leave nothing beside the output', async () => {
  const dir = outDir('full');
  assert.is(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]).status, 0, 'mount tmpfs');
  try {
    const out = path.join(dir, 'out.tar');
    // A compressed save writes its layers into the file from a worker thread (in place): its failure is named the same way.
    const runs = [['save', '-o', out, 'big:1'], ['save', '--compress', 'gzip', '-o', out, 'big:1'], ['save', '--format', 'oci', '--compress', 'zstd', '-o', out, 'big:1'], ['export', '-o', out, 'big:1']];
    for (const args of runs) {
      const r = await bale(root, args);
      const what = args.slice(0, -3).join(' ');
      assert.is(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /^bale: cannot write .*out\.tar: ENOSPC: no space left on device\n$/, what);
      assert.equal(readdirSync(dir), [], `${what} left files`);
      assert.equal(readdirSync(path.join(root, 'tmp')), [], `${what} left files in the store`);
    }
  } finally {
    spawnSync('umount', [dir]);
  }
});

test('SIGTERM during save -o: exit 143, no temp file', async () => {
  const dir = outDir('term');
  const { child, exited } = await startWriting(['save', '--compress', 'gzip', '-o', path.join(dir, 'out.tar'), 'big:1'], dir);
  child.kill('SIGTERM');
  const r = await exited;
  assert.is(r.code, 143, r.stderr);
  assert.equal(readdirSync(dir), []);
  assert.equal(records(), []);
  assert.equal(readdirSync(path.join(root, 'tmp')), [], 're-encoded layers left in the store');
});

test('kill -9 during save -o: gc removes the temp file; the next save to the path does too', async () => {
  const dir = outDir('kill');
  const dest = path.join(dir, 'out.tar');
  for (const cleaner of [['gc', '-q'], ['save', '-o', dest, 'big:1']]) {
    const { child, exited } = await startWriting(['save', '--compress', 'gzip', '-o', dest, 'big:1'], dir);
    child.kill('SIGKILL');
    assert.is((await exited).signal, 'SIGKILL');
    assert.ok(readdirSync(dir).some((n) => TEMP.test(n)), 'the killed save left its temp file (else this test proves nothing)');
    await baleOk(root, cleaner);
    assert.equal(readdirSync(dir).filter((n) => TEMP.test(n)), [], `${cleaner[0]} left the temp file`);
    assert.equal(records(), []);
  }
  assert.equal(readdirSync(dir), ['out.tar']);
});

test("gc never removes a live writer's temp file (export -o, stopped mid-write)", async () => {
  const dir = outDir('live');
  const dest = path.join(dir, 'out.tar');
  const { child, exited } = await startWriting(['export', '-o', dest, 'big:1'], dir);
  child.kill('SIGSTOP');
  try {
    await baleOk(root, ['gc', '-q']);
    assert.ok(readdirSync(dir).some((n) => TEMP.test(n)), "gc removed a live writer's temp file");
  } finally {
    child.kill('SIGCONT');
  }
  const r = await exited;
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(dir), ['out.tar']);
  const again = path.join(work.dir, 'again.tar');
  await baleOk(root, ['export', '-o', again, 'big:1']);
  assert.ok(readFileSync(dest).equals(readFileSync(again)), 'the stopped export finished whole');
});

test.run();
