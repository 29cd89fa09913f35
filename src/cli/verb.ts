// What every verb module exports, and the option parsing they share.
import minimist from 'minimist';
import { UsageError } from '../util/errors.js';
import { helpOf, renderHelp, type Help } from './help.js';

export interface VerbModule {
  /**
   * The verb's help as data (usage, summary, options, notes): it renders --help, the man page and
   * the shell completion. A plain string in the old shape ("Usage: ...", "Options:" lines) is still
   * read, but completion and man pages only know what that text's parse finds.
   */
  help: Help | string;
  /** Runs the verb with its own arguments (after the verb). Returns the exit code. */
  run(args: string[]): Promise<number>;
}

export interface FlagSpec {
  boolean?: string[];
  string?: string[];
  /** Flags that may be given several times: collected into arrays. */
  multi?: string[];
  alias?: Record<string, string>;
  default?: Record<string, unknown>;
}

export interface Parsed {
  _: string[];
  [flag: string]: unknown;
}

/**
 * Parse flags with minimist, refusing unknown ones (a typo must not silently do something else).
 * `--help`/`-h` is always known.
 */
export function parseFlags(args: string[], spec: FlagSpec, verb: string): Parsed {
  const known = new Set<string>(['help', 'h']);
  for (const k of [...(spec.boolean ?? []), ...(spec.string ?? []), ...(spec.multi ?? [])]) known.add(k);
  for (const [a, b] of Object.entries(spec.alias ?? {})) {
    known.add(a);
    known.add(b);
  }
  const parsed = minimist(args, {
    boolean: [...(spec.boolean ?? []), 'help'],
    // '_': positionals stay as typed (an id such as 279301357e69 is not a number)
    string: [...(spec.string ?? []), ...(spec.multi ?? []), '_'],
    alias: { h: 'help', ...(spec.alias ?? {}) },
    default: spec.default ?? {},
    stopEarly: false,
    unknown: (arg: string) => {
      if (!arg.startsWith('-') || arg === '-') return true;
      const name = arg.replace(/^-+/, '').split('=')[0]!;
      if (known.has(name)) return true;
      throw new UsageError(`unknown flag ${arg.split('=')[0]} (see 'bale ${verb} --help')`);
    },
  }) as Parsed;
  // minimist reads `--no-x` as x=false; a flag declared as `no-x` means itself.
  for (const k of spec.boolean ?? []) {
    if (k.startsWith('no-') && parsed[k.slice(3)] === false) {
      parsed[k] = true;
      delete parsed[k.slice(3)];
    }
  }
  for (const k of spec.multi ?? []) {
    const v = parsed[k];
    parsed[k] = v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
  }
  for (const k of spec.string ?? []) {
    const v = parsed[k];
    if (Array.isArray(v)) parsed[k] = String(v[v.length - 1]);
  }
  parsed._ = parsed._.map(String);
  return parsed;
}

/** Parse flags for verbs whose trailing arguments are a command (`run IMAGE CMD...`): flags stop at the first positional. */
export function parseFlagsUntilCommand(args: string[], spec: FlagSpec, verb: string, positionalsBeforeCommand = 1): Parsed {
  // Split at the first positional so that `run img sh -c x` keeps `-c x` for the command.
  const valueFlags = new Set<string>([...(spec.string ?? []), ...(spec.multi ?? [])]);
  for (const [a, b] of Object.entries(spec.alias ?? {})) {
    if (valueFlags.has(b)) valueFlags.add(a);
    if (valueFlags.has(a)) valueFlags.add(b);
  }
  let i = 0;
  let positionals = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const name = a.replace(/^-+/, '');
      if (!a.includes('=') && valueFlags.has(name)) i++;
      continue;
    }
    positionals++;
    if (positionals === positionalsBeforeCommand) {
      i++;
      break;
    }
  }
  const parsed = parseFlags(args.slice(0, i).filter((a) => a !== '--'), spec, verb);
  parsed._ = [...parsed._, ...args.slice(i)];
  return parsed;
}

export function wantsHelp(p: Parsed, help: Help | string): boolean {
  if (p['help']) {
    process.stdout.write(renderHelp(helpOf(help)));
    return true;
  }
  return false;
}

export function needArgs(p: Parsed, min: number, max: number, verb: string): void {
  if (p._.length < min || p._.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new UsageError(`needs ${want} argument${max === 1 ? '' : 's'}, got ${p._.length} (see 'bale ${verb} --help')`);
  }
}
