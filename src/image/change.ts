// `--change` instructions (the Dockerfile subset docker import/commit accept) applied to a run config.
//
//   CMD ["a","b"] | CMD a b            exec form, or shell form → [...Shell or /bin/sh -c, "a b"]
//   ENTRYPOINT (same two forms)        resets an inherited CMD unless a CMD came before it
//   ENV K=V K2="v 2" | ENV K v w       $VAR and ${VAR} expand from the Env so far
//   LABEL k=v "k 2"="v 2"
//   EXPOSE 80 80/tcp 53/udp 8000-8002/tcp
//   USER name[:group]   WORKDIR path (relative to the previous one)   STOPSIGNAL SIGTERM|15
//   VOLUME ["/a","/b"] | VOLUME /a /b
//   ONBUILD INSTRUCTION ...
//   HEALTHCHECK NONE | HEALTHCHECK [--interval=D --timeout=D --start-period=D --start-interval=D --retries=N] CMD ...
import path from 'node:path';
import type { RunConfig } from '../oci/types.js';
import { UsageError } from '../util/errors.js';

export const CHANGE_INSTRUCTIONS = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

/** A malformed instruction: `why` says what is wrong, without naming where it came from. */
export class ChangeError extends UsageError {
  constructor(readonly line: string, readonly why: string) {
    super(`--change ${JSON.stringify(line)}: ${why}`);
    this.name = 'ChangeError';
  }
}

function bad(line: string, why: string): ChangeError {
  return new ChangeError(line, why);
}

/** The exec form `["a","b"]`, if `rest` is one. */
function jsonForm(rest: string): string[] | undefined {
  if (!rest.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(rest) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // not JSON: docker then treats the whole line as shell form
  }
  return undefined;
}

function envLookup(env: string[], name: string): string {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i]!;
    const eq = e.indexOf('=');
    if (eq >= 0 && e.slice(0, eq) === name) return e.slice(eq + 1);
  }
  return '';
}

/**
 * Split into words the way a Dockerfile line is: whitespace separates, '…' is literal, "…" and bare
 * text expand $VAR / ${VAR} / ${VAR:-default} / ${VAR:+alt}, and a backslash escapes the next char.
 */
