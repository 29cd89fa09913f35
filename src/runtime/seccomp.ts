// Seccomp profiles: docker's JSON format read into one shape (the built-in default has the same
// shape, see seccomp-default.ts), and resolved for one container (its capabilities, this machine's
// architecture and kernel) into the rules file native/seccomp.c loads with libseccomp.
//
// Resolution follows docker: a rule whose `includes` name capabilities applies only when the
// container holds all of them, one whose `excludes` name a capability it holds is left out; arches
// are matched against the native one (docker's names: amd64, arm64...); `minKernel` against this
// kernel. Several conditions on the same argument become one rule each (libseccomp ANDs the
// conditions of one rule, docker means them as alternatives).
import { BaleError } from '../util/errors.js';
import { kernelVersion } from '../util/kernel.js';

/** An action as the rules file spells it: allow, errno:N, kill_thread, kill_process, trap, log, trace:N. */
export type Action = string;

export type Op = 'ne' | 'lt' | 'le' | 'eq' | 'ge' | 'gt' | 'masked_eq';

/** Argument `index` compared with `value` (for masked_eq: `arg & value == valueTwo`). */
export interface Cond {
  index: number;
  op: Op;
  value: number;
  valueTwo: number;
}

export interface Scope {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface Rule {
  names: string[];
  action: Action;
  args: Cond[];
  includes: Scope;
  excludes: Scope;
}

export interface Profile {
  defaultAction: Action;
  /** SCMP_ARCH_* names the filter covers (docker's older `architectures`). */
  architectures: string[];
  /** For each native arch, the others its processes can use (x86_64: x86 and x32). */
  archMap: { arch: string; sub: string[] }[];
  rules: Rule[];
}

// ---- docker's JSON format -----------------------------------------------------------------

const EPERM = 1;

const OPS: Record<string, Op> = {
  SCMP_CMP_NE: 'ne', SCMP_CMP_LT: 'lt', SCMP_CMP_LE: 'le', SCMP_CMP_EQ: 'eq',
  SCMP_CMP_GE: 'ge', SCMP_CMP_GT: 'gt', SCMP_CMP_MASKED_EQ: 'masked_eq',
};

type Json = Record<string, unknown>;

function fail(where: string, msg: string): never {
  throw new BaleError(`seccomp profile: ${where}: ${msg}`, { exitCode: 125 });
}

function obj(v: unknown, where: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'not an object');
  return v as Json;
}

function strings(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) fail(where, 'not a list of strings');
  return v as string[];
}

function uint(v: unknown, where: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(where, `not a whole number from 0 to ${max}`);
  return v;
}

function action(v: unknown, errnoRet: unknown, where: string): Action {
  const ret = errnoRet === undefined || errnoRet === null ? undefined : uint(errnoRet, `${where}.errnoRet`, 4095);
  switch (v) {
    case 'SCMP_ACT_ALLOW': return 'allow';
    case 'SCMP_ACT_ERRNO': return `errno:${ret ?? EPERM}`;
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD': return 'kill_thread';
    case 'SCMP_ACT_KILL_PROCESS': return 'kill_process';
    case 'SCMP_ACT_TRAP': return 'trap';
    case 'SCMP_ACT_LOG': return 'log';
    case 'SCMP_ACT_TRACE': return `trace:${ret ?? EPERM}`;
    default: fail(where, `unsupported action ${JSON.stringify(v)}`);
  }
}

function scope(v: unknown, where: string): Scope {
  if (v === undefined || v === null) return {};
  const o = obj(v, where);
  const s: Scope = { caps: strings(o['caps'], `${where}.caps`), arches: strings(o['arches'], `${where}.arches`) };
  if (o['minKernel'] !== undefined && o['minKernel'] !== '') {
    if (typeof o['minKernel'] !== 'string' || !/^\d+\.\d+/.test(o['minKernel'])) fail(`${where}.minKernel`, 'not a kernel version like 4.8');
    s.minKernel = o['minKernel'];
  }
  return s;
}

function cond(v: unknown, where: string): Cond {
  const o = obj(v, where);
  const op = OPS[String(o['op'])];
  if (!op) fail(`${where}.op`, `unknown comparison ${JSON.stringify(o['op'])}`);
  return {
    index: uint(o['index'], `${where}.index`, 5),
    op,
    value: uint(o['value'] ?? 0, `${where}.value`),
    valueTwo: uint(o['valueTwo'] ?? 0, `${where}.valueTwo`),
  };
}

