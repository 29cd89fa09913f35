// bale's entry point: find the verb, load only its module, run it, map errors to exit codes.
import { BaleError, UsageError } from '../util/errors.js';
import { printError } from './output.js';
import type { VerbModule } from './verb.js';
import { renderHelp, type Help } from './help.js';
import { style } from './output.js';

/**
 * Every verb, with the line `bale --help` shows. Modules live in ./verbs/<name>.js, loaded on use.
 * A new verb: add it here (or to GROUPS for a two-word name), export `help: Help` from its module
 * (usage, summary, options with `arg`/`values`, `operands` for completion; a plain help string
 * still works but completes less), and list `./dist/man/bale-VERB.1` in package.json's `man`
 * (test/cli-docs.test.ts fails until it is). --help, the man page and completion then follow.
 */
export const VERBS: Record<string, string> = {
  load: 'Load images from an archive (docker, podman, skopeo, OCI; plain, gzip or zstd layers)',
  save: 'Save images to an archive that docker, podman and skopeo can load',
  verify: 'Check every digest and size of an archive or image directory, without loading it',
  push: 'Push an image to a registry',
  pull: 'Pull an image from a registry',
  login: 'Log in to a registry (stored in docker\'s config.json)',
  logout: 'Log out from a registry',
  images: 'List images',
  inspect: 'Show an image\'s (or container\'s) details as JSON',
  history: 'Show the history of an image',
  tag: 'Add a tag to an image',
  rmi: 'Remove images',
  gc: 'Remove blobs, layers and temp files nothing uses',
  fsck: 'Re-hash the store and report damaged blobs',
  import: 'Create an image from a tar or a directory',
  export: 'Write a container\'s (or image\'s) filesystem as one flat tar',
  squash: 'Flatten an image into one layer, keeping its config and history',
  commit: 'Create an image from a container\'s changes',
  build: 'Build an image from a Dockerfile, offline, with a layer cache',
  diff: 'List the files a container added (A), changed (C) or deleted (D)',
  run: 'Run a command in a new container',
  create: 'Create a container',
  start: 'Start a created or stopped container',
  exec: 'Run a command in a running container',
  ps: 'List containers',
  stop: 'Stop running containers',
  kill: 'Send a signal to running containers',
  rm: 'Remove containers',
  logs: 'Show a container\'s output',
  port: 'List a container\'s published ports',
  pause: 'Pause all processes within containers',
  unpause: 'Unpause all processes within containers',
  stats: 'Show containers\' CPU, memory and process counts',
  volume: 'Manage volumes (create, ls, inspect, rm, prune)',
  image: 'Manage images: prune, and the image verbs by docker\'s longer names (image ls, image rm...)',
  container: 'Manage containers: prune, and the container verbs by docker\'s longer names (container ls...)',
  completion: 'Print a shell completion script (bash, zsh or fish)',
};

/**
 * docker's two-word verbs: `bale image prune` runs ./verbs/image-prune.js, `bale image ls` the
 * `images` verb. Each entry: subverb → module, and the module's one line for help and man pages.
 */
export const GROUPS: Record<string, Record<string, [module: string, summary: string]>> = {
  image: {
    prune: ['image-prune', 'Remove dangling images (-a: all images no container uses)'],
    ls: ['images', VERBS['images']!],
    rm: ['rmi', VERBS['rmi']!],
    inspect: ['inspect', VERBS['inspect']!],
    history: ['history', VERBS['history']!],
    tag: ['tag', VERBS['tag']!],
    save: ['save', VERBS['save']!],
    load: ['load', VERBS['load']!],
    import: ['import', VERBS['import']!],
  },
  container: {
    prune: ['container-prune', 'Remove all stopped containers'],
    ls: ['ps', VERBS['ps']!],
    rm: ['rm', VERBS['rm']!],
    create: ['create', VERBS['create']!],
    run: ['run', VERBS['run']!],
    start: ['start', VERBS['start']!],
    stop: ['stop', VERBS['stop']!],
    kill: ['kill', VERBS['kill']!],
    exec: ['exec', VERBS['exec']!],
    logs: ['logs', VERBS['logs']!],
    port: ['port', VERBS['port']!],
    inspect: ['inspect', VERBS['inspect']!],
    commit: ['commit', VERBS['commit']!],
    diff: ['diff', VERBS['diff']!],
    export: ['export', VERBS['export']!],
  },
};

const ALIASES: Record<string, string> = { ls: 'images', list: 'images' };

/** The help of a group verb (`bale image`), as data like every verb's. */
export function groupHelp(group: string): Help {
  const subs = Object.entries(GROUPS[group]!);
  const width = Math.max(...subs.map(([s]) => s.length));
  return {
    usage: `bale ${group} SUBVERB [OPTIONS] [ARGS]`,
    summary: `${VERBS[group]}.\n\nSubverbs:\n${subs.map(([s, [, line]]) => `  ${s.padEnd(width)}  ${line}`).join('\n')}`,
    options: [],
    notes: `Run 'bale ${group} SUBVERB --help' for a subverb's options.`,
  };
}

