// bin/bale's V8 code cache (dist/bundle/cli/cli.cache, made by the build): used when it is the
// build's own, and otherwise ignored with bale working as before: a cache another user owns or may
// write, a symlink, one cut short or of garbage, one made from a bundle edited since (at the same
// length, which is all V8 itself checks of the source). And a read-only install works, cache and all.
// Each test works on a copy of the install (bin, dist/bundle with its mtimes, dist/native).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, runProcess, tmpDir, type BaleResult } from './helpers.js';

interface Install {
  dir: string;
  cache: string;
  bundle: string;
  /** `bale ARGS` from this install, with BALE_DEBUG=1 (its stderr says whether the cache was used). */
  bale: (args: string[], wrap?: string[]) => Promise<BaleResult>;
  cleanup: () => void;
}

function install(): Install {
  const t = tmpDir('bale-startup-');
  const dir = path.join(t.dir, 'bale');
  mkdirSync(path.join(dir, 'dist'), { recursive: true });
  // cp -a: the cache names the bundle's mtime to the nanosecond, which Node's cpSync rounds
  for (const p of ['package.json', 'bin', 'dist/bundle', 'dist/native']) {
    assert.is(spawnSync('cp', ['-a', path.join(REPO, p), path.join(dir, p)], { stdio: 'inherit' }).status, 0, `cp -a ${p}`);
  }
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  const root = path.join(t.dir, 'store');
  mkdirSync(root);
  const baleBin = path.join(dir, 'bin', 'bale');
  return {
    dir,
    cache: path.join(dir, 'dist/bundle/cli/cli.cache'),
    bundle: path.join(dir, 'dist/bundle/cli/cli.js'),
    bale: (args, wrap = []) =>
      runProcess(wrap[0] ?? baleBin, wrap.length ? [...wrap.slice(1), baleBin, ...args] : args, { ...process.env, BALE_ROOT: root, BALE_DEBUG: '1' }),
    cleanup: t.cleanup,
  };
}

/** What bin/bale said of the cache: 'used', or the reason it was not. */
function cacheVerdict(r: BaleResult): string {
  const m = /^bale: code cache \S+: (.*)$/m.exec(r.stderr);
  assert.ok(m, `no code cache line in: ${r.stderr}`);
  return m![1]!;
}

/** `bale images` worked: exit 0 and the table's header. */
function listed(r: BaleResult, header = 'REPOSITORY'): void {
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${header} +TAG +IMAGE ID`));
}

function withInstall(fn: (i: Install) => Promise<void>): () => Promise<void> {
  return async () => {
    const i = install();
    try {
      await fn(i);
    } finally {
      i.cleanup();
    }
  };
}

test(
  "the build's cache is used (so the refusals below are the checks, not a cache that never loads)",
  withInstall(async (i) => {
    const r = await i.bale(['images']);
    listed(r);
    assert.is(cacheVerdict(r), 'used');
  }),
);

test(
  'a cache owned by another user, or writable by group or others, is not loaded; bale works',
  withInstall(async (i) => {
    chownSync(i.cache, 65534, 65534);
    let r = await i.bale(['images']);
    listed(r);
    assert.is(cacheVerdict(r), 'not used: owned by uid 65534');

    chownSync(i.cache, 0, 0);
    chmodSync(i.cache, 0o664);
    r = await i.bale(['images']);
    listed(r);
    assert.is(cacheVerdict(r), 'not used: writable by group or others (mode 664)');
    chmodSync(i.cache, 0o646);
    assert.is(cacheVerdict(await i.bale(['images'])), 'not used: writable by group or others (mode 646)');
  }),
);

test(
  'a symlink in place of the cache is not followed',
  withInstall(async (i) => {
    const real = `${i.cache}.real`;
    renameSync(i.cache, real);
    symlinkSync(real, i.cache);
    const r = await i.bale(['images']);
    listed(r);
    assert.is(cacheVerdict(r), 'not used: cannot open: ELOOP');
  }),
);

test(
  'a cache cut short, or of garbage behind a right header, is not loaded; bale works',
  withInstall(async (i) => {
    const whole = readFileSync(i.cache);
    truncateSync(i.cache, Math.floor(whole.length / 2));
    let r = await i.bale(['images']);
    listed(r);
    assert.is(cacheVerdict(r), 'not used: made from another bundle, or cut short');

    const nl = whole.indexOf(10);
    const garbage = Buffer.alloc(whole.length - nl - 1, 0x5a);
    writeFileSync(i.cache, Buffer.concat([whole.subarray(0, nl + 1), garbage]));
    r = await i.bale(['images']);
    listed(r);
    assert.is(cacheVerdict(r), 'not used: rejected by V8');
  }),
);

test(
  'after the bundle is edited (same length, so V8 alone would take the old bytecode) the edit runs',
  withInstall(async (i) => {
    const text = readFileSync(i.bundle, 'latin1');
    const from = 'Repository: "REPOSITORY"';
    assert.ok(text.includes(from), 'the images header is in the bundle');
    writeFileSync(i.bundle, text.replace(from, 'Repository: "REPOSITORZ"'), 'latin1');
    const r = await i.bale(['images']);
    listed(r, 'REPOSITORZ');
    assert.is(cacheVerdict(r), 'not used: made from another bundle, or cut short');
  }),
);

test(
  'a read-only install works, with its cache, and without one',
  withInstall(async (i) => {
    // In a mount namespace of its own, the install is bound read-only over itself.
    const ro = ['unshare', '-m', 'sh', '-c', 'mount --bind -o ro "$0" "$0" && exec "$@"', i.dir, process.execPath];
    assert.ok(spawnSync(ro[0]!, [...ro.slice(1, 6), 'touch', path.join(i.dir, 'x')], { stdio: 'ignore' }).status !== 0, 'the bind is read-only');
    let r = await i.bale(['images'], ro);
    listed(r);
    assert.is(cacheVerdict(r), 'used');
    r = await i.bale(['--version'], ro);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /^bale \d/);

    rmSync(i.cache);
    r = await i.bale(['images'], ro);
    listed(r);
    assert.is(cacheVerdict(r), 'not used: cannot open: ENOENT');
  }),
);

test.run();
