// docker as an oracle: a private dockerd (Debian's docker.io) started for one test file, with its
// own socket, data root, exec root and pidfile in a temp dir, so it never meets a system dockerd or
// another test's. `withDockerd(fn)` starts it, waits until it answers, runs fn and always stops it:
// SIGTERM, then SIGKILL for anything it left running from that temp dir (its containerd and
// shims), mounts under the dir are lazily unmounted, the dir removed. A bale process killed before
// its finally runs still takes dockerd down with it: dockerd gets SIGTERM when the test process
// dies (setpriv --pdeathsig), and an exit hook kills whatever runs from the temp dir.
//
//   await withDockerd(async (d) => { await d.dockerOk(['load', '-i', file]); ... });
//   or, for a whole test file: const d = await startDockerd() in test.before, d.stop() in test.after.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runProcess } from './helpers.js';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Dockerd {
  /** The temp dir holding the socket, data root, exec root, pidfile and log. */
  dir: string;
  sock: string;
  /** `docker -H unix://SOCK ARGS...` */
  docker(args: string[], opts?: { input?: Buffer | string }): Promise<DockerResult>;
  /** Like docker(), but throws with stderr on a non-zero exit code. */
  dockerOk(args: string[], opts?: { input?: Buffer | string }): Promise<string>;
  /** Stop dockerd and everything it started, unmount and remove the dir (idempotent). */
  stop(): Promise<void>;
}

/** The docker client that came with dockerd (Debian: /usr/bin/docker), not some other docker on PATH. */
function dockerCli(): string {
  if (process.env['BALE_TEST_DOCKER']) return process.env['BALE_TEST_DOCKER'];
  const dockerd = spawnSync('sh', ['-c', 'command -v dockerd'], { encoding: 'utf8' }).stdout.trim();
  for (const p of ['/usr/bin/docker', dockerd ? path.join(path.dirname(dockerd), 'docker') : '']) if (p && existsSync(p)) return p;
  return 'docker';
}

function run(cmd: string, args: string[], input?: Buffer | string): Promise<DockerResult> {
  return runProcess(cmd, args, process.env, input);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of every process whose command line names `dir` (dockerd's containerd and shims carry it). */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n) || Number(n) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${n}/cmdline`).toString().includes(dir)) out.push(Number(n));
    } catch {
      // gone
    }
  }
  return out;
}

/** Mount points under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(dir + '/')) out.push(p);
  }
  return out.sort((a, b) => b.length - a.length);
}

const live = new Set<string>();
function killEverything(dir: string): void {
  for (const pid of processesUnder(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
process.on('exit', () => {
  for (const dir of live) killEverything(dir);
});

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(20000)]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(5000)]);
    }
  }
  // containerd and its shims outlive a killed dockerd; they run from our dir, so they are ours.
  for (let i = 0; i < 50 && processesUnder(dir).length; i++) {
    killEverything(dir);
    await sleep(100);
  }
  for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m]);
  live.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Start a private dockerd and wait until it answers. Call stop() when done (withDockerd does). */
export async function startDockerd(): Promise<Dockerd> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bale-dockerd-'));
  live.add(dir);
  const sock = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      'setpriv',
      [
        '--pdeathsig=TERM',
        '--',
        'dockerd',
        `--host=unix://${sock}`,
        `--data-root=${path.join(dir, 'data')}`,
        `--exec-root=${path.join(dir, 'exec')}`,
        `--pidfile=${path.join(dir, 'dockerd.pid')}`,
        '--iptables=false',
        '--ip-masq=false',
        '--bridge=none',
        '--log-level=warn',
      ],
      { stdio: ['ignore', log, log] },
    );
  } finally {
    closeSync(log);
  }
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const cli = dockerCli();
  let stopping: Promise<void> | undefined;
  const d: Dockerd = {
    dir,
    sock,
    docker: (args, opts = {}) => run(cli, ['-H', `unix://${sock}`, ...args], opts.input),
    dockerOk: async (args, opts = {}) => {
      const r = await d.docker(args, opts);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
      return r.stdout;
    },
    stop: () => (stopping ??= stop(child, dir)),
  };
  try {
    const deadline = Date.now() + 60000;
    for (;;) {
      if (spawnError) throw new Error(`dockerd: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`dockerd exited early:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
      if (existsSync(sock) && (await d.docker(['version', '--format', '{{.Server.Version}}'])).code === 0) return d;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${sock} within 60 s:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
      await sleep(250);
    }
  } catch (e) {
    await d.stop();
    throw e;
  }
}

/** Start a private dockerd, run fn with it, stop it whatever happens. */
export async function withDockerd<T>(fn: (d: Dockerd) => Promise<T>): Promise<T> {
  const d = await startDockerd();
  try {
    return await fn(d);
  } finally {
    await d.stop();
  }
}
