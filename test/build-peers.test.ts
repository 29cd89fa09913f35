// bale build against docker's classic builder: the Dockerfiles of ../shared/fixtures/peers/README.md
// ("Exact commands"), built by bale, must give the filesystems and configs of the images docker built
// from them (its archives are the oracle): tiny from a busybox rootfs tar made here, layered FROM
// docker's own tiny, layered-alt FROM that.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { HistoryEntry, ImageConfig } from '../src/oci/types.js';
import { Store } from '../src/store/store.js';
import { baleOk, tmpDir } from './helpers.js';
import { expectedListing, listing, PEERS } from './listing.js';
import { ALT, LAYERED, TINY, rootfsTar } from './peer-builds.js';

/** The context of `tiny`: the fixture script's rootfs as rootfs.tar. */
function makeRootfsTar(dir: string): string {
  const ctx = path.join(dir, 'tiny');
  mkdirSync(ctx);
  rootfsTar(dir, ctx);
  return ctx;
}

function context(dir: string, name: string, dockerfile: string): string {
  const ctx = path.join(dir, name);
  mkdirSync(ctx, { recursive: true });
  writeFileSync(path.join(ctx, 'Dockerfile'), dockerfile);
  return ctx;
}

async function config(root: string, ref: string): Promise<ImageConfig> {
  const store = await Store.open(root);
  return store.config(await store.resolve(ref));
}

/** What the comparison with docker covers: the run config's main fields and the shape of the history. */
function essentials(c: ImageConfig, withCreatedBy: boolean) {
  const h = (c.history ?? []) as HistoryEntry[];
  return {
    Env: c.config?.Env,
    Cmd: c.config?.Cmd,
    Entrypoint: c.config?.Entrypoint ?? null,
    WorkingDir: c.config?.WorkingDir,
    Labels: c.config?.Labels,
    layers: c.rootfs.diff_ids.length,
    history: h.map((e) => (withCreatedBy ? `${e.empty_layer ? 'empty ' : 'layer '}${e.created_by}` : e.empty_layer ? 'empty' : 'layer')),
  };
}

async function assertFlattens(root: string, ref: string, expected: string): Promise<void> {
  const out = path.join(root, '..', `${ref.replace(/[:/]/g, '_')}.tar`);
  await baleOk(root, ['export', '-q', '-o', out, ref]);
  assert.equal(await listing(out), expectedListing(expected), `${ref}: flattened listing differs from ${expected}`);
}

test('tiny: FROM scratch + ADD rootfs.tar builds docker\'s tiny (same files, same config, same history shape)', async () => {
  const t = tmpDir('bale-build-');
  try {
    const mine = path.join(t.dir, 'store');
    const oracle = path.join(t.dir, 'oracle');
    const ctx = makeRootfsTar(t.dir);
    writeFileSync(path.join(ctx, 'Dockerfile'), TINY);
    const id = (await baleOk(mine, ['build', '-q', '-t', 'tiny:latest', ctx])).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    await assertFlattens(mine, 'tiny:latest', 'expected/docker-tiny.tar.0.tsv');
    await baleOk(oracle, ['load', '-q', '-i', path.join(PEERS, 'docker-tiny.tar')]);
    const got = essentials(await config(mine, 'tiny:latest'), false);
    const want = essentials(await config(oracle, 'tiny:latest'), false);
    assert.equal(got, want);
    // the config-only lines read as docker's (the ADD names a digest of the tar docker computes its own way)
    const h = (await config(mine, 'tiny:latest')).history!.map((e) => e.created_by);
    const d = (await config(oracle, 'tiny:latest')).history!.map((e) => e.created_by);
    assert.equal(h.slice(1), d.slice(1));
    assert.match(h[0]!, /^\/bin\/sh -c #\(nop\) ADD file:[a-f0-9]{64} in \/ $/);
    assert.is(await baleOk(mine, ['run', '--rm', 'tiny:latest']), 'hello from tiny\n');
  } finally {
    t.cleanup();
  }
});

test('layered FROM docker\'s tiny, then layered-alt FROM it: docker\'s files, configs and history, line for line', async () => {
  const t = tmpDir('bale-build-');
  try {
    const mine = path.join(t.dir, 'store');
    const oracle = path.join(t.dir, 'oracle');
    await baleOk(mine, ['load', '-q', '-i', path.join(PEERS, 'docker-tiny.tar')]);
    await baleOk(mine, ['build', '-q', '-t', 'layered:latest', context(t.dir, 'layered', LAYERED('tiny'))]);
    await baleOk(mine, ['build', '-q', '-t', 'layered-alt:latest', context(t.dir, 'alt', ALT('layered:latest'))]);
    await assertFlattens(mine, 'layered:latest', 'expected/docker-layered.tar.0.tsv');
    await assertFlattens(mine, 'layered-alt:latest', 'expected/docker-multi.tar.1.tsv');

    await baleOk(oracle, ['load', '-q', '-i', path.join(PEERS, 'docker-multi.tar')]);
    for (const ref of ['layered:latest', 'layered-alt:latest']) {
      assert.equal(essentials(await config(mine, ref), true), essentials(await config(oracle, ref), true), ref);
    }
    // layered-alt shares every layer of layered, as docker's do
    const store = await Store.open(mine);
    const [l, a] = [await store.resolve('layered:latest'), await store.resolve('layered-alt:latest')];
    assert.equal(a.diffIds.slice(0, 5), l.diffIds);
    assert.is(a.diffIds.length, 6);
    assert.is(await baleOk(mine, ['run', '--rm', 'layered:latest']), 'alpha\n');
    assert.is(await baleOk(mine, ['run', '--rm', 'layered-alt:latest']), 'alt\n');
    // the RUN layers hold only what the commands changed: no mount points, no /etc/hostname
    const names = spawnSync('tar', ['-tf', store.blobPath(a.layers[5]!.digest)], { encoding: 'utf8' }).stdout.trim().split('\n');
    assert.equal(names, ['alt.txt']);
    assert.equal(readFileSync(store.blobPath(a.layers[5]!.digest)).length, 2048);
  } finally {
    t.cleanup();
  }
});

test.run();
