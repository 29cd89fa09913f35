// bale ps: list containers, with their state made honest first.
import { Store } from '../../store/store.js';
import { repairAll } from '../../runtime/lifecycle.js';
import { damagedContainers, type ContainerRecord } from '../../runtime/container.js';
import { psCommand } from '../command-text.js';
import { portText } from '../../runtime/ports.js';
import { CONTAINER_FILTERS, containerFilter, filtersWantAll } from '../../runtime/filter.js';
import { parseFilters } from '../../util/filters.js';
import { goTime, humanAge, humanDuration } from '../output.js';
import { FORMAT_HELP, printRows, type Listing } from '../format.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale ps [OPTIONS]',
  summary: 'List containers (running ones; -a for all).',
  options: [
    { flags: '-a, --all', text: 'Show all containers, not just running ones' },
    { flags: '-q, --quiet', text: 'Only show container ids' },
    { flags: '--no-trunc', text: 'Do not truncate ids and commands' },
    { flags: '-f, --filter', arg: 'FILTER', text: 'id=, name=REGEXP, label=KEY[=VALUE], status=running|exited|created, exited=CODE, ancestor=IMAGE, before=, since=', values: ['id=', 'name=', 'label=', 'status=running', 'status=exited', 'status=created', 'exited=', 'ancestor=', 'before=', 'since='] },
    { flags: '--format', arg: 'FORMAT', text: FORMAT_HELP, values: ['table', 'json'] },
  ],
  notes: `Template fields: .ID .Image .Command .CreatedAt .RunningFor .Status .State .Names .Ports .Labels
.Mounts .Networks .LocalVolumes .Size, and bale's .ExitCode .Pid`,
};

export function statusText(c: ContainerRecord, now = Date.now()): string {
  switch (c.state.status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(c.state.startedAt ?? c.created))}${c.state.paused ? ' (Paused)' : ''}`;
    case 'exited':
      return `Exited (${c.state.exitCode ?? 'unknown'}) ${humanAge(c.state.finishedAt, now)}`;
    default:
      return 'Created';
  }
}

const LISTING: Listing = {
  table: 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}',
  headers: {
    Command: 'COMMAND', CreatedAt: 'CREATED AT', ExitCode: 'EXIT CODE', ID: 'CONTAINER ID', Image: 'IMAGE', Labels: 'LABELS', LocalVolumes: 'LOCAL VOLUMES',
    Mounts: 'MOUNTS', Names: 'NAMES', Networks: 'NETWORKS', Pid: 'PID', Ports: 'PORTS', RunningFor: 'CREATED', Size: 'SIZE', State: 'STATE', Status: 'STATUS',
  },
};

/** A container as docker's formatter shows it (strings), plus bale's ExitCode and Pid. */
function shown(c: ContainerRecord, trunc: boolean) {
  const labels = (c as { labels?: Record<string, string> }).labels ?? {};
  return {
    Command: psCommand(c.process.args, trunc),
    CreatedAt: goTime(c.created),
    ExitCode: c.state.exitCode ?? null,
    ID: trunc ? c.id.slice(0, 12) : c.id,
    Image: c.imageRef,
    Labels: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','),
    LocalVolumes: '0',
    Mounts: '',
    Names: c.name,
    Networks: c.net,
    Pid: c.state.status === 'running' ? (c.state.pid ?? null) : null,
    Ports: c.state.status === 'running' ? (c.state.ports ?? []).map(portText).join(', ') : '',
    RunningFor: humanAge(c.created),
    Size: '0B',
    State: c.state.paused ? 'paused' : c.state.status,
    Status: statusText(c),
  };
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(
    args,
    { boolean: ['all', 'quiet', 'no-trunc', 'trunc'], string: ['format'], multi: ['filter'], alias: { a: 'all', q: 'quiet', f: 'filter' }, default: { trunc: true } },
    'ps',
  );
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 0, 'ps');
  const filters = parseFilters(p['filter'] as string[], CONTAINER_FILTERS, 'ps');
  const store = await Store.open();
  const all = await repairAll(store);
  for (const id of await damagedContainers(store)) {
    process.stderr.write(`warning: container ${id.slice(0, 12)} has a damaged record and is not listed: bale rm ${id.slice(0, 12)} removes it\n`);
  }
  const match = await containerFilter(store, filters);
  const wantAll = Boolean(p['all']) || filtersWantAll(filters);
  const rows = all.filter((c) => (wantAll || c.state.status === 'running') && match(c));
  // minimist reads --no-trunc as trunc=false
  const trunc = p['trunc'] !== false && !p['no-trunc'];
  if (p['quiet']) {
    process.stdout.write(rows.map((c) => (trunc ? c.id.slice(0, 12) : c.id) + '\n').join(''));
    return 0;
  }
  printRows(rows.map((c) => shown(c, trunc)), p['format'] as string | undefined, LISTING);
  return 0;
}
