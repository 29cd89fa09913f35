// docker build's command line where bale build follows it: `-` reads a Dockerfile (no context) or a
// context tar from stdin, --iidfile, --label (a LABEL step after the last instruction, as the classic
// builder adds them: one step per label, keys sorted), --progress.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Store } from '../src/store/store.js';
import { withDockerd } from './dockerd.js';
import { bale, baleOk } from './helpers.js';
import { PEERS } from './listing.js';
import { withTiny } from './build-util.js';
import { layerTar } from './images.js';

test('build -: a Dockerfile on stdin builds with an empty context; a gzip tar on stdin is the context', async () => {
  await withTiny(async (root, dir) => {
    const id = (await baleOk(root, ['build', '-q', '-t', 's', '-'], { input: 'FROM tiny\nRUN echo hi > /hi\n' })).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    assert.is(await baleOk(root, ['run', '--rm', 's', 'cat', '/hi']), 'hi\n');
    const r = await bale(root, ['build', '-'], { input: 'FROM tiny\nCOPY a.txt /\n' });
    assert.is(r.code, 1);
    assert.match(r.stderr, /^bale: Dockerfile:2: COPY a.txt: no such file in the build context/);

    const ctx = path.join(dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'a.txt'), 'from the tar\n');
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM tiny\nCOPY a.txt /a.txt\n');
    const tgz = spawnSync('tar', ['-C', ctx, '-czf', '-', '.']).stdout;
    await baleOk(root, ['build', '-q', '-t', 'fromtar', '-'], { input: tgz });
    assert.is(await baleOk(root, ['run', '--rm', 'fromtar', 'cat', '/a.txt']), 'from the tar\n');
    assert.equal(readdirSync(path.join(root, 'tmp')), [], 'the unpacked context is gone');

    // A context, or a tar ADD unpacks, is not a layer: a .wh. name is a file like any other, as
    // docker reads them. Taken as a whiteout, .wh.a.txt after a.txt made a.txt a whiteout device.
    writeFileSync(path.join(ctx, '.wh.a.txt'), 'a file\n');
    spawnSync('tar', ['-C', ctx, '-cf', path.join(ctx, 'inner.tar'), 'a.txt', '.wh.a.txt']);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM tiny\nCOPY a.txt /c/\nADD inner.tar /t/\n');
    const withWh = spawnSync('tar', ['-C', ctx, '-cf', '-', 'Dockerfile', 'a.txt', '.wh.a.txt', 'inner.tar']).stdout;
    await baleOk(root, ['build', '-q', '-t', 'wh', '-'], { input: withWh });
    assert.is(await baleOk(root, ['run', '--rm', 'wh', 'cat', '/c/a.txt', '/t/a.txt']), 'from the tar\nfrom the tar\n');
  });
});

test('build -: a hostile context tar (a name climbing out, a write through a symlink) is refused in one line, nothing written outside', async () => {
  await withTiny(async (root, dir) => {
    const outside = path.join(dir, 'outside');
    mkdirSync(outside);
    const dockerfile = { name: 'Dockerfile', content: 'FROM tiny\n' };
    const cases: [string, Parameters<typeof layerTar>[0]][] = [
      ['climb', [dockerfile, { name: `../../../../../../..${outside}/climbed`, content: 'x' }]],
      ['symlink', [dockerfile, { name: 'l', type: 'symlink', linkname: outside }, { name: 'l/through', content: 'x' }]],
    ];
    const before = await baleOk(root, ['images', '-q', '-a']);
    for (const [what, entries] of cases) {
      const r = await bale(root, ['build', '-q', '-t', 'bad', '-'], { input: await layerTar(entries) });
      assert.is(r.code, 1, what);
      assert.match(r.stderr, /^bale: [^\n]+\n$/, `${what}: one line`);
      assert.equal(readdirSync(outside), [], `${what}: nothing written outside the context`);
      assert.equal(readdirSync(path.join(root, 'tmp')), [], `${what}: the unpacked context is gone`);
    }
    assert.is(await baleOk(root, ['images', '-q', '-a']), before);
  });
});

test('--iidfile, --label, --progress', async () => {
  await withTiny(async (root, dir) => {
    const ctx = path.join(dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM tiny\nLABEL z=last\n');
    const iid = path.join(dir, 'iid');
    const out = await baleOk(root, ['build', '--progress', 'quiet', '--iidfile', iid, '--label', 'b=x y', '--label', "a=it's $HOME", '-t', 'l', ctx]);
    assert.is(readFileSync(iid, 'utf8'), out.trim(), 'the id, without a newline');
    const store = await Store.open(root);
    const c = await store.config(await store.resolve('l'));
    assert.equal(c.config?.Labels, { 'bale.fixture': 'tiny', 'org.opencontainers.image.title': 'tiny', z: 'last', a: "it's $HOME", b: 'x y' });
    const last = c.history!.slice(-3);
    assert.equal(last.map((h) => h.created_by), ['/bin/sh -c #(nop)  LABEL z=last', "/bin/sh -c #(nop)  LABEL a=it's $HOME", '/bin/sh -c #(nop)  LABEL b=x y']);
    assert.ok(last.every((h) => h.empty_layer));
    const plain = await baleOk(root, ['build', '--progress', 'plain', '--label', 'a=1', ctx]);
    assert.match(plain, /Step 3\/3 : LABEL 'a'='1'\n/);
    const bad = await bale(root, ['build', '--progress', 'fancy', ctx]);
    assert.is(bad.code, 2, 'a usage error, as every bad flag value');
    assert.is(bad.stderr, 'bale: bale build: --progress takes auto, plain, tty or quiet, not "fancy"\n');
  });
});

test("--label: the same closing LABEL step as docker 20.10's classic builder (labels, history line, -: Dockerfile on stdin)", async () => {
  await withTiny(async (root) => {
    const dockerfile = 'FROM tiny\nLABEL z=last\n';
    const labels = ['--label', 'b=x y', '--label', 'a=1'];
    const mine = (await baleOk(root, ['build', '-q', ...labels, '-'], { input: dockerfile })).trim();
    const store = await Store.open(root);
    const c = await store.config(await store.resolve(mine));
    await withDockerd(async (d) => {
      await d.dockerOk(['load', '-q', '-i', path.join(PEERS, 'docker-tiny.tar')]);
      const theirs = (await d.dockerOk(['build', '-q', ...labels, '-'], { input: dockerfile })).trim();
      const want = JSON.parse(await d.dockerOk(['image', 'inspect', '-f', '{{json .Config.Labels}}', theirs]));
      assert.equal(c.config?.Labels, want);
      const hist = (await d.dockerOk(['history', '--no-trunc', '--format', '{{.CreatedBy}}', theirs])).trim().split('\n');
      assert.equal(c.history!.map((h) => h.created_by ?? '').reverse().slice(0, 3), hist.slice(0, 3));
    });
  });
});

test.run();
