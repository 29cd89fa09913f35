// --filter on images and ps, -q with filters, and image/container prune, against a real store.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../src/store/store.js';
import { humanSize } from '../src/cli/output.js';
import { bale, baleOk, tmpDir } from './helpers.js';
import { seedBusybox, seedImage } from './images.js';

const lines = (s: string) => s.split('\n').filter(Boolean);
const shared = [{ name: 'base/' }, { name: 'base/file', content: 'shared layer '.repeat(100) }];

async function threeImages(root: string) {
  const old = await seedImage(root, { layers: [shared, [{ name: 'o', content: 'O' }]], tags: ['team/old:1'], created: '2024-01-01T00:00:00Z', config: { Labels: { tier: 'db' } } });
  const mid = await seedImage(root, { layers: [shared, [{ name: 'm', content: 'M'.repeat(3000) }]], created: '2024-06-01T00:00:00Z' });
  const knew = await seedImage(root, { layers: [[{ name: 'n', content: 'N' }]], tags: ['app:2', 'registry.example.com/team/app:2'], created: '2025-01-01T00:00:00Z', config: { Labels: { tier: 'web', team: 'x' } } });
  return { old, mid, knew };
}

test("images --filter: docker's keys, several values of a key are alternatives, different keys all hold", async () => {
  const t = tmpDir();
  try {
    const { old, mid, knew } = await threeImages(t.dir);
    const names = async (...f: string[]) => lines(await baleOk(t.dir, ['images', ...f.flatMap((x) => ['-f', x]), '--format', '{{.Repository}}:{{.Tag}}'])).sort();
    assert.equal(await names('dangling=true'), ['<none>:<none>']);
    assert.equal(await names('dangling=false'), ['app:2', 'registry.example.com/team/app:2', 'team/old:1']);
    assert.equal(await names('reference=app'), ['app:2']);
    assert.equal(await names('reference=*/team/*'), ['registry.example.com/team/app:2']);
    assert.equal(await names('reference=team/*:1'), ['team/old:1']);
    assert.equal(await names('reference=app', 'reference=team/old'), ['app:2', 'team/old:1']);
    assert.equal(await names('label=tier'), ['app:2', 'registry.example.com/team/app:2', 'team/old:1']);
    assert.equal(await names('label=tier=db'), ['team/old:1']);
    assert.equal(await names('label=tier', 'label=team=x'), ['app:2', 'registry.example.com/team/app:2']);
    assert.equal(await names('before=app:2'), ['<none>:<none>', 'team/old:1']);
    assert.equal(await names('since=team/old:1', 'dangling=false'), ['app:2', 'registry.example.com/team/app:2']);
    assert.equal(lines(await baleOk(t.dir, ['images', '--filter=dangling=true', '--format', '{{.Tag}}'])), ['<none>']);
    // -q with a filter, as `bale rmi $(bale images -q -f dangling=true)` uses it.
    const dangling = lines(await baleOk(t.dir, ['images', '-q', '-f', 'dangling=true']));
    assert.equal(dangling, [mid.id.slice(7, 19)]);
    assert.match(await baleOk(t.dir, ['rmi', ...dangling]), `Deleted: ${mid.id}`);
    assert.equal(lines(await baleOk(t.dir, ['images', '-q', '--no-trunc'])).sort(), [old.id, knew.id].sort());
    for (const [f, msg] of [
      ['bogus=1', "invalid filter 'bogus'"],
      ['dangling', 'bad format of filter'],
      ['dangling=maybe', 'takes true or false'],
    ]) {
      const r = await bale(t.dir, ['images', '-f', f!]);
      assert.is(r.code, 2, f);
      assert.match(r.stderr, msg!);
      assert.is(lines(r.stderr).length, 1);
    }
    const r = await bale(t.dir, ['images', '-f', 'before=nope:1']);
    assert.is(r.code, 1);
    assert.match(r.stderr, 'No such image: nope:1');
  } finally {
    t.cleanup();
  }
});