/** Parse a profile in docker's format (what `--security-opt seccomp=FILE.json` names). */
export function parseDockerProfile(text: string): Profile {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    fail('JSON', (e as Error).message);
  }
  const o = obj(root, 'top level');
  const architectures = strings(o['architectures'], 'architectures');
  const rawMap = o['archMap'] ?? [];
  if (!Array.isArray(rawMap)) fail('archMap', 'not a list');
  const archMap = rawMap.map((a, i) => {
    const e = obj(a, `archMap[${i}]`);
    if (typeof e['architecture'] !== 'string') fail(`archMap[${i}].architecture`, 'not a string');
    return { arch: e['architecture'], sub: strings(e['subArchitectures'], `archMap[${i}].subArchitectures`) };
  });
  if (architectures.length && archMap.length) fail('top level', "use either 'architectures' or 'archMap', not both");
  const calls = o['syscalls'] ?? [];
  if (!Array.isArray(calls)) fail('syscalls', 'not a list');
  const rules = calls.map((c, i): Rule => {
    const w = `syscalls[${i}]`;
    const s = obj(c, w);
    if (s['name'] !== undefined && s['names'] !== undefined) fail(w, "use either 'name' or 'names', not both");
    const names = s['name'] !== undefined ? strings([s['name']], `${w}.name`) : strings(s['names'], `${w}.names`);
    for (const n of names) if (!/^[A-Za-z0-9_]+$/.test(n)) fail(`${w}.names`, `${JSON.stringify(n)} is not a system call name`);
    const args = s['args'] === undefined || s['args'] === null ? [] : s['args'];
    if (!Array.isArray(args)) fail(`${w}.args`, 'not a list');
    return {
      names,
      action: action(s['action'], s['errnoRet'], w),
      args: args.map((a, j) => cond(a, `${w}.args[${j}]`)),
      includes: scope(s['includes'], `${w}.includes`),
      excludes: scope(s['excludes'], `${w}.excludes`),
    };
  });
  return { defaultAction: action(o['defaultAction'], o['defaultErrnoRet'], 'defaultAction'), architectures, archMap, rules };
}

// ---- resolution for one container ------------------------------------------------------------

export interface Target {
  /** The capabilities the container holds (CAP_* names). */
  caps: string[];
  /** docker's name of the native architecture (amd64, arm64, ...) and libseccomp's (SCMP_ARCH_X86_64...). */
  arch: string;
  scmpArch: string;
  /** This kernel's version, major.minor. */
  kernel: [number, number];
}

const ARCHES: Record<string, [string, string]> = {
  x64: ['amd64', 'SCMP_ARCH_X86_64'],
  arm64: ['arm64', 'SCMP_ARCH_AARCH64'],
  ia32: ['x86', 'SCMP_ARCH_X86'],
  arm: ['arm', 'SCMP_ARCH_ARM'],
  s390x: ['s390x', 'SCMP_ARCH_S390X'],
  ppc64: ['ppc64le', 'SCMP_ARCH_PPC64LE'],
  riscv64: ['riscv64', 'SCMP_ARCH_RISCV64'],
};

/** This machine, for a container holding `caps`. */
export function hostTarget(caps: string[]): Target {
  const [arch, scmpArch] = ARCHES[process.arch] ?? [process.arch, `SCMP_ARCH_${process.arch.toUpperCase()}`];
  return { caps, arch, scmpArch, kernel: kernelVersion() };
}

function kernelAtLeast(have: [number, number], want: string): boolean {
  const [maj, min] = want.split('.').map(Number) as [number, number];
  return have[0] > maj || (have[0] === maj && have[1] >= (min || 0));
}

function applies(r: Rule, t: Target): boolean {
  const inc = r.includes;
  const exc = r.excludes;
  if (inc.caps?.length && !inc.caps.every((c) => t.caps.includes(c))) return false;
  if (inc.arches?.length && !inc.arches.includes(t.arch)) return false;
  if (inc.minKernel && !kernelAtLeast(t.kernel, inc.minKernel)) return false;
  if (exc.caps?.some((c) => t.caps.includes(c))) return false;
  if (exc.arches?.includes(t.arch)) return false;
  if (exc.minKernel && kernelAtLeast(t.kernel, exc.minKernel)) return false;
  return true;
}

/** SCMP_ARCH_X86_64 as libseccomp's resolver spells it: x86_64. */
function archName(scmp: string): string {
  return scmp.replace(/^SCMP_ARCH_/, '').toLowerCase();
}

/**
 * The rules file for one container: `default`, `arch` and `syscall` lines, tab-separated (the
 * format is documented at the top of native/seccomp.c). Each line is one libseccomp rule.
 */
export function rulesFile(p: Profile, t: Target): string {
  const arches = p.archMap.length ? p.archMap.filter((a) => a.arch === t.scmpArch).flatMap((a) => [a.arch, ...a.sub]) : p.architectures;
  const lines = [`default\t${p.defaultAction}`, ...[...new Set(arches)].map((a) => `arch\t${archName(a)}`)];
  const seen = new Set<string>();
  const add = (l: string) => {
    if (!seen.has(l)) lines.push(l);
    seen.add(l);
  };
  for (const r of p.rules) {
    if (!applies(r, t)) continue;
    const conds = r.args.map((c) => `${c.index}:${c.op}:${c.value}:${c.valueTwo}`);
    const sameArgTwice = new Set(r.args.map((c) => c.index)).size < r.args.length;
    for (const name of r.names) {
      if (sameArgTwice) for (const c of conds) add(`syscall\t${name}\t${r.action}\t${c}`);
      else add([`syscall`, name, r.action, ...conds].join('\t'));
    }
  }
  for (const l of lines) if (/[\n]/.test(l) || l.split('\t').some((f) => f === '' || /\s/.test(f))) throw new BaleError(`seccomp profile: bad value in ${JSON.stringify(l)}`, { exitCode: 125 });
  return lines.join('\n') + '\n';
}
