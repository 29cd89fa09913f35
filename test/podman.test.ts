// podman (Debian's package, installed by .ci/run) as an oracle and as a producer: it loads the
// archives bale saves, and bale loads the archives podman saves, with the same image ids.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { baleOk, have, tmpDir } from './helpers.js';
import { busyboxEntries, seedImage } from './images.js';

const scratch = tmpDir('bale-podman-');
test.after(() => scratch.cleanup());

/** podman with its own store in a temp dir (vfs: no mounts, nothing shared with the host's). */
function podman(args: string[]): string {
  const root = path.join(scratch.dir, 'podman');
  const r = spawnSync('podman', ['--root', `${root}/root`, '--runroot', `${root}/run`, '--storage-driver', 'vfs', ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

test('podman loads what bale saves (docker and OCI formats), with bale image id and config', async () => {
  assert.ok(have('podman'), 'podman is not installed: .ci/run installs it');
  const store = path.join(scratch.dir, 'store');
  const rec = await seedImage(store, {
    layers: [busyboxEntries(), [{ name: 'app/' }, { name: 'app/hello', content: 'hello\n' }]],
    config: { Cmd: ['cat', '/app/hello'], Env: ['PATH=/bin', 'GREETING=hi'], WorkingDir: '/app' },
    tags: ['bale-test/app:1'],
  });
  for (const format of ['docker', 'oci', 'both']) {
    const out = path.join(scratch.dir, `saved-${format}.tar`);
    await baleOk(store, ['save', '--format', format, '-o', out, 'bale-test/app:1']);
    const loaded = podman(['load', '-i', out]);
    assert.match(loaded, /Loaded image/, format);
    const info = JSON.parse(podman(['image', 'inspect', rec.id.slice(7)]))[0];
    assert.is(`sha256:${info.Id}`, rec.id, `${format}: same image id`);
    assert.equal(info.Config.Cmd, ['cat', '/app/hello'], format);
    assert.equal(info.Config.WorkingDir, '/app', format);
    assert.equal(info.RootFS.Layers, rec.diffIds, `${format}: same layers`);
    podman(['rmi', '-f', rec.id.slice(7)]);
  }
});

test('bale loads what podman saves (docker-archive, oci-archive, multi-image)', async () => {
  assert.ok(have('podman'), 'podman is not installed: .ci/run installs it');
  const store = path.join(scratch.dir, 'store2');
  const a = await seedImage(store, { layers: [busyboxEntries()], config: { Cmd: ['sh'] }, tags: ['pm/a:1'] });
  const b = await seedImage(store, { layers: [busyboxEntries(), [{ name: 'b', content: 'b' }]], config: { Cmd: ['sh'] }, tags: ['pm/b:1'] });
  const src = path.join(scratch.dir, 'two.tar');
  await baleOk(store, ['save', '-o', src, 'pm/a:1', 'pm/b:1']);
  podman(['load', '-i', src]);
  const cases: [string, string[]][] = [
    ['docker-archive', ['save', '--format', 'docker-archive', '-o', '%', 'localhost/pm/a:1']],
    ['oci-archive', ['save', '--format', 'oci-archive', '-o', '%', 'localhost/pm/a:1']],
    ['multi', ['save', '-m', '--format', 'docker-archive', '-o', '%', 'localhost/pm/a:1', 'localhost/pm/b:1']],
  ];
  for (const [name, args] of cases) {
    const out = path.join(scratch.dir, `podman-${name}.tar`);
    podman(args.map((x) => (x === '%' ? out : x)));
    const fresh = path.join(scratch.dir, `fresh-${name}`);
    await baleOk(fresh, ['load', '-q', '-i', out]);
    const ids = (await baleOk(fresh, ['images', '-q', '--no-trunc'])).trim().split('\n').sort();
    assert.equal(ids, (name === 'multi' ? [a.id, b.id] : [a.id]).sort(), name);
    // bale's busybox runs from podman's archive, too: the layer came through whole.
    const run = await baleOk(fresh, ['run', '--rm', a.id.slice(7, 19), 'sh', '-c', 'echo ok']);
    assert.is(run.trim(), 'ok', name);
  }
});

test.run();
