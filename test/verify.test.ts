// bale verify: every kind of archive and directory load reads is checked without a store; damage is
// reported one line per problem, exit 1; nothing is written.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hexOf } from '../src/oci/digest.js';
import { bale, baleOk, SHARED } from './helpers.js';
import { seedBusybox } from './images.js';
import { withStore } from './save-helpers.js';

const PEERS = path.join(SHARED, 'fixtures', 'peers');

function damage(file: string): void {
  chmodSync(file, 0o644);
  const b = readFileSync(file);
  b[b.length >> 1]! ^= 0xff;
  writeFileSync(file, b);
}

test('every peer archive and directory verifies, with no store made', () =>
  withStore(async (root) => {
    for (const f of ['docker-multi.tar', 'podman-layered.oci-archive.tar', 'skopeo-layered.oci-zstd.tar', 'skopeo-layered.oci-gzip', 'umoci-layered.oci', 'podman-layered.docker-dir']) {
      const out = await baleOk(root, ['verify', path.join(PEERS, f)]);
      assert.match(out, /OK$/m, f);
    }
    assert.not.ok(existsSync(root), 'verify made no store');
  }));

test('two damaged layers of a layout directory: one line each, exit 1; a cut archive: one line, exit 1', () =>
  withStore(async (root, dir) => {
    const rec = await seedBusybox(root, { layers: [[{ name: 'app/' }, { name: 'app/hello', content: 'hello\n'.repeat(2000) }]], tags: ['app:1'] });
    const layout = path.join(dir, 'layout');
    await baleOk(root, ['save', '-q', '--format', 'oci', '-o', `${layout}/`, 'app:1']);
    assert.match(await baleOk(root, ['verify', layout]), /1 image/);
    const before = readdirSync(path.join(root, 'tmp'));
    for (const l of rec.layers) damage(path.join(layout, 'blobs', 'sha256', hexOf(l.digest)));
    const r = await bale(root, ['verify', layout]);
    assert.is(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.is(lines.length, 2, r.stdout);
    for (const [i, l] of rec.layers.entries()) assert.match(lines[i]!, `blobs/sha256/${hexOf(l.digest)}: digest mismatch`);
    assert.equal(readdirSync(path.join(root, 'tmp')), before, 'nothing written to the store');

    const tarFile = path.join(dir, 'app.tar');
    await baleOk(root, ['save', '-q', '-o', tarFile, 'app:1']);
    truncateSync(tarFile, Math.floor(statSync(tarFile).size * 0.6));
    const cut = await bale(root, ['verify', tarFile]);
    assert.is(cut.code, 1);
    assert.is(cut.stdout.trim().split('\n').length, 1, cut.stdout);
    assert.match(cut.stdout, tarFile);
  }));

test('verify --help', async () => {
  const out = await baleOk('/nonexistent', ['verify', '--help']);
  assert.match(out, 'Usage: bale verify');
});

test.run();
