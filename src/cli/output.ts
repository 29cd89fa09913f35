// Output for people and for scripts: tables, JSON, sizes, ages, progress on a terminal.
import { readlinkSync } from 'node:fs';
import { oneLine, UsageError } from '../util/errors.js';

/** Colour only on a terminal, and never when NO_COLOR is set (no-color.org) or TERM is dumb. */
export function useColor(stream: { isTTY?: boolean } = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env['NO_COLOR'] && process.env['TERM'] !== 'dumb';
}

export const style = {
  bold: (s: string): string => (useColor() ? `\x1b[1m${s}\x1b[22m` : s),
};

export type OutputFormat = 'table' | 'json';

export function outputFormat(v: unknown, verb: string): OutputFormat {
  if (v === undefined || v === '' || v === 'table') return 'table';
  if (v === 'json') return 'json';
  throw new UsageError(`--format takes table or json, not ${JSON.stringify(v)}`);
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

/**
 * Lines of tab-separated cells laid out as docker's tables are (Go's tabwriter with minimum width
 * 10 and padding 3): every cell but a line's last is padded to its column's width.
 */
export function tabulate(lines: string[]): string {
  const cells = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const row of cells) {
    row.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 10, [...c].length + 3)));
  }
  return cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length))).join('') + '\n').join('');
}

export function printTable(header: string[], rows: string[][]): void {
  process.stdout.write(tabulate([header, ...rows].map((r) => r.join('\t'))));
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** Decimal units as docker prints them (Go's %.3g, or %.4g with precision 4): 2.01MB, 133MB, 5kB. */
export function humanSize(n: number, precision = 3): string {
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return goFloat(v, precision) + UNITS[u];
}

/** Go's %.Pg: P significant digits, trailing zeros dropped, an exponent once the value needs one. */
function goFloat(v: number, precision: number): string {
  const exp = v === 0 ? 0 : Math.floor(Math.log10(Math.abs(Number(v.toPrecision(precision)))));
  if (exp < -4 || exp >= precision) {
    const [m, e] = v.toExponential(precision - 1).split('e');
    const mant = m!.includes('.') ? m!.replace(/\.?0+$/, '') : m!;
    const en = Number(e);
    return `${mant}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  const s = v.toPrecision(precision);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** How long ago, in docker's words: "About a minute", "3 hours", "2 weeks". */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** "3 minutes ago", "About an hour ago"; N/A for no time. */
export function humanAge(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'N/A';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return 'N/A';
  return `${humanDuration(Math.max(0, now - t))} ago`;
}

let utcHost: boolean | undefined;
let zoneFormat: Intl.DateTimeFormat | undefined;

/**
 * Whether local time is UTC, found without ICU: building an Intl.DateTimeFormat loads its zone data,
 * some 30 ms of every listing otherwise. TZ if set, else what /etc/localtime links to (none: UTC).
 */
function isUtcHost(): boolean {
  if (utcHost !== undefined) return utcHost;
  const utc = /^:?(Etc\/)?(UTC|UCT|Universal|Zulu)0?$/;
  const tz = process.env['TZ'];
  if (tz !== undefined) return (utcHost = tz === '' || utc.test(tz));
  try {
    utcHost = utc.test(readlinkSync('/etc/localtime').replace(/^.*zoneinfo\//, ''));
  } catch (e) {
    utcHost = (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
  return utcHost;
}

/** The zone's abbreviation as Go prints it (UTC, CET, EST...). */
function zoneName(d: Date, off: string): string {
  if (isUtcHost()) return 'UTC';
  zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
  return zoneFormat.formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? off;
}

function localParts(iso: string): { d: Date; date: string; time: string; off: string; zone: string } | undefined {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return undefined;
  const d = new Date(Math.floor(t / 1000) * 1000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const offMin = -d.getTimezoneOffset();
  const off = `${offMin < 0 ? '-' : '+'}${p2(Math.floor(Math.abs(offMin) / 60))}${p2(Math.abs(offMin) % 60)}`;
  const zone = zoneName(d, off);
  return {
    d,
    date: `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`,
    time: `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`,
    off,
    zone,
  };
}

/** Go's time.String() in local time, as docker's CreatedAt columns print: 2024-01-02 15:04:05 +0000 UTC. */
export function goTime(iso: string | undefined): string {
  const p = iso ? localParts(iso) : undefined;
  return p ? `${p.date} ${p.time} ${p.off} ${p.zone}` : '';
}

/** RFC 3339 in local time, seconds precision (docker history's CreatedAt): 2024-01-02T15:04:05Z. */
export function rfc3339(iso: string | undefined): string {
  const p = iso ? localParts(iso) : undefined;
  if (!p) return '';
  return `${p.date}T${p.time}${p.off === '+0000' ? 'Z' : `${p.off.slice(0, 3)}:${p.off.slice(3)}`}`;
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
  /** `text` may be a function, so a caller that reports every chunk formats a line only when one is shown. */
  update(text: string | (() => string), force = false): void {
    if (!this.on) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    if (typeof text === 'function') text = text();
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

/** docker's "Are you sure you want to continue? [y/N]": one line from stdin; only y or yes agrees. */
export async function confirm(warning: string): Promise<boolean> {
  process.stdout.write(`WARNING! ${warning}\nAre you sure you want to continue? [y/N] `);
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  return /^y(es)?$/i.test(line.trim());
}
