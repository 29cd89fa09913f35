// save --split: an archive in parts with a checksum list; load -i NAME.000 reads the set and names
// a missing or damaged part, recording nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { bale, baleOk, SHARED, storeListing } from './helpers.js';
import { withStore } from './save-helpers.js';

const PEERS = path.join(SHARED, 'fixtures', 'peers');

test('parts of at most SIZE, a sha256sum list, byte for byte the unsplit archive; load and verify read the set', () =>
  withStore(async (root, dir) => {
    await baleOk(root, ['load', '-q', '-i', path.join(PEERS, 'docker-multi.tar')]);
    const whole = path.join(dir, 'whole.tar');
    await baleOk(root, ['save', '-o', whole, 'layered:latest', 'layered-alt:latest']);
    const base = path.join(dir, 'm.tar');
    await baleOk(root, ['save', '--split', '500k', '-o', base, 'layered:latest', 'layered-alt:latest']);
    const parts = readdirSync(dir).filter((n) => n.startsWith('m.tar.')).sort();
    assert.equal(parts, ['m.tar.000', 'm.tar.001', 'm.tar.002', 'm.tar.003', 'm.tar.004', 'm.tar.sha256']);
    for (const p of parts.slice(0, 4)) assert.is(statSync(path.join(dir, p)).size, 500 * 1024);
    const joined = Buffer.concat(parts.slice(0, 5).map((p) => readFileSync(path.join(dir, p))));
    assert.ok(joined.equals(readFileSync(whole)), 'the parts are the archive');
    assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'm.tar.sha256'], { cwd: dir }).status, 0, 'sha256sum -c checks the set');

    const other = path.join(dir, 'other');
    const out = await baleOk(other, ['load', '-i', `${base}.000`]);
    assert.match(out, 'Loaded image: layered-alt:latest');
    assert.match(await baleOk(other, ['verify', `${base}.000`]), /2 images/);
  }));

test('a missing part, a damaged part and a missing list are named; the store is unchanged', () =>
  withStore(async (root, dir) => {
    await baleOk(root, ['load', '-q', '-i', path.join(PEERS, 'docker-layered.tar')]);
    const base = path.join(dir, 'l.tar');
    await baleOk(root, ['save', '--split', '256k', '-o', base, 'layered:latest']);
    const other = path.join(dir, 'other');
    await baleOk(other, ['images']);
    const before = storeListing(other);
    const refused = async (want: string) => {
      const r = await bale(other, ['load', '-i', `${base}.000`]);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, want);
      assert.is(r.stderr.trim().split('\n').length, 1);
      assert.equal(storeListing(other), before);
    };
    renameSync(`${base}.003`, `${base}.003.away`);
    await refused(`${base}.003: part missing`);
    renameSync(`${base}.003.away`, `${base}.003`);
    // Damage a part early in the set: the archive breaks before that part's own check is reached.
    const p1 = `${base}.001`;
    chmodSync(p1, 0o644);
    const b = readFileSync(p1);
    for (let i = 0; i < b.length; i += 4096) b[i]! ^= 0xff;
    writeFileSync(p1, b);
    await refused(`${p1}: part damaged`);
    const v = await bale(other, ['verify', `${base}.000`]);
    assert.is(v.code, 1);
    assert.match(v.stdout, `${p1}: part damaged`);
    renameSync(`${base}.sha256`, `${base}.list`);
    await refused('the list of parts');
  }));

test('--split needs -o and a size', () =>
  withStore(async (root) => {
    assert.is((await bale(root, ['save', '--split', '4G', 'x'])).code, 2);
    assert.is((await bale(root, ['save', '--split', 'lots', '-o', '/tmp/x.tar', 'x'])).code, 2);
  }));

test.run();
