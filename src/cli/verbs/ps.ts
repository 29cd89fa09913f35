// bale ps: list containers, with their state made honest first.
import { Store } from '../../store/store.js';
import type { ContainerRecord } from '../../runtime/container.js';
import { repairAll } from '../../runtime/lifecycle.js';
import { psCommand } from '../command-text.js';
import { humanAge, outputFormat, printTable } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';

export const help = `Usage: bale ps [OPTIONS]

List containers (running ones; -a for all).

Options:
  -a, --all            Show all containers, not just running ones
  -q, --quiet          Only show container ids
      --no-trunc       Do not truncate ids and commands
      --format FORMAT  table (default) or json (one JSON object per line)
`;

function since(iso: string | undefined): string {
  return humanAge(iso).replace(/ ago$/, '').replace(/^Less than a second$/, 'Less than a second');
}

export function statusText(c: ContainerRecord): string {
  switch (c.state.status) {
    case 'running':
      return `Up ${since(c.state.startedAt)}${c.state.paused ? ' (Paused)' : ''}`;
    case 'exited':
      return `Exited (${c.state.exitCode ?? 'unknown'}) ${humanAge(c.state.finishedAt)}`;
    default:
      return 'Created';
  }
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['all', 'quiet', 'no-trunc', 'trunc'], string: ['format'], alias: { a: 'all', q: 'quiet' }, default: { trunc: true } }, 'ps');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 0, 'ps');
  const format = outputFormat(p['format'], 'ps');
  const store = await Store.open();
  const all = await repairAll(store);
  const shown = p['all'] ? all : all.filter((c) => c.state.status === 'running');
  // minimist reads --no-trunc as trunc=false
  const trunc = p['trunc'] !== false && !p['no-trunc'];
  const id = (c: ContainerRecord) => (trunc ? c.id.slice(0, 12) : c.id);
  if (p['quiet']) {
    for (const c of shown) process.stdout.write(id(c) + '\n');
    return 0;
  }
  const command = (c: ContainerRecord) => psCommand(c.process.args, trunc);
  if (format === 'json') {
    for (const c of shown) {
      process.stdout.write(
        JSON.stringify({
          ID: id(c),
          Image: c.imageRef,
          Command: command(c),
          CreatedAt: c.created,
          RunningFor: humanAge(c.created),
          State: c.state.paused ? 'paused' : c.state.status,
          Status: statusText(c),
          ExitCode: c.state.exitCode ?? null,
          Pid: c.state.status === 'running' ? c.state.pid : null,
          Names: c.name,
          Networks: c.net,
        }) + '\n',
      );
    }
    return 0;
  }
  printTable(
    ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'NAMES'],
    shown.map((c) => [id(c), c.imageRef, command(c), humanAge(c.created), statusText(c), c.name]),
  );
  return 0;
}
