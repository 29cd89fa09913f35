// The resource flags of create and run (--memory, --memory-swap, --cpus, --pids-limit), read as docker reads them.
import os from 'node:os';
import type { Resources } from '../runtime/cgroup.js';
import { UsageError } from '../util/errors.js';
import type { Parsed } from './verb.js';

export const RESOURCE_STRINGS = ['memory', 'memory-swap', 'cpus', 'pids-limit'];
export const RESOURCE_ALIASES = { m: 'memory' };

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** `512m`, `1.5g`, `100000` (bytes), `64MiB` → bytes; binary units, as docker's RAMInBytes. */
export function parseSize(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid argument ${JSON.stringify(s)} for "${flag}" flag: invalid size: '${s}'`);
  return Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

function flag(p: Parsed, k: string): string | undefined {
  return p[k] === undefined || p[k] === '' ? undefined : String(p[k]);
}

/** The parsed flags as container resources (undefined when none was given). */
export function resourceOptions(p: Parsed): Resources | undefined {
  const r: Resources = {};
  const mem = flag(p, 'memory');
  if (mem !== undefined) {
    r.memory = parseSize(mem, '-m, --memory');
    if (r.memory < 6 * 2 ** 20) throw new UsageError('Minimum memory limit allowed is 6MB');
  }
  const swap = flag(p, 'memory-swap');
  if (swap !== undefined && swap !== '0') {
    r.memorySwap = swap === '-1' ? -1 : parseSize(swap, '--memory-swap');
    if (r.memory === undefined) throw new UsageError('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (r.memorySwap !== -1 && r.memorySwap < r.memory) throw new UsageError('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  const cpus = flag(p, 'cpus');
  if (cpus !== undefined) {
    if (!/^\d*\.?\d+$/.test(cpus)) throw new UsageError(`invalid argument ${JSON.stringify(cpus)} for "--cpus" flag: failed to parse ${cpus} as a rational number`);
    const nano = Math.round(Number(cpus) * 1e9);
    const n = os.availableParallelism();
    if (nano !== 0) r.nanoCpus = nano;
    if (nano !== 0 && (nano < 1e7 || nano > n * 1e9)) throw new UsageError(`Range of CPUs is from 0.01 to ${n}.00, as there are only ${n} CPUs available`);
  }
  const pids = flag(p, 'pids-limit');
  if (pids !== undefined) {
    if (!/^-?\d+$/.test(pids)) throw new UsageError(`invalid argument ${JSON.stringify(pids)} for "--pids-limit" flag: strconv.ParseInt: parsing ${JSON.stringify(pids)}: invalid syntax`);
    if (Number(pids) > 0) r.pidsLimit = Number(pids);
  }
  return Object.keys(r).length ? r : undefined;
}