test('ps --filter: name, id, status and exited (which look past -a), ancestor, before/since; -q with filters', async () => {
  const t = tmpDir();
  try {
    await seedBusybox(t.dir);
    await seedImage(t.dir, { layers: [[{ name: 'x', content: 'x' }]], tags: ['other:1'] });
    await baleOk(t.dir, ['create', '--name', 'first', 'busybox', 'true']);
    const three = await bale(t.dir, ['run', '--name', 'three', 'busybox', 'sh', '-c', 'exit 3']);
    assert.is(three.code, 3);
    await baleOk(t.dir, ['run', '--name', 'zero', 'busybox', 'true']);
    const ps = async (...args: string[]) => lines(await baleOk(t.dir, ['ps', ...args, '--format', '{{.Names}}'])).sort();
    assert.equal(await ps(), [], 'nothing runs');
    assert.equal(await ps('-f', 'status=exited'), ['three', 'zero'], 'a status filter shows stopped containers without -a');
    assert.equal(await ps('-f', 'exited=3'), ['three']);
    assert.equal(await ps('-f', 'exited=0', '-f', 'exited=3'), ['three', 'zero']);
    assert.equal(await ps('-a', '-f', 'status=created'), ['first']);
    assert.equal(await ps('-a', '-f', 'name=^th'), ['three']);
    assert.equal(await ps('-a', '-f', 'name=r'), ['first', 'three', 'zero']);
    assert.equal(await ps('-a', '-f', 'ancestor=busybox'), ['first', 'three', 'zero']);
    assert.equal(await ps('-a', '-f', 'ancestor=other:1'), []);
    assert.equal(await ps('-a', '-f', 'since=first'), ['three', 'zero']);
    assert.equal(await ps('-a', '-f', 'before=three'), ['first']);
    const id = lines(await baleOk(t.dir, ['ps', '-a', '--no-trunc', '-f', 'name=zero', '--format', '{{.ID}}']))[0]!;
    assert.is(id.length, 64);
    assert.equal(await ps('-a', '-f', `id=${id.slice(0, 6)}`), ['zero']);
    assert.equal(lines(await baleOk(t.dir, ['ps', '-q', '-f', 'name=zero', '-f', 'status=exited'])), [id.slice(0, 12)]);
    assert.equal(lines(await baleOk(t.dir, ['ps', '-q', '--no-trunc', '-f', 'name=zero', '-f', 'status=exited'])), [id]);
    const r = await bale(t.dir, ['ps', '-f', 'status=sleeping']);
    assert.is(r.code, 2);
    assert.match(r.stderr, "invalid filter 'status=sleeping'");
  } finally {
    t.cleanup();
  }
});

test('image prune: dangling images only (shared layers stay), -a all unused, asks unless -f', async () => {
  const t = tmpDir();
  try {
    const { old, mid, knew } = await threeImages(t.dir);
    const store = await Store.open(t.dir);
    // Said no (or nothing) at the prompt: nothing goes.
    for (const input of ['n\n', '']) {
      const r = await bale(t.dir, ['image', 'prune'], { input });
      assert.is(r.code, 0);
      assert.match(r.stdout, 'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ');
      assert.ok(await store.image(mid.id));
    }
    const midOwn = mid.layers[1]!.size + (await store.blobSize(mid.id)) + mid.manifest.size;
    const out = await baleOk(t.dir, ['image', 'prune'], { input: 'y\n' });
    assert.match(out, `Deleted Images:\ndeleted: ${mid.id}\n\nTotal reclaimed space: ${humanSize(midOwn)}\n`);
    assert.not.ok(await store.image(mid.id));
    assert.ok(await store.hasBlob(old.layers[0]!.digest), 'the layer mid shared with old stays');
    assert.is(await baleOk(t.dir, ['image', 'prune', '-f']), 'Total reclaimed space: 0B\n');
    // -a: every image no container uses; one a container was made from stays.
    await seedBusybox(t.dir);
    await baleOk(t.dir, ['create', '--name', 'keeper', 'busybox', 'true']);
    const all = await baleOk(t.dir, ['image', 'prune', '-a', '-f']);
    for (const s of ['untagged: team/old:1', 'untagged: app:2', 'untagged: registry.example.com/team/app:2', `deleted: ${old.id}`, `deleted: ${knew.id}`]) assert.match(all, s);
    assert.not.match(all, 'busybox');
    assert.equal(lines(await baleOk(t.dir, ['images', '--format', '{{.Repository}}'])), ['busybox']);
  } finally {
    t.cleanup();
  }
});

test('container prune removes stopped and created containers, keeps running ones, and reports the space', async () => {
  const t = tmpDir();
  try {
    await seedBusybox(t.dir);
    await baleOk(t.dir, ['create', '--name', 'made', 'busybox', 'true']);
    await baleOk(t.dir, ['run', '--name', 'wrote', 'busybox', 'sh', '-c', 'head -c 50000 /dev/zero > /big']);
    await baleOk(t.dir, ['run', '-d', '--name', 'alive', 'busybox', 'sleep', '60']);
    try {
      const ids = lines(await baleOk(t.dir, ['ps', '-a', '-q', '--no-trunc', '-f', 'status=exited', '-f', 'status=created'])).sort();
      assert.is(ids.length, 2);
      const r = await bale(t.dir, ['container', 'prune'], { input: 'no\n' });
      assert.match(r.stdout, 'WARNING! This will remove all stopped containers.');
      assert.is(lines(await baleOk(t.dir, ['ps', '-a', '-q'])).length, 3);
      const out = await baleOk(t.dir, ['container', 'prune', '-f']);
      const m = /^Deleted Containers:\n([\s\S]*)\n\nTotal reclaimed space: (\S+)\n$/.exec(out);
      assert.ok(m, out);
      assert.equal(lines(m![1]!).sort(), ids);
      assert.match(m![2]!, /^5\d(\.\d+)?kB$/, 'the 50 kB file the container wrote, and a little more');
      assert.equal(lines(await baleOk(t.dir, ['ps', '-a', '--format', '{{.Names}}'])), ['alive']);
    } finally {
      await bale(t.dir, ['rm', '-f', 'alive']);
    }
  } finally {
    t.cleanup();
  }
});

test.run();
