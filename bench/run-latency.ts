// The launcher's latency: `bale run --rm IMAGE true` against the peers starting the same rootfs,
// interleaved round by round so a busy moment hits every contender alike; medians of the rounds.
//
//   npm run bench:run [-- --rounds 15 --markdown --baseline REF...]
//
// Contenders (each skipped with "n/a" when not installed):
//   bale run --rm busybox true        the whole bale process: Node start, store lock, overlay, helper
//   bale run at REF (--baseline)      the same, by bale as it was at git REF (e.g. main), built in a
//                                     temp dir with this checkout's node_modules, its own store
//                                     (--baseline may be given more than once)
//   crun run (OCI bundle)             the same rootfs, as a bundle from `bale export` (crun spec)
//   runc run (OCI bundle)             likewise
//   podman run --rm                   podman with a store of its own (vfs) in the work dir
//   unshare -m -u -i -n -p -f true    the namespaces alone: the floor
// and, a second table, the listing verb against Node doing nothing:
//   bale images                       (and at REF with --baseline)
//   node -e 0                         Node's own start: issue 10's yardstick (bale images <= 1.3x it)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import minimist from 'minimist';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BALE = path.join(REPO, 'bin', 'bale');
const SAMPLE = path.join(REPO, 'samples', 'busybox.tar.gz');

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Seconds one run of the command takes, or undefined if it failed. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): number | undefined {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return r.status === 0 ? s : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Contender {
  name: string;
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  times: number[];
  failed: boolean;
}

/** An OCI bundle of the busybox image's rootfs for crun/runc: `true` as the process, no network. */
function bundle(work: string, store: string): string {
  const dir = path.join(work, 'bundle');
  mkdirSync(path.join(dir, 'rootfs'), { recursive: true });
  sh(BALE, ['export', '-q', '-o', path.join(work, 'rootfs.tar'), 'busybox'], { ...process.env, BALE_ROOT: store });
  sh('tar', ['-xf', path.join(work, 'rootfs.tar'), '-C', path.join(dir, 'rootfs')]);
  sh('crun', ['spec', '-b', dir]);
  const spec = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  spec.process.args = ['/bin/true'];
  spec.process.terminal = false;
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

/** bale as it was at git REF: its tree exported to `work`, built with this checkout's node_modules. */
function baselineBale(work: string, ref: string): string {
  const dir = path.join(work, `baseline-${ref.replace(/[^\w.-]/g, '_')}`);
  mkdirSync(dir);
  sh('sh', ['-c', `git -C "$0" archive "$1" | tar -x -C "$2"`, REPO, ref, dir]);
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  const r = spawnSync('npm', ['run', 'build'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building ${ref}: ${(r.stderr || r.stdout).trim()}`);
  return path.join(dir, 'bin', 'bale');
}

/** Rounds of every contender in turn; each one's times in its own list. */
function race(all: Contender[], rounds: number): void {
  for (let r = 0; r < rounds; r++) {
    for (const c of all) {
      const t = timed(c.cmd, c.args, c.env);
      if (t === undefined) c.failed = true;
      else c.times.push(t);
    }
  }
}

/** The table: each contender's median, and the first one's against it. */
function table(all: Contender[], ratio: string): string[] {
  const firstMs = median(all[0]!.times) * 1000;
  const lines = [`| command | median ms | ${ratio} |`, '| --- | ---: | ---: |'];
  for (const c of all) {
    if (c.failed || c.times.length === 0) {
      lines.push(`| ${c.name} | n/a (failed) | |`);
      continue;
    }
    const ms = median(c.times) * 1000;
    lines.push(`| ${c.name} | ${ms.toFixed(1)} | ${c === all[0] ? '' : `${(firstMs / ms).toFixed(2)}x`} |`);
  }
  return lines;
}

function contender(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Contender {
  return { name, cmd, args, env, times: [], failed: false };
}

function main(): void {
  const argv = minimist(process.argv.slice(2), { boolean: ['markdown', 'help'], string: ['rounds', 'baseline'], alias: { h: 'help' } });
  if (argv.help) {
    process.stdout.write('Usage: npm run bench:run -- [--rounds N] [--markdown] [--baseline GIT-REF]...\n');
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('the run bench needs root');
  const rounds = Number(argv.rounds ?? 15);
  const work = mkdtempSync(path.join(os.tmpdir(), 'bale-bench-run-'));
  try {
    const store = path.join(work, 'store');
    const env = { ...process.env, BALE_ROOT: store };
    sh(BALE, ['load', '-q', '-i', SAMPLE], env);
    sh(BALE, ['run', '--rm', 'busybox', 'true'], env); // unpack once
    const runArgs = ['run', '--rm', 'busybox', 'true'];
    const all: Contender[] = [contender('bale run --rm busybox true', BALE, runArgs, env)];
    const listing: Contender[] = [contender('bale images', BALE, ['images'], env)];
    for (const ref of [argv.baseline ?? []].flat().map(String)) {
      const old = baselineBale(work, ref);
      const oldEnv = { ...process.env, BALE_ROOT: `${path.dirname(path.dirname(old))}-store` };
      sh(old, ['load', '-q', '-i', SAMPLE], oldEnv);
      sh(old, runArgs, oldEnv);
      all.push(contender(`bale run at ${ref}`, old, runArgs, oldEnv));
      listing.push(contender(`bale images at ${ref}`, old, ['images'], oldEnv));
    }
    if (have('crun') || have('runc')) {
      const dir = bundle(work, store);
      for (const rt of ['crun', 'runc'].filter(have)) {
        all.push(contender(`${rt} run (OCI bundle)`, rt, ['--root', path.join(work, `${rt}-state`), 'run', '-b', dir, `bench-${rt}`]));
      }
    }
    if (have('podman')) {
      const p = ['--root', path.join(work, 'podman'), '--runroot', path.join(work, 'podman-run'), '--storage-driver', 'vfs'];
      const plain = path.join(work, 'busybox.tar');
      sh(BALE, ['save', '-q', '-o', plain, 'busybox'], env);
      sh('podman', [...p, 'load', '-q', '-i', plain]);
      all.push(contender('podman run --rm --network none', 'podman', [...p, 'run', '--rm', '--network', 'none', 'busybox', 'true']));
    }
    if (have('unshare')) all.push(contender('unshare -m -u -i -n -p -f true', 'unshare', ['-m', '-u', '-i', '-n', '-p', '-f', 'true']));
    listing.push(contender('node -e 0', process.execPath, ['-e', '0']));
    race(all, rounds);
    race(listing, rounds);
    const lines = [`bale run latency, ${rounds} interleaved rounds, medians; node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}`, ''];
    lines.push(...table(all, 'bale / it'), '', ...table(listing, 'bale images / it'));
    process.stdout.write((argv.markdown ? lines : lines.map((l) => l.replace(/\|/g, ' ').trim())).join('\n') + '\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