export function shellWords(s: string, env: string[], line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const expand = (): string => {
    // at s[i] === '$'
    i++;
    if (s[i] === '{') {
      const end = s.indexOf('}', i);
      if (end < 0) throw bad(line, 'missing } in variable');
      const body = s.slice(i + 1, end);
      i = end + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])(.*))?$/.exec(body);
      if (!m) throw bad(line, `bad variable \${${body}}`);
      const v = envLookup(env, m[1]!);
      if (m[2] === '-') return v !== '' ? v : m[3]!;
      if (m[2] === '+') return v !== '' ? m[3]! : '';
      return v;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
    if (!m) return '$';
    i += m[0].length;
    return envLookup(env, m[0]);
  };
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw bad(line, 'unmatched single quote');
      cur += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length && '"\\$'.includes(s[i + 1]!)) {
          cur += s[i + 1];
          i += 2;
        } else if (s[i] === '$') cur += expand();
        else cur += s[i++];
      }
      if (i >= s.length) throw bad(line, 'unmatched double quote');
      i++;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[i + 1];
      i += 2;
    } else if (c === '$') {
      cur += expand();
    } else {
      cur += c;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** `K=V K2=V2` or the legacy `K value with spaces` (ENV and LABEL). */
function nameValues(rest: string, env: string[], line: string, what: string): [string, string][] {
  const words = shellWords(rest, env, line);
  if (words.length === 0) throw bad(line, `${what} needs at least one argument`);
  if (!words[0]!.includes('=')) {
    // legacy form: first word is the name, the rest of the line (as written) the value
    const m = /^\S+\s+([\s\S]*)$/.exec(rest.trim());
    if (!m) throw bad(line, `${what} ${words[0]} needs a value`);
    const value = shellWords(m[1]!, env, line).join(' ');
    return [[words[0]!, value]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw bad(line, `${what} wants NAME=VALUE pairs, got ${JSON.stringify(w)}`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

function setEnv(env: string[], name: string, value: string): string[] {
  const at = env.findIndex((e) => e.split('=')[0] === name);
  const copy = [...env];
  if (at >= 0) copy[at] = `${name}=${value}`;
  else copy.push(`${name}=${value}`);
  return copy;
}

function ports(words: string[], line: string): string[] {
  const out: string[] = [];
  for (const w of words) {
    const m = /^(?:[0-9.]+:)?(?:[0-9]*:)?(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
    if (!m) throw bad(line, `invalid port ${JSON.stringify(w)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || hi < lo) throw bad(line, `invalid port range ${JSON.stringify(w)}`);
    if (hi - lo > 65535) throw bad(line, 'port range too large');
    const proto = (m[3] ?? 'tcp').toLowerCase();
    for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/** Go-style durations docker's HEALTHCHECK flags take: 30s, 1m30s, 500ms, 1h. Returns nanoseconds. */
export function parseDuration(s: string, line: string): number {
  const unit: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unit[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length || s.length === 0) throw bad(line, `invalid duration ${JSON.stringify(s)}`);
  return Math.round(total);
}

function healthcheck(rest: string, cfg: RunConfig, line: string): unknown {
  const trimmed = rest.trim();
  if (/^none$/i.test(trimmed)) return { Test: ['NONE'] };
  let r = trimmed;
  const hc: Record<string, unknown> = {};
  for (;;) {
    const m = /^--([a-z-]+)=(\S+)\s*/.exec(r);
    if (!m) break;
    r = r.slice(m[0].length);
    switch (m[1]) {
      case 'interval':
        hc['Interval'] = parseDuration(m[2]!, line);
        break;
      case 'timeout':
        hc['Timeout'] = parseDuration(m[2]!, line);
        break;
      case 'start-period':
        hc['StartPeriod'] = parseDuration(m[2]!, line);
        break;
      case 'start-interval':
        hc['StartInterval'] = parseDuration(m[2]!, line);
        break;
      case 'retries': {
        const n = Number(m[2]);
        if (!Number.isInteger(n) || n < 0) throw bad(line, `invalid --retries ${JSON.stringify(m[2])}`);
        hc['Retries'] = n;
        break;
      }
      default:
        throw bad(line, `unknown HEALTHCHECK flag --${m[1]}`);
    }
  }
  const c = /^cmd\s+([\s\S]+)$/i.exec(r);
  if (!c) throw bad(line, 'HEALTHCHECK wants NONE or [flags] CMD command');
  const exec = jsonForm(c[1]!.trim());
  const test = exec ? ['CMD', ...exec] : ['CMD-SHELL', c[1]!.trim()];
  void cfg;
  return { Test: test, ...hc };
}

function signalOk(s: string): boolean {
  if (/^\d+$/.test(s)) return Number(s) > 0 && Number(s) <= 64;
  return /^(SIG)?(HUP|INT|QUIT|ILL|TRAP|ABRT|IOT|BUS|FPE|KILL|USR1|SEGV|USR2|PIPE|ALRM|TERM|STKFLT|CHLD|CONT|STOP|TSTP|TTIN|TTOU|URG|XCPU|XFSZ|VTALRM|PROF|WINCH|IO|POLL|PWR|SYS|RTMIN(\+\d+)?|RTMAX(-\d+)?)$/i.test(s);
}

export interface InstructionOptions {
  /** What $VAR expands from (default: the config's Env); a build adds its ARGs before the Env. */
  expandEnv?: string[];
  /** Whether CMD was set before (an ENTRYPOINT then keeps it; otherwise it resets Cmd). */
  cmdSet?: boolean;
}

/**
 * Apply one instruction (`instr` upper case, `rest` its arguments) to `cfg`, in place. Malformed
 * arguments are a ChangeError naming `line`.
 */
export function applyInstruction(cfg: RunConfig, instr: string, rest: string, line: string, o: InstructionOptions = {}): void {
  if (!CHANGE_INSTRUCTIONS.includes(instr)) {
    throw bad(line, `${instr} is not an instruction --change accepts (${CHANGE_INSTRUCTIONS.join(', ')})`);
  }
  const env = o.expandEnv ?? cfg.Env ?? [];
  const shell = cfg.Shell && cfg.Shell.length ? cfg.Shell : ['/bin/sh', '-c'];
  switch (instr) {
    case 'CMD':
    case 'ENTRYPOINT': {
      const exec = jsonForm(rest);
      let v: string[] | null;
      if (exec) v = exec;
      else if (rest === '') v = instr === 'CMD' ? null : [];
      else v = [...shell, rest];
      if (instr === 'CMD') cfg.Cmd = v;
      else {
        cfg.Entrypoint = v && v.length ? v : null;
        if (!o.cmdSet) cfg.Cmd = null;
      }
      break;
    }
    case 'ENV': {
      let e = cfg.Env ?? [];
      // every value expands from the environment before this line, as docker does
      for (const [k, v] of nameValues(rest, env, line, 'ENV')) e = setEnv(e, k, v);
      cfg.Env = e;
      break;
    }
    case 'LABEL': {
      const labels = { ...(cfg.Labels ?? {}) };
      for (const [k, v] of nameValues(rest, env, line, 'LABEL')) labels[k] = v;
      cfg.Labels = labels;
      break;
    }
    case 'EXPOSE': {
      const words = shellWords(rest, env, line);
      if (words.length === 0) throw bad(line, 'EXPOSE needs at least one port');
      const ep = { ...(cfg.ExposedPorts ?? {}) };
      for (const p of ports(words, line)) ep[p] = {};
      cfg.ExposedPorts = ep;
      break;
    }
    case 'USER': {
      const words = shellWords(rest, env, line);
      if (words.length !== 1) throw bad(line, 'USER takes exactly one argument (user[:group])');
      cfg.User = words[0]!;
      break;
    }
    case 'VOLUME': {
      const list = jsonForm(rest) ?? shellWords(rest, env, line);
      if (list.length === 0 || list.some((v) => v.trim() === '')) throw bad(line, 'VOLUME needs at least one non-empty path');
      const vols = { ...(cfg.Volumes ?? {}) };
      for (const v of list) vols[v] = {};
      cfg.Volumes = vols;
      break;
    }
    case 'WORKDIR': {
      const words = shellWords(rest, env, line);
      if (words.length !== 1) throw bad(line, 'WORKDIR takes exactly one path');
      const w = words[0]!;
      cfg.WorkingDir = path.posix.isAbsolute(w) ? path.posix.normalize(w) : path.posix.join('/', cfg.WorkingDir || '/', w);
      break;
    }
    case 'STOPSIGNAL': {
      const words = shellWords(rest, env, line);
      if (words.length !== 1 || !signalOk(words[0]!)) throw bad(line, 'STOPSIGNAL wants one signal name or number');
      cfg.StopSignal = words[0]!;
      break;
    }
    case 'ONBUILD': {
      const inner = /^(\S+)/.exec(rest);
      if (!inner) throw bad(line, 'ONBUILD needs an instruction');
      const name = inner[1]!.toUpperCase();
      if (name === 'ONBUILD' || name === 'FROM' || name === 'MAINTAINER') throw bad(line, `ONBUILD ${name} is not allowed`);
      cfg.OnBuild = [...(cfg.OnBuild ?? []), `${name}${rest.slice(inner[1]!.length)}`];
      break;
    }
    case 'HEALTHCHECK':
      cfg.Healthcheck = healthcheck(rest, cfg, line);
      break;
  }
}

/**
 * Apply `changes` (each may hold several lines) to a copy of `base` and return it. Unknown or
 * malformed instructions are a UsageError naming the line.
 */
export function applyChanges(base: RunConfig, changes: string[]): RunConfig {
  const cfg: RunConfig = JSON.parse(JSON.stringify(base ?? {})) as RunConfig;
  let cmdSet = false;
  const lines = changes.flatMap((c) => c.split('\n')).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const line of lines) {
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(line)!;
    const instr = m[1]!.toUpperCase();
    if (!CHANGE_INSTRUCTIONS.includes(instr)) {
      throw bad(line, `${m[1]} is not an instruction --change accepts (${CHANGE_INSTRUCTIONS.join(', ')})`);
    }
    applyInstruction(cfg, instr, (m[2] ?? '').trim(), line, { cmdSet });
    if (instr === 'CMD') cmdSet = true;
  }
  return cfg;
}
