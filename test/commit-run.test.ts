// End to end with the launcher: a container writes and deletes files, then diff, commit and export
// see exactly that, and a container of the committed image sees the change.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Store } from '../src/store/store.js';
import type { ImageConfig } from '../src/oci/types.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { seedBusybox } from './images.js';
import { extract, tarNames } from './flatten-util.js';

test('run writes a file and deletes one; diff, commit, run the new image sees it; export and squash agree', async () => {
  const { dir, cleanup } = tmpDir();
  try {
    await seedBusybox(dir, { config: { Env: ['PATH=/bin', 'KEEP=me'], Cmd: ['sh'] } });
    await baleOk(dir, ['run', '--name', 'c1', 'busybox', 'sh', '-c', 'echo hi > /hello; rm /etc/group; mkdir -p /tmp/new; echo x > /tmp/new/f']);
    const diff = (await baleOk(dir, ['diff', 'c1'])).trim().split('\n');
    for (const want of ['A /hello', 'C /etc', 'D /etc/group', 'C /tmp', 'A /tmp/new', 'A /tmp/new/f']) assert.ok(diff.includes(want), `${want} missing from:\n${diff.join('\n')}`);
    assert.not.ok(diff.some((l) => l.includes('hostname')), diff.join('\n'));

    const id = (await baleOk(dir, ['commit', '-c', 'CMD ["cat", "/hello"]', 'c1', 'mine:1'])).trim();
    const store = await Store.open(dir);
    const rec = await store.resolve('mine:1');
    assert.is(rec.id, id);
    assert.ok(tarNames(store.blobPath(rec.layers[1]!.digest)).includes('etc/.wh.group'));
    const cfg = await store.readJsonBlob<ImageConfig>(rec.id);
    assert.equal(cfg.config!.Env, ['PATH=/bin', 'KEEP=me']);

    // the committed image runs with the change and the new Cmd
    assert.is(await baleOk(dir, ['run', '--rm', 'mine:1']), 'hi\n');
    const r = await bale(dir, ['run', '--rm', 'mine:1', 'cat', '/etc/group']);
    assert.is.not(r.code, 0);

    // export of the container: the change, no whiteouts, the init layer's files
    const out = path.join(dir, 'c1.tar');
    await baleOk(dir, ['export', '-o', out, 'c1']);
    const names = tarNames(out);
    assert.ok(names.includes('hello'));
    assert.ok(names.includes('bin/busybox'));
    assert.not.ok(names.includes('etc/group'));
    assert.not.ok(names.some((n) => n.includes('.wh.')));
    const x = path.join(dir, 'x');
    extract(out, x);
    assert.is(readFileSync(path.join(x, 'hello'), 'utf8'), 'hi\n');

    // import the export, run it: a working busybox again
    await baleOk(dir, ['import', '-c', 'ENV PATH=/bin', out, 'reimported:1']);
    assert.is(await baleOk(dir, ['run', '--rm', 'reimported:1', 'cat', '/hello']), 'hi\n');

    // squash of the committed image keeps the Cmd and runs the same
    await baleOk(dir, ['squash', 'mine:1', 'flat:1']);
    assert.is(await baleOk(dir, ['run', '--rm', 'flat:1']), 'hi\n');
    assert.is((await store.resolve('flat:1')).layers.length, 1);
  } finally {
    cleanup();
  }
});

test.run();
