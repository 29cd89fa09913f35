// Running bale as the unprivileged users test/setup.sh makes, for the rootless tests: the tests run
// as root and drop to the user with setpriv, with a store the user owns.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, runProcess, type BaleResult } from './helpers.js';

/** Has ranges in /etc/subuid and /etc/subgid. */
export const ROOTLESS_USER = 'bale-rootless';
/** Has none: bale maps only its own ids. */
export const NOSUBID_USER = 'bale-nosubid';

export interface User {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function user(name: string): User {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}: run sh test/setup.sh (as root) first`);
  const f = line.split(':');
  return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
}

let build: { node: string; bale: string } | undefined;

/**
 * node and bin/bale as every user can run them: from a copy of the build in a temp dir, since the
 * checkout (and node itself) may sit below a directory only root may enter, as on CI.
 */
export function sharedBuild(): { node: string; bale: string } {
  if (build) return build;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bale-rootless-build-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  for (const p of ['bin', 'dist', 'package.json', 'node_modules']) cpSync(path.join(REPO, p), path.join(dir, p), { recursive: true, verbatimSymlinks: true });
  // node too, unless every user may run the one running these tests
  let node = process.execPath;
  if (spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', node, '-e', '0']).status !== 0) {
    node = path.join(dir, 'node');
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
  }
  build = { node, bale: path.join(dir, 'bin', 'bale') };
  return build;
}

/** The argv that runs bale as `u` (its HOME, no root's environment leaking in but PATH and BALE_ROOT). */
export function baleArgv(u: User): string[] {
  const b = sharedBuild();
  return ['setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--', 'env', `HOME=${u.home}`, `USER=${u.name}`, `LOGNAME=${u.name}`, b.node, b.bale];
}

/** bale as `u` against the store at `root`. */
export function baleAs(u: User, root: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<BaleResult> {
  const [cmd, ...pre] = baleArgv(u);
  return runProcess(cmd!, [...pre, ...args], { PATH: process.env['PATH'] ?? '/usr/bin:/bin', BALE_ROOT: root, ...(opts.env ?? {}) }, opts.input);
}

export async function baleAsOk(u: User, root: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await baleAs(u, root, args, opts);
  if (r.code !== 0) throw new Error(`bale ${args.join(' ')} (as ${u.name}) exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Give `u` what root made under `dir` (a seeded store, say), and the way into it. */
export function handOver(u: User, dir: string): void {
  spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, dir]);
  for (let d = path.dirname(dir); d !== '/' && d.startsWith(os.tmpdir() + '/'); d = path.dirname(d)) chmodSync(d, 0o711);
}

/** A temp dir the user owns, with a store in it (`<dir>/store`); cleanup ends its user namespace's pause process, then removes it. */
export function userStore(u: User): { dir: string; root: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bale-rootless-'));
  chownSync(dir, u.uid, u.gid);
  const root = path.join(dir, 'store');
  mkdirSync(root, { mode: 0o700 });
  chownSync(root, u.uid, u.gid);
  return {
    dir,
    root,
    cleanup: () => {
      endPause(root);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The pid of the store's pause process (holding its user namespace), if one was made. */
export function pausePid(root: string): number | undefined {
  try {
    return Number(readFileSync(path.join(root, 'locks', 'userns.pid'), 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

function endPause(root: string): void {
  const pid = pausePid(root);
  if (!pid) return;
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('bale-init\0pause')) process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}
