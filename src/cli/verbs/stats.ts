// bale stats: CPU, memory and pids of containers, read from their cgroups, once or every second.
import os from 'node:os';
import { Store } from '../../store/store.js';
import { findContainer, type ContainerRecord } from '../../runtime/container.js';
import { containerStats } from '../../runtime/container-cgroup.js';
import { repairAll } from '../../runtime/lifecycle.js';
import type { CgroupStats } from '../../runtime/cgroup.js';
import { outputFormat, printTable, type OutputFormat } from '../output.js';
import { parseFlags, wantsHelp } from '../verb.js';

export const help = `Usage: bale stats [OPTIONS] [CONTAINER...]

Show containers' resource use, refreshed every second: CPU % (100% is one CPU busy), memory in use
(page cache left out) against the limit (the host's memory when there is none), processes.

Options:
  -a, --all            Show all containers (default: running ones, or those named)
      --no-stream      Print one sample and exit
      --no-trunc       Do not truncate ids
      --format FORMAT  table (default) or json (one JSON object per container per sample)
`;

const INTERVAL_MS = 1000;

interface Sample {
  at: bigint;
  stats: Map<string, CgroupStats | undefined>;
}

/** Binary units as docker prints memory: 1.5MiB, 7.631GiB. */
function binarySize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number(v.toPrecision(4))}${units[u]}`;
}

async function sample(recs: ContainerRecord[]): Promise<Sample> {
  const stats = new Map<string, CgroupStats | undefined>();
  for (const r of recs) stats.set(r.id, r.state.status === 'running' ? await containerStats(r.id).catch(() => undefined) : undefined);
  return { at: process.hrtime.bigint(), stats };
}

function row(rec: ContainerRecord, before: Sample, after: Sample, trunc: boolean) {
  const a = before.stats.get(rec.id);
  const b = after.stats.get(rec.id);
  const wallNs = Number(after.at - before.at);
  const cpu = a && b && wallNs > 0 ? (Math.max(0, b.cpuNs - a.cpuNs) / wallNs) * 100 : 0;
  const usage = b?.memUsage ?? 0;
  const limit = b ? (b.memLimit ?? os.totalmem()) : 0;
  return {
    Container: trunc ? rec.id.slice(0, 12) : rec.id,
    ID: trunc ? rec.id.slice(0, 12) : rec.id,
    Name: rec.name,
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${binarySize(usage)} / ${binarySize(limit)}`,
    MemPerc: `${(limit ? (usage / limit) * 100 : 0).toFixed(2)}%`,
    PIDs: String(b?.pids ?? 0),
    MemUsageBytes: usage,
    MemLimitBytes: limit,
    CPUNanoseconds: b?.cpuNs ?? 0,
  };
}

function print(rows: ReturnType<typeof row>[], format: OutputFormat, clear: boolean): void {
  if (format === 'json') {
    for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (clear) process.stdout.write('\x1b[2J\x1b[H');
  printTable(
    ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS'],
    rows.map((r) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.PIDs]),
  );
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['all', 'no-stream', 'no-trunc', 'trunc', 'stream'], string: ['format'], alias: { a: 'all' }, default: { trunc: true, stream: true } }, 'stats');
  if (wantsHelp(p, help)) return 0;
  const format = outputFormat(p['format'], 'stats');
  const once = Boolean(p['no-stream']) || p['stream'] === false;
  const trunc = !p['no-trunc'] && p['trunc'] !== false;
  const store = await Store.open();
  const pick = async (): Promise<ContainerRecord[]> => {
    const all = await repairAll(store);
    if (p._.length === 0) return p['all'] ? all : all.filter((c) => c.state.status === 'running');
    const named = await Promise.all(p._.map((ref) => findContainer(store, ref)));
    return named.map((n) => all.find((c) => c.id === n.id) ?? n);
  };
  let recs = await pick();
  let before = await sample(recs);
  for (;;) {
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
    const after = await sample(recs);
    print(recs.map((r) => row(r, before, after, trunc)), format, !once && Boolean(process.stdout.isTTY));
    if (once) return 0;
    recs = await pick();
    before = await sample(recs);
  }
}
