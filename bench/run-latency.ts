// The launcher's latency: `bale run --rm IMAGE true` against the peers starting the same rootfs,
// interleaved round by round so a busy moment hits every contender alike: medians of the rounds'
// wall times, and means of their CPU times (user + system, children included, from wait4: the
// bench compiles bench/cpu-time.c into its work dir to run each contender under).
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
//   podman run --rm                   podman with a store of its own (vfs) in the work dir, and
//                                     ulimits within this host's (PODMAN_LIMITS)
//   unshare -m -u -i -n -p -f true    the namespaces alone: the floor
// and, a second table, the listing verb against Node doing nothing:
//   bale images                       (and at REF with --baseline)
//   node -e 0                         Node's own start: issue 10's yardstick (bale images <= 1.3x it)
//
// crun (podman's default runtime too) refuses a hybrid cgroup host whose cgroup2 tree holds a
// controller (such as hugetlb, when no v1 hierarchy mounts it): on such a host both run in a mount
// namespace of their own with /sys/fs/cgroup/unified unmounted, so crun sees the v1 controllers
// runc uses; the wrapper's own cost is a row of its own, and the table's notes say so.
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

/** The CPU timer (bench/cpu-time.c) built into `work`, or undefined when there is no C compiler. */
function cpuTimer(work: string): string | undefined {
  if (!have('cc')) return undefined;
  const out = path.join(work, 'cpu-time');
  sh('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, path.join(REPO, 'bench', 'cpu-time.c')]);
  return out;
}

/** What the CPU timer writes to, and the timer. */
interface CpuTiming {
  timer: string;
  file: string;
}

/**
 * One run of the command: its wall seconds, and its CPU seconds (user + system, children
 * included, as wait4 reports them); if it failed, the last line of its stderr. Every contender
 * runs under the timer, so each wall time has the timer's own start in it alike.
 */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, cpu?: CpuTiming): { wall: number; cpu?: number } | string {
  const argv = cpu ? [cpu.timer, cpu.file, cmd, ...args] : [cmd, ...args];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) return r.stderr.trim().split('\n').pop() || `exit status ${r.status ?? r.signal}`;
  if (!cpu) return { wall };
  return { wall, cpu: Number(readFileSync(cpu.file, 'utf8')) / 1e6 };
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
  cpu: number[];
  /** Why a round failed (its stderr's last line): the contender shows n/a with it. */
  failed?: string;
  /** Printed under the table: how this contender runs unlike the others. */
  note?: string;
}

const UNIFIED = '/sys/fs/cgroup/unified';

/**
 * The controllers a hybrid cgroup host's cgroup2 tree (/sys/fs/cgroup/unified) holds; crun 1.x
 * refuses to run on such a host ("cgroups in hybrid mode not supported"). Empty on a v1 or v2 host.
 */
