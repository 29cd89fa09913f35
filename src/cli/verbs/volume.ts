// bale volume create|ls|inspect|rm|prune: named volumes in the store.
import { Store } from '../../store/store.js';
import {
  createVolume,
  listVolumes,
  mustGetVolume,
  pruneVolumes,
  removeVolume,
  validVolumeName,
  volumeDataDir,
  volumeUsers,
  type VolumeRecord,
} from '../../store/volumes.js';
import { repairAll } from '../../runtime/lifecycle.js';
import { UsageError } from '../../util/errors.js';
import { humanSize, outputFormat, printJson, printTable } from '../output.js';
import { renderTemplate } from '../template.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';

export const help = `Usage: bale volume COMMAND

Manage volumes: directories in the store that containers mount with -v NAME:/path and that outlive
them. A new volume gets the image's files at its mount point on first use.

Commands:
  create [--label K=V] [NAME]          Create a volume (a random name if none); prints its name
  ls [-q] [-f FILTER] [--format json]  List volumes (filters: dangling=true|false, name=TEXT)
  inspect [-f TEMPLATE] NAME...        Show volumes as a JSON array
  rm [-f] NAME...                      Remove volumes (refused while a container uses one)
  prune [-a] [-f]                      Remove unused anonymous volumes (-a: all unused ones)

Run 'bale volume COMMAND --help' for more on a command.
`;

const HELP: Record<string, string> = {
  create: `Usage: bale volume create [OPTIONS] [NAME]

Create a volume; prints its name. An existing volume of that name is left as it is.

Options:
  -d, --driver NAME   Only "local"
  -l, --label K=V     Set a label; repeatable
`,
  ls: `Usage: bale volume ls [OPTIONS]

List volumes.

Options:
  -f, --filter K=V     dangling=true|false (used by no container or not), name=SUBSTRING; repeatable
  -q, --quiet          Only show volume names
      --format FORMAT  table (default) or json (one JSON object per line)
`,
  inspect: `Usage: bale volume inspect [OPTIONS] VOLUME [VOLUME...]

Show volumes as a JSON array (CreatedAt, Driver, Labels, Mountpoint, Name, Options, Scope).

Options:
  -f, --format T   Print each volume through a template, e.g. {{.Mountpoint}}
`,
  rm: `Usage: bale volume rm [OPTIONS] VOLUME [VOLUME...]

Remove volumes and their content. A volume any container (running or not) uses is refused.

Options:
  -f, --force   Do not complain about volumes that do not exist
`,
  prune: `Usage: bale volume prune [OPTIONS]

Remove anonymous volumes no container uses (named ones too with -a).

Options:
  -a, --all     Remove all unused volumes, not just anonymous ones
  -f, --force   Do not prompt for confirmation (bale never prompts)
`,
};

function details(store: Store, v: VolumeRecord) {
  return {
    CreatedAt: v.CreatedAt,
    Driver: 'local',
    Labels: v.Labels,
    Mountpoint: volumeDataDir(store, v.Name),
    Name: v.Name,
    Options: null,
    Scope: 'local',
  };
}

function labels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf('=');
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return out;
}

async function create(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['driver'], multi: ['label'], alias: { d: 'driver', l: 'label' } }, 'volume create');
  if (wantsHelp(p, HELP['create']!)) return 0;
  needArgs(p, 0, 1, 'volume create');
  if (p['driver'] !== undefined && p['driver'] !== 'local') throw new UsageError(`bale volume create: only the "local" driver exists, not ${JSON.stringify(p['driver'])}`);
  const name = p._[0];
  if (name !== undefined && !validVolumeName(name)) {
    throw new UsageError(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  const store = await Store.open();
  const v = await createVolume(store, name, { labels: labels(p['label'] as string[]) });
  process.stdout.write(v.Name + '\n');
  return 0;
}

async function ls(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['quiet'], string: ['format'], multi: ['filter'], alias: { q: 'quiet', f: 'filter' } }, 'volume ls');
  if (wantsHelp(p, HELP['ls']!)) return 0;
  needArgs(p, 0, 0, 'volume ls');
  const format = outputFormat(p['format'], 'volume ls');
  const store = await Store.open();
  let all = await listVolumes(store);
  for (const f of p['filter'] as string[]) {
    const [k, v] = [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
    if (k === 'name') all = all.filter((x) => x.Name.includes(v));
    else if (k === 'dangling' && ['true', 'false', '1', '0'].includes(v)) {
      const used = await volumeUsers(store);
      const want = v === 'true' || v === '1';
      all = all.filter((x) => !used.has(x.Name) === want);
    } else throw new UsageError(`bale volume ls: invalid filter '${f}' (dangling=true|false, name=SUBSTRING)`);
  }
  if (p['quiet']) {
    for (const v of all) process.stdout.write(v.Name + '\n');
  } else if (format === 'json') {
    for (const v of all) {
      const d = details(store, v);
      const lbl = Object.entries(v.Labels).map(([k, x]) => `${k}=${x}`).join(',');
      process.stdout.write(JSON.stringify({ Driver: d.Driver, Labels: lbl, Mountpoint: d.Mountpoint, Name: d.Name, Scope: d.Scope }) + '\n');
    }
  } else printTable(['DRIVER', 'VOLUME NAME'], all.map((v) => ['local', v.Name]));
  return 0;
}

async function inspect(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['format'], alias: { f: 'format' } }, 'volume inspect');
  if (wantsHelp(p, HELP['inspect']!)) return 0;
  needArgs(p, 1, Infinity, 'volume inspect');
  const store = await Store.open();
  const out: unknown[] = [];
  const errors: string[] = [];
  for (const n of p._) {
    try {
      out.push(details(store, await mustGetVolume(store, n)));
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const tpl = p['format'] as string | undefined;
  if (tpl && tpl !== 'json') for (const o of out) process.stdout.write(renderTemplate(tpl, o) + '\n');
  else printJson(out);
  for (const e of errors) process.stderr.write(`bale: ${e}\n`);
  return errors.length ? 1 : 0;
}

async function rm(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['force'], alias: { f: 'force' } }, 'volume rm');
  if (wantsHelp(p, HELP['rm']!)) return 0;
  needArgs(p, 1, Infinity, 'volume rm');
  const store = await Store.open();
  await repairAll(store); // an --rm container whose bale was killed goes first, freeing its volumes
  let failed = 0;
  for (const n of p._) {
    try {
      if (p['force'] && !(await listVolumes(store)).some((v) => v.Name === n)) continue;
      await removeVolume(store, n);
      process.stdout.write(n + '\n');
    } catch (e) {
      failed++;
      process.stderr.write(`bale: ${(e as Error).message.split('\n')[0]}\n`);
    }
  }
  return failed ? 1 : 0;
}

async function prune(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['all', 'force'], alias: { a: 'all', f: 'force' } }, 'volume prune');
  if (wantsHelp(p, HELP['prune']!)) return 0;
  needArgs(p, 0, 0, 'volume prune');
  const store = await Store.open();
  await repairAll(store);
  const r = await pruneVolumes(store, Boolean(p['all']));
  if (r.names.length) process.stdout.write(`Deleted Volumes:\n${r.names.join('\n')}\n\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(r.bytes)}\n`);
  return 0;
}

const SUB: Record<string, (args: string[]) => Promise<number>> = { create, ls, list: ls, inspect, rm, remove: rm, prune };

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(help);
    return sub === undefined ? 2 : 0;
  }
  const fn = SUB[sub];
  if (!fn) throw new UsageError(`unknown command ${JSON.stringify(sub)} (see 'bale volume --help')`);
  return fn(rest);
}
