// Output for people and for scripts: tables, JSON, sizes, ages, progress on a terminal.
import { oneLine, UsageError } from '../util/errors.js';

export type OutputFormat = 'table' | 'json';

export function outputFormat(v: unknown, verb: string): OutputFormat {
  if (v === undefined || v === '' || v === 'table') return 'table';
  if (v === 'json') return 'json';
  throw new UsageError(`--format takes table or json, not ${JSON.stringify(v)}`);
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

/** Columns padded to the widest cell, three spaces apart, like docker's tables. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  process.stdout.write([line(header), ...rows.map(line)].join('\n') + '\n');
}

/** Decimal units as docker prints them: 1.24MB, 5.6GB. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  // three significant digits, trailing zeros dropped (Go's %.3g, as docker prints sizes): 70kB, 1.98MB
  return `${Number(v.toPrecision(3))}${units[u]}`;
}

/** "3 minutes ago", "2 days ago". */
export function humanAge(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'N/A';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return 'N/A';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const steps: [number, string][] = [
    [60, 'second'],
    [60, 'minute'],
    [24, 'hour'],
    [7, 'day'],
    [4.35, 'week'],
    [12, 'month'],
    [Infinity, 'year'],
  ];
  let v = s;
  for (const [size, name] of steps) {
    if (v < size) {
      const r = Math.floor(v);
      if (name === 'second' && r < 2) return 'Less than a second ago';
      return `${r} ${name}${r === 1 ? '' : 's'} ago`;
    }
    v /= size;
  }
  return 'N/A';
}

/**
 * Progress on stderr, only when stderr is a terminal and not --quiet: one line rewritten in place.
 * Scripts and pipes see nothing.
 */
export class Progress {
  private last = 0;
  private readonly on: boolean;
  constructor(quiet: boolean) {
    this.on = !quiet && Boolean(process.stderr.isTTY);
  }
  update(text: string, force = false): void {
    if (!this.on) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const cols = process.stderr.columns || 80;
    process.stderr.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
  }
  done(): void {
    if (this.on) process.stderr.write('\r\x1b[2K');
  }
}

/**
 * The one place an error becomes what a user reads: `bale: ` and one line (with BALE_DEBUG set,
 * the stacks of the error and of each cause after it).
 */
export function printError(err: unknown): void {
  process.stderr.write(`bale: ${oneLine(err)}\n`);
  if (process.env['BALE_DEBUG']) {
    for (let e: unknown = err; e instanceof Error; e = e.cause) process.stderr.write(`${e.stack}\n`);
  }
}