function hybridControllers(): string[] {
  try {
    return readFileSync(path.join(UNIFIED, 'cgroup.controllers'), 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** The command run in a mount namespace of its own without the cgroup2 tree (see the header). */
function withoutUnified(cmd: string, args: string[]): [string, string[]] {
  return ['unshare', ['-m', '--propagation', 'private', 'sh', '-c', `umount ${UNIFIED} && exec "$0" "$@"`, cmd, ...args]];
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
function race(all: Contender[], rounds: number, cpu?: CpuTiming): void {
  for (let r = 0; r < rounds; r++) {
    for (const c of all) {
      const t = timed(c.cmd, c.args, c.env, cpu);
      if (typeof t === 'string') c.failed = t;
      else {
        c.times.push(t.wall);
        if (t.cpu !== undefined) c.cpu.push(t.cpu);
      }
    }
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The table: each contender's median wall and mean CPU time, and the first one's against them. */
function table(all: Contender[], ratio: string): string[] {
  const first = all[0]!;
  const firstMs = median(first.times) * 1000;
  const firstCpu = first.cpu.length ? mean(first.cpu) * 1000 : NaN;
  const lines = [`| command | median ms | ${ratio} | CPU ms (mean) | ${ratio} (CPU) |`, '| --- | ---: | ---: | ---: | ---: |'];
  const notes: string[] = [];
  for (const c of all) {
    const name = c.note ? `${c.name} (${notes.push(c.note)})` : c.name;
    if (c.failed || c.times.length === 0) {
      lines.push(`| ${name} | n/a (failed: ${(c.failed ?? 'no rounds').replace(/\|/g, '/')}) | | | |`);
      continue;
    }
    const ms = median(c.times) * 1000;
    const cpu = c.cpu.length ? mean(c.cpu) * 1000 : NaN;
    const cpuRatio = c === first || !(cpu > 0) ? '' : `${(firstCpu / cpu).toFixed(2)}x`; // no ratio to a CPU time of 0
    const cpuCols = Number.isNaN(cpu) ? '| n/a | |' : `| ${cpu.toFixed(1)} | ${cpuRatio} |`;
    lines.push(`| ${name} | ${ms.toFixed(1)} | ${c === first ? '' : `${(firstMs / ms).toFixed(2)}x`} ${cpuCols}`);
  }
  if (notes.length) lines.push('', ...notes.map((n, i) => `(${i + 1}) ${n}`));
  return lines;
}

function contender(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Contender {
  return { name, cmd, args, env, times: [], cpu: [] };
}

/** crun, or podman with crun: as is, or on a hybrid host without the cgroup2 tree (see the header). */
function crunContender(name: string, cmd: string, args: string[], hybrid: string[], extra = ''): Contender {
  if (!hybrid.length) return { ...contender(name, cmd, args), ...(extra ? { note: extra } : {}) };
  const [c, a] = withoutUnified(cmd, args);
  const note = `crun refuses this hybrid cgroup host (its cgroup2 tree holds ${hybrid.join(', ')}): run in a mount namespace of its own with ${UNIFIED} unmounted, its times include that wrapper (its own row)${extra ? `; ${extra}` : ''}`;
  return { ...contender(name, c, a), note };
}

/**
 * podman as root asks for RLIMIT_NOFILE 1048576 and RLIMIT_NPROC as its own (which it sets to
 * 32768 at start): raising a hard limit takes CAP_SYS_RESOURCE, which a root in a container (as
 * on the machine the benches ran on) may lack, and then its runtime fails. Limits well below any
 * host's do not change what is timed.
 */
const PODMAN_LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

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
    const hybrid = have('unshare') ? hybridControllers() : [];
    if (have('crun') || have('runc')) {
      const dir = bundle(work, store);
      for (const rt of ['crun', 'runc'].filter(have)) {
        const args = ['--root', path.join(work, `${rt}-state`), 'run', '-b', dir, `bench-${rt}`];
        all.push(rt === 'crun' ? crunContender('crun run (OCI bundle)', rt, args, hybrid) : contender(`${rt} run (OCI bundle)`, rt, args));
      }
    }
    if (have('podman')) {
      const p = ['--root', path.join(work, 'podman'), '--runroot', path.join(work, 'podman-run'), '--storage-driver', 'vfs'];
      const plain = path.join(work, 'busybox.tar');
      sh(BALE, ['save', '-q', '-o', plain, 'busybox'], env);
      sh('podman', [...p, 'load', '-q', '-i', plain]);
      const args = [...p, 'run', '--rm', '--network', 'none', ...PODMAN_LIMITS, 'busybox', 'true'];
      all.push(crunContender('podman run --rm --network none', 'podman', args, hybrid, `with ${PODMAN_LIMITS.join(' ')}: its default limits exceed this host's (see PODMAN_LIMITS)`));
    }
    if (hybrid.length && all.some((c) => c.note)) all.push(contender('the wrapper alone (unshare -m, umount, exec true)', ...withoutUnified('true', [])));
    if (have('unshare')) all.push(contender('unshare -m -u -i -n -p -f true', 'unshare', ['-m', '-u', '-i', '-n', '-p', '-f', 'true']));
    listing.push(contender('node -e 0', process.execPath, ['-e', '0']));
    const timer = cpuTimer(work);
    const cpu = timer ? { timer, file: path.join(work, 'cpu') } : undefined;
    race(all, rounds, cpu);
    race(listing, rounds, cpu);
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    const lines = [
      `bale run latency, ${rounds} interleaved rounds: wall medians, CPU means${cpu ? '' : ' (n/a: no cc to build bench/cpu-time.c)'}; node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, load average ${load} at the end`,
      '',
    ];
    lines.push(...table(all, 'bale / it'), '', ...table(listing, 'bale images / it'));
    process.stdout.write((argv.markdown ? lines : lines.map((l) => l.replace(/\|/g, ' ').trim())).join('\n') + '\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
