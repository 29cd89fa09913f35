// Host processes by pid, honestly: a pid counts as the same process only if its start time matches.
import { readFileSync } from 'node:fs';

export interface ProcInfo {
  /** Start time in clock ticks after boot (field 22 of /proc/PID/stat). */
  start: number;
  /** One-letter state (R, S, Z, ...). */
  state: string;
}

export function procInfo(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: the fields after it start after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0]!, start: Number(rest[19]) };
}

/** Is `pid` the process that started at `start`, and not a zombie? */
export function isAlive(pid: number | undefined, start: number | undefined): boolean {
  if (!pid) return false;
  const p = procInfo(pid);
  if (!p || p.state === 'Z' || p.state === 'X') return false;
  return start === undefined || p.start === start;
}
