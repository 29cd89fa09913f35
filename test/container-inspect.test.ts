// bale inspect of a container: docker's shape, with State following the container's life.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bale, baleOk, processGone, waitFor, withContainers } from './helpers.js';
import { seedBusybox } from './images.js';

const ZERO = '0001-01-01T00:00:00Z';

async function field(root: string, tpl: string, name: string): Promise<string> {
  return (await baleOk(root, ['inspect', '--type', 'container', '-f', tpl, name])).trim();
}

/** A busybox container run detached: its id, its pid 1, and the bale that watches it (the monitor). */
async function detachedSleeper(root: string): Promise<{ id: string; pid: number; monitorPid: number }> {
  await seedBusybox(root);
  const id = (await baleOk(root, ['run', '-d', 'busybox', 'sleep', '300'])).trim();
  const rec = JSON.parse(readFileSync(path.join(root, 'containers', id, 'container.json'), 'utf8'));
  return { id, ...(rec.state as { pid: number; monitorPid: number }) };
}

test(
  'State, Path, Args, Name and Config follow a container from create to exit, as docker inspect shows them',
  withContainers(async (root) => {
    await seedBusybox(root);
    await baleOk(root, ['create', '--name', 'web', '--hostname', 'h1', '-e', 'A=1', '--memory', '64m', 'busybox', 'sh', '-c', 'sleep 30; exit 3']);
    assert.is(await field(root, '{{.Name}} {{.Path}} {{json .Args}} {{.Config.Hostname}} {{.Config.Image}}', 'web'), '/web sh ["-c","sleep 30; exit 3"] h1 busybox');
    assert.is(await field(root, '{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{.State.StartedAt}}', 'web'), `created false 0 ${ZERO}`);
    assert.ok((await field(root, '{{json .Config.Env}}', 'web')).includes('"A=1"'));
    assert.is(await field(root, '{{.HostConfig.Memory}} {{.HostConfig.NetworkMode}}', 'web'), '67108864 none');

    await baleOk(root, ['start', 'web']);
    const pid = Number(await waitFor('a pid', async () => {
      const p = await field(root, '{{.State.Pid}}', 'web');
      return p !== '0' ? p : undefined;
    }));
    // the host pid of the container's pid 1: its root is the container's, with the container's hostname
    assert.is(readFileSync(`/proc/${pid}/root/etc/hostname`, 'utf8').trim(), 'h1');
    assert.is(await field(root, '{{.State.Status}} {{.State.Running}}', 'web'), 'running true');
    assert.not.equal(await field(root, '{{.State.StartedAt}}', 'web'), ZERO);

    await baleOk(root, ['kill', 'web']);
    await waitFor('the exit', async () => ((await field(root, '{{.State.Status}}', 'web')) === 'exited' ? true : undefined));
    const [status, running, after, code, finished] = (await field(root, '{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{.State.ExitCode}} {{.State.FinishedAt}}', 'web')).split(' ');
    assert.equal([status, running, after], ['exited', 'false', '0']);
    assert.is(code, '137', 'killed by SIGKILL: 128 + 9');
    assert.not.equal(finished, ZERO);
  }),
);

test(
  'an unknown key is an error (missingkey=error), as docker inspect -f',
  withContainers(async (root) => {
    await seedBusybox(root);
    await baleOk(root, ['create', '--name', 'c', 'busybox', 'true']);
    const r = await bale(root, ['inspect', '-f', '{{.state.pid}}', 'c']);
    assert.is(r.code, 2, 'a template error, as the other verbs\' (formats.test)');
    assert.match(r.stderr, /map has no entry for key "?state/);
  }),
);

test(
  'inspect shows a container whose pid 1 died unwatched as exited, before any other verb repairs its record',
  withContainers(async (root) => {
    const { id, pid, monitorPid } = await detachedSleeper(root);
    process.kill(monitorPid, 'SIGKILL'); // the bale that would record the exit
    await waitFor('the monitor gone', async () => (processGone(monitorPid) ? true : undefined));
    process.kill(pid, 'SIGKILL');
    await waitFor('pid 1 gone', async () => (processGone(pid) ? true : undefined));
    assert.is(await field(root, '{{.State.Status}} {{.State.Running}} {{.State.Pid}}', id), 'exited false 0');
    const onDisk = JSON.parse(readFileSync(path.join(root, 'containers', id, 'container.json'), 'utf8'));
    assert.is(onDisk.state.status, 'running', 'inspect only reads: the record is repaired by the next verb that repairs');
    await baleOk(root, ['rm', id]);
  }),
);

test(
  'while the bale that ran it lives, inspect shows a container whose pid 1 just died as running, not exited with a code nobody read',
  withContainers(async (root) => {
    const { id, pid, monitorPid } = await detachedSleeper(root);
    process.kill(monitorPid, 'SIGSTOP'); // the bale that records the exit, held before it can
    try {
      process.kill(pid, 'SIGKILL');
      await waitFor('pid 1 gone', async () => (processGone(pid) ? true : undefined));
      assert.is(await field(root, '{{.State.Status}} {{.State.Running}}', id), 'running true');
    } finally {
      process.kill(monitorPid, 'SIGCONT');
    }
    await waitFor('the exit recorded', async () => ((await field(root, '{{.State.Status}}', id)) === 'exited' ? true : undefined));
    assert.is(await field(root, '{{.State.Status}} {{.State.ExitCode}}', id), 'exited 137', 'the code its bale read: 128 + SIGKILL');
    await baleOk(root, ['rm', id]);
  }),
);

test.run();
