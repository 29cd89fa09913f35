// Store locks: exclusive excludes, shared shares, and a holder killed with SIGKILL frees the lock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { acquireLock, tryLock } from '../src/util/lock.js';
import { REPO, tmpDir } from './helpers.js';

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> =>
  Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref())]);

test('exclusive waits for exclusive; shared locks share and keep exclusive out', async () => {
  const t = tmpDir();
  try {
    const f = path.join(t.dir, 'lock');
    const a = await acquireLock(f, 'exclusive');
    const b = acquireLock(f, 'exclusive');
    assert.is(await within(b, 300), 'timeout', 'second exclusive waits');
    await a.release();
    const bl = await within(b, 5000);
    assert.ok(bl !== 'timeout', 'second exclusive gets it after release');
    await (bl as { release(): Promise<void> }).release();

    const s1 = await acquireLock(f, 'shared');
    const s2 = await within(acquireLock(f, 'shared'), 5000);
    assert.ok(s2 !== 'timeout', 'two shared at once');
    const x = acquireLock(f, 'exclusive');
    assert.is(await within(x, 300), 'timeout', 'exclusive waits for shared holders');
    await s1.release();
    await (s2 as { release(): Promise<void> }).release();
    await (await x).release();
  } finally {
    t.cleanup();
  }
});

test('tryLock gives up at once on a held lock and takes a free one', async () => {
  const t = tmpDir();
  try {
    const f = path.join(t.dir, 'lock');
    const a = await acquireLock(f, 'exclusive');
    const started = Date.now();
    assert.is(await tryLock(f, 'exclusive'), undefined);
    assert.is(await tryLock(f, 'shared'), undefined);
    assert.ok(Date.now() - started < 2000, 'it did not wait');
    await a.release();
    const b = await tryLock(f, 'exclusive');
    assert.ok(b, 'free: taken');
    const waiting = acquireLock(f, 'exclusive');
    assert.is(await within(waiting, 300), 'timeout', 'and held');
    await b!.release();
    await (await waiting).release();
  } finally {
    t.cleanup();
  }
});

test('a holder killed with SIGKILL leaves no stale lock', async () => {
  const t = tmpDir();
  try {
    const f = path.join(t.dir, 'lock');
    const mod = path.join(REPO, 'dist', 'src', 'util', 'lock.js');
    const child = spawn(process.execPath, ['--input-type=module', '-e', `const { acquireLock } = await import(${JSON.stringify(mod)}); await acquireLock(${JSON.stringify(f)}, 'exclusive'); console.log('held'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => b.toString().includes('held') && resolve()));
    const mine = acquireLock(f, 'exclusive');
    assert.is(await within(mine, 300), 'timeout', 'held by the child');
    child.kill('SIGKILL');
    const got = await within(mine, 5000);
    assert.ok(got !== 'timeout', 'free once the holder died');
    await (got as { release(): Promise<void> }).release();
  } finally {
    t.cleanup();
  }
});

test('the lock is the kernel\'s flock: other tools see it held, and bale sees theirs', async () => {
  const t = tmpDir();
  try {
    const f = path.join(t.dir, 'lock');
    const probe = (m: string) => spawnSync('flock', [m, '-n', '-E', '75', f, 'true']).status;
    const a = await acquireLock(f, 'shared');
    assert.is(probe('-x'), 75, 'util-linux flock -x cannot take a lock bale holds shared');
    assert.is(probe('-s'), 0, 'but can share it');
    await a.release();
    assert.is(probe('-x'), 0, 'free once released');
    const holder = spawn('flock', ['-x', '-o', f, 'sleep', '30'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && probe('-s') === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.is(await tryLock(f, 'shared'), undefined, 'bale sees the lock another process holds');
    } finally {
      holder.kill('SIGKILL');
    }
  } finally {
    t.cleanup();
  }
});

test.run();