/** Load a verb's module: a top-level verb, or `image prune` style (group, subverb). */
export async function verbModule(verb: string, sub?: string): Promise<VerbModule | undefined> {
  const name = GROUPS[verb] ? GROUPS[verb]![sub ?? '']?.[0] : VERBS[verb] ? verb : undefined;
  return name ? ((await import(`./verbs/${name}.js`)) as VerbModule) : undefined;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(VERBS).map((v) => v.length));
  const lines = Object.entries(VERBS).map(([v, s]) => `  ${v.padEnd(width)}  ${s}`);
  return [
    `${style.bold('Usage:')} bale VERB [OPTIONS] [ARGS]`,
    '',
    'Container images on hosts with no registry.',
    '',
    style.bold('Verbs:'),
    ...lines,
    '',
    'Store: $BALE_ROOT, else /var/lib/bale (root) or $XDG_DATA_HOME/bale.',
    "Run 'bale VERB --help' for a verb's options.",
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    if (first === 'help' && rest[0] && VERBS[rest[0]]) return main([...rest.slice(0, GROUPS[rest[0]] && rest[1] ? 2 : 1), '--help']);
    process.stdout.write(mainHelp());
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`bale ${pkg.version}\n`);
    return 0;
  }
  if (first === '__complete') return (await import('./completion.js')).completeNames(rest[0] ?? '');
  const verb = ALIASES[first] ?? first;
  if (!VERBS[verb]) {
    process.stderr.write(`bale: unknown verb ${JSON.stringify(first)} (see 'bale --help')\n`);
    return 2;
  }
  if (GROUPS[verb]) {
    const [sub, ...subArgs] = rest;
    if (sub === undefined || sub === '--help' || sub === '-h') {
      process.stdout.write(renderHelp(groupHelp(verb)));
      return sub === undefined ? 2 : 0;
    }
    const mod = await verbModule(verb, sub);
    if (!mod) {
      process.stderr.write(`bale: unknown verb ${JSON.stringify(`${verb} ${sub}`)} (see 'bale ${verb} --help')\n`);
      return 2;
    }
    return mod.run(subArgs);
  }
  return (await verbModule(verb))!.run(rest);
}

/**
 * Verbs that run a container answer with its exit code, so bale's own failures there (a bad flag,
 * no such image, a mount that failed) exit 125 as docker's and podman's do; 126 and 127 (the command
 * cannot run) come from inside the container, as its exit code.
 */
const CONTAINER_VERBS = new Set(['run', 'create', 'start', 'exec']);

/** The exit code for an error that ended `verb`. */
export function exitCode(verb: string | undefined, err: unknown): number {
  if (err instanceof BaleError && err.exitCode !== undefined) return err.exitCode;
  if (verb !== undefined && CONTAINER_VERBS.has(verb)) return 125;
  return err instanceof UsageError ? 2 : 1;
}

/** What runs on the host even for a normal user: help, version and completion touch no store. */
const HOST_ONLY = new Set(['--help', '-h', 'help', '--version', '-v', 'version', '__complete', 'completion']);

/**
 * Verbs (by module) that a normal user's bale runs on the host, without the user namespace: they
 * read and write only the store's own files (blobs, image records, tags, container records, locks),
 * which are the user's whichever side writes them (the namespace's uid 0 is the user), and never
 * an unpacked layer, a container's layers or its processes. Layers are unpacked (with their owners
 * from the range) on their first use inside, so an image loaded here runs there. Every other verb
 * enters: those that unpack, mount or read layers back (run, create, export, squash, commit, diff,
 * build, import of a directory), touch containers' processes or files (start, exec, stop, kill,
 * rm, ps and logs, whose state check may remove a --rm container), remove layers (gc, prunes of
 * containers) or volumes a container wrote to. `inspect` of a container only reads its record and
 * /proc, as on the host.
 */
const HOST_VERBS = new Set(['load', 'save', 'verify', 'push', 'pull', 'login', 'logout', 'images', 'inspect', 'history', 'tag', 'rmi', 'fsck', 'image-prune']);

/** Whether `argv` runs on the host for a normal user (see HOST_VERBS). */
export function runsOnHost(argv: string[]): boolean {
  const [first, sub] = argv;
  if (first === undefined || HOST_ONLY.has(first) || argv.includes('--help')) return true;
  const verb = ALIASES[first] ?? first;
  const mod = GROUPS[verb] ? GROUPS[verb]![sub ?? '']?.[0] : verb;
  return mod === undefined || !VERBS[verb] || HOST_VERBS.has(mod);
}

/**
 * A normal user's bale runs the verbs that need it as root of its store's user namespace
 * (runtime/rootless.ts), so layers keep their owners and containers run; true once that bale has
 * run and set the exit code. Where the host allows no user namespace, bale runs here as before
 * and `run` says what is missing.
 */
async function enterUserNamespace(argv: string[]): Promise<boolean> {
  if (process.getuid?.() === 0 || runsOnHost(argv)) return false;
  const rootless = await import('../runtime/rootless.js');
  if (process.env[rootless.USERNS_ENV] || rootless.rootlessMissing()) return false;
  const { defaultRoot } = await import('../store/paths.js');
  process.exitCode = await rootless.reexecInUserNamespace(argv, defaultRoot());
  return true;
}

export async function cli(): Promise<void> {
  // A closed pipe downstream (`bale save | head`) is not an error worth a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(141);
  });
  const argv = process.argv.slice(2);
  try {
    if (await enterUserNamespace(argv)) return;
    process.exitCode = await main(argv);
  } catch (err) {
    const code = exitCode(ALIASES[argv[0]!] ?? argv[0], err);
    printError(err);
    process.exitCode = code;
  }
}
