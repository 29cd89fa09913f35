// A container whose record is damaged (cut short by a crash) costs only itself: the other
// containers' verbs go on, ps warns, gc stops before it could drop the layers it uses, rm removes it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bale, baleOk, ps, withContainers } from './helpers.js';
import { seedBusybox } from './images.js';

test(
  'a damaged container record: ps lists the others and warns, gc refuses in one line, rm by id removes it',
  withContainers(async (root) => {
    await seedBusybox(root);
    const good = (await baleOk(root, ['create', '--name', 'good', 'busybox', 'true'])).trim();
    const bad = (await baleOk(root, ['create', '--name', 'bad', 'busybox', 'true'])).trim();
    const record = path.join(root, 'containers', bad, 'container.json');
    const text = readFileSync(record, 'utf8');
    writeFileSync(record, text.slice(0, text.length >> 1));

    const list = await bale(root, ['ps', '-a', '--format', '{{.Names}}']);
    assert.is(list.code, 0, list.stderr);
    assert.is(list.stdout, 'good\n');
    assert.match(list.stderr, new RegExp(`container ${bad.slice(0, 12)} has a damaged record`));
    assert.is((await baleOk(root, ['inspect', '-f', '{{.Name}}', 'good'])).trim(), '/good');

    const layers = path.join(root, 'layers');
    const before = existsSync(layers);
    const gc = await bale(root, ['gc']);
    assert.is(gc.code, 1);
    assert.is(gc.stderr.trim().split('\n').length, 1, gc.stderr);
    assert.match(gc.stderr, new RegExp(`bale rm ${bad.slice(0, 12)}`));
    assert.is(existsSync(layers), before);
    await baleOk(root, ['start', '-a', 'good']);

    await baleOk(root, ['rm', bad.slice(0, 12)]);
    assert.not.ok(existsSync(path.join(root, 'containers', bad)));
    assert.is((await bale(root, ['ps', '-a'])).stderr, '');
    await baleOk(root, ['gc']);
    assert.equal((await ps(root)).map((c) => c.ID), [good]);
  }),
);

test.run();
