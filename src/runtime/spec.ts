// What a container runs: the image config with docker's override rules applied.
import type { RunConfig } from '../oci/types.js';
import { UsageError } from '../util/errors.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Overrides {
  /** Arguments after the image: replace Cmd. */
  cmd: string[];
  /** --entrypoint: replaces Entrypoint and clears the image's Cmd ('' means none). */
  entrypoint?: string;
  /** -e K=V (or -e K: the host's value, dropped if the host has none). */
  env: string[];
  workdir?: string;
  user?: string;
  hostname: string;
  tty: boolean;
}

export interface ProcessSpec {
  args: string[];
  env: string[];
  cwd: string;
  user: string;
}

function keyOf(kv: string): string {
  const i = kv.indexOf('=');
  return i < 0 ? kv : kv.slice(0, i);
}

/** Set K=V in an env list, replacing an earlier K in place (docker keeps the image's order). */
export function mergeEnv(base: string[], add: string[], hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const out = [...base];
  for (const e of add) {
    let kv = e;
    if (!e.includes('=')) {
      const v = hostEnv[e];
      if (v === undefined) continue;
      kv = `${e}=${v}`;
    }
    if (keyOf(kv) === '') throw new UsageError(`invalid environment variable: ${e}`);
    const i = out.findIndex((x) => keyOf(x) === keyOf(kv));
    if (i >= 0) out[i] = kv;
    else out.push(kv);
  }
  return out;
}

export function processSpec(cfg: RunConfig | undefined, o: Overrides): ProcessSpec {
  const c = cfg ?? {};
  let entrypoint: string[];
  let cmd: string[];
  if (o.entrypoint !== undefined) {
    entrypoint = o.entrypoint === '' ? [] : [o.entrypoint];
    cmd = o.cmd;
  } else {
    entrypoint = c.Entrypoint ?? [];
    cmd = o.cmd.length > 0 ? o.cmd : c.Cmd ?? [];
  }
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new UsageError('No command specified');
  let env = mergeEnv([], c.Env ?? []);
  if (!env.some((e) => keyOf(e) === 'PATH')) env.unshift(DEFAULT_PATH);
  if (!env.some((e) => keyOf(e) === 'HOSTNAME')) env.unshift(`HOSTNAME=${o.hostname}`);
  if (o.tty && !env.some((e) => keyOf(e) === 'TERM')) env.push('TERM=xterm');
  env = mergeEnv(env, o.env);
  const cwd = o.workdir ?? (c.WorkingDir || '/');
  if (!cwd.startsWith('/')) throw new UsageError(`the working directory '${cwd}' is invalid, it needs to be an absolute path`);
  return { args, env, cwd, user: o.user ?? c.User ?? '' };
}
