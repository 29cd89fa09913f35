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

export const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11,
  USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20,
  TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, PWR: 30, SYS: 31,
};

/** `TERM`, `SIGTERM`, `15` → 15, or undefined. */
export function parseSignal(s: string): number | undefined {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n > 0 && n < 65 ? n : undefined;
  }
  return SIGNALS[s.toUpperCase().replace(/^SIG/, '')];
}
