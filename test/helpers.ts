// Shared test helpers: a fresh store per test, and bale run as a real process.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BALE = path.join(REPO, 'bin', 'bale');
export const SHARED = path.resolve(REPO, '..', 'shared');

/** A fresh temp dir; removed by the returned cleanup. */
export function tmpDir(prefix = 'bale-test-', parent = os.tmpdir()): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(parent, prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface BaleResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to its end with `input` on its stdin; its output and exit code (128+N for a signal). */
export function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: Buffer | string): Promise<BaleResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
    child.on('close', (code, signal) =>
      resolve({ code: code ?? 128 + (signal ? os.constants.signals[signal] : 0), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}

/** Run bin/bale as a real process against the store at `root`. */
export function bale(root: string, args: string[], opts: { input?: Buffer | string; env?: Record<string, string> } = {}): Promise<BaleResult> {
  return runProcess(BALE, args, { ...process.env, BALE_ROOT: root, ...(opts.env ?? {}) }, opts.input);
}

/** Like bale(), but throws with stderr when the exit code is not 0. */
export async function baleOk(root: string, args: string[], opts: { input?: Buffer | string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await bale(root, args, opts);
  if (r.code !== 0) throw new Error(`bale ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Is a host command available (for peers such as skopeo and umoci)? */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Everything in a store that matters, as sorted `path size sha256` lines (tmp/ and locks/ left out):
 * two equal listings mean the store is exactly as it was.
 */
export function storeListing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      if (r === 'tmp' || r === 'locks') continue;
      const p = path.join(dir, n);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(p, r);
      } else if (st.isFile()) out.push(`${r} ${st.size} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      else out.push(`${r} ${st.mode.toString(8)}`);
    }
  };
  walk(root, '');
  return out;
}

/** A row of `bale ps -a --no-trunc --format json`. */
export interface PsRow {
  ID: string;
  Names: string;
  State: string;
  Status: string;
  ExitCode: number | null;
  Pid: number | null;
}

/** Every container of the store at `root`, as `bale ps -a` lists them. */
export async function ps(root: string): Promise<PsRow[]> {
  const out = await baleOk(root, ['ps', '-a', '--no-trunc', '--format', 'json']);
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as PsRow);
}

/** Poll `fn` every 100 ms until it gives a value, for at most `ms`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  for (const until = Date.now() + ms; Date.now() < until; ) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A test body with a store of its own; every container left in it is removed, then the store. */
export function withContainers(fn: (root: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const t = tmpDir();
    try {
      await fn(t.dir);
    } finally {
      for (const c of await ps(t.dir).catch(() => [] as PsRow[])) await bale(t.dir, ['rm', '-f', c.ID]);
      t.cleanup();
    }
  };
}

/**
 * Whether `seen` (interface names a --net host process listed while `during` ran) is the host's
 * set, with other runs on the machine adding and removing interfaces meanwhile (containers with
 * -p): every name there both before and after must be seen, and nothing that was in neither.
 */
export async function seesHostInterfaces(during: () => Promise<string[]>): Promise<{ ok: boolean; seen: string[] }> {
  const before = readdirSync('/sys/class/net');
  const seen = await during();
  const after = readdirSync('/sys/class/net');
  const ok = before.filter((n) => after.includes(n)).every((n) => seen.includes(n)) && seen.every((n) => before.includes(n) || after.includes(n));
  return { ok, seen };
}

/** Whether process `pid` has ended (gone, or a zombie no one has reaped yet). */
export function processGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
  } catch {
    return true;
  }
}
