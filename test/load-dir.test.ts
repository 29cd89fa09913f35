// bale load -i DIR: image directories (OCI layout, containers dir:, unpacked docker save) are checked
// blob by blob as archives are: a damaged or swapped blob is refused and the store stays as it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { bale, baleOk, SHARED, storeListing, tmpDir } from './helpers.js';

const PEERS = path.join(SHARED, 'fixtures', 'peers');
const scratch = tmpDir('bale-loaddir-');
test.after(() => scratch.cleanup());

/** A writable copy of a peer fixture directory. */
function copyOf(name: string): string {
  const dst = path.join(scratch.dir, `${name}-${Math.random().toString(36).slice(2)}`);
  cpSync(path.join(PEERS, name), dst, { recursive: true });
  spawnSync('chmod', ['-R', 'u+w', dst]);
  return dst;
}

/**
 * Flip one byte in the middle of a file, keeping its size. Inflating a damaged gzip layer gives
 * garbage before the CRC fails, so the refusal names either (whichever check sees it first).
 */
function damage(file: string): void {
  chmodSync(file, 0o644);
  const b = readFileSync(file);
  b[b.length >> 1]! ^= 0xff;
  writeFileSync(file, b);
}

async function refused(dir: string, want: RegExp): Promise<void> {
  const t = tmpDir('bale-store-');
  try {
    await baleOk(t.dir, ['load', '-q', '-i', path.join(PEERS, 'docker-tiny.tar')]);
    const before = storeListing(t.dir);
    const r = await bale(t.dir, ['load', '-i', dir]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, want);
    assert.is(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.equal(storeListing(t.dir), before, 'store unchanged');
  } finally {
    t.cleanup();
  }
}

function biggestBlob(dir: string): string {
  const files = readdirSync(dir).map((n) => path.join(dir, n));
  return files.sort((a, b) => readFileSync(b).length - readFileSync(a).length)[0]!;
}

test('OCI layout directory with a damaged layer blob is refused for its digest mismatch, naming the blob', async () => {
  const d = copyOf('skopeo-layered.oci-gzip');
  const victim = biggestBlob(path.join(d, 'blobs', 'sha256'));
  damage(victim);
  await refused(d, new RegExp(`${path.basename(victim)}: digest mismatch \\(content is sha256:[a-f0-9]{64}\\)`));
});

test('containers dir: with a damaged blob is refused; with a blob swapped for a symlink out of the directory too', async () => {
  const d = copyOf('podman-layered.docker-dir');
  const victim = biggestBlob(d);
  damage(victim);
  await refused(d, new RegExp(`${path.basename(victim)}: digest mismatch \\(content is sha256:[a-f0-9]{64}\\)`));
  // A symlink is never followed on disk: the blob counts as missing, /etc/passwd is not read as a blob.
  rmSync(victim);
  symlinkSync('/etc/passwd', victim);
  await refused(d, new RegExp(`missing.*${path.basename(victim)}`));
});

test('an unpacked docker save loads like the tar, with its tags', async () => {
  const d = path.join(scratch.dir, 'unpacked');
  spawnSync('mkdir', ['-p', d]);
  const r = spawnSync('tar', ['-xf', path.join(PEERS, 'docker-multi.tar'), '-C', d]);
  assert.is(r.status, 0);
  const t = tmpDir('bale-store-');
  try {
    const out = await baleOk(t.dir, ['load', '-i', d]);
    assert.match(out, 'Loaded image: layered:1.0');
    assert.match(out, 'Loaded image: layered-alt:latest');
    const rows = (await baleOk(t.dir, ['images', '--format', 'json'])).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ID: string });
    assert.is(new Set(rows.map((x) => x.ID)).size, 2);
  } finally {
    t.cleanup();
  }
});

test('a directory that is no image layout is refused in one line', async () => {
  const d = path.join(scratch.dir, 'notimage');
  spawnSync('mkdir', ['-p', d]);
  writeFileSync(path.join(d, 'hello.txt'), 'hi\n');
  await refused(d, /not an image archive/);
});

test.run();
