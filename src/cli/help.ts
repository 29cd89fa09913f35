// A verb's help as data: usage, summary, options, notes. One value renders `bale VERB --help`,
// the man page `bale-VERB(1)` and the shell completion, so the three cannot disagree.
import { style } from './output.js';

/** What a verb's operands (or an option's value) name, for completion. */
export type Completes = 'image' | 'container' | 'file' | 'verb';

export interface HelpOption {
  /** '-q, --quiet' or '--no-trunc'. */
  flags: string;
  /** The value's name ('FILE'), for options that take one. */
  arg?: string;
  text: string;
  /** Fixed values the shell may offer ('table', 'json'), or what the value names. */
  values?: string[] | Completes;
}

export interface Help {
  /** After 'Usage: ': 'bale images [OPTIONS] [REPOSITORY[:TAG]]'. */
  usage: string;
  /** One paragraph or a few: what the verb does. */
  summary: string;
  options: HelpOption[];
  /** Paragraphs after the options. */
  notes?: string;
  /** What the operands name, for completion. */
  operands?: Completes;
}

/** Today's help strings ("Usage: ...", summary, "Options:" lines, notes), read into a Help. */
export function parseHelp(text: string): Help {
  const lines = text.replace(/\n+$/, '').split('\n');
  const usage = (lines.shift() ?? '').replace(/^Usage:\s*/, '');
  const optAt = lines.findIndex((l) => /^Options:\s*$/.test(l));
  const before = (optAt < 0 ? lines : lines.slice(0, optAt)).join('\n').trim();
  const options: HelpOption[] = [];
  let rest: string[] = [];
  if (optAt >= 0) {
    let i = optAt + 1;
    for (; i < lines.length && lines[i]!.trim() !== ''; i++) {
      const l = lines[i]!;
      const m = /^\s{1,8}((?:-\w, )?--?[\w-]+)(?: ([A-Z][\w.|[\]=/:]*|[a-z]+\|[\w|]+))?\s{2,}(.*)$/.exec(l);
      if (m) options.push({ flags: m[1]!, ...(m[2] ? { arg: m[2] } : {}), text: m[3]!.trim() });
      else if (options.length) options[options.length - 1]!.text += ' ' + l.trim();
    }
    rest = lines.slice(i);
  }
  const notes = rest.join('\n').trim();
  return { usage, summary: before, options, ...(notes ? { notes } : {}) };
}

/** The help of a verb module, whether it exports a Help or a plain string. */
export function helpOf(h: Help | string): Help {
  return typeof h === 'string' ? parseHelp(h) : h;
}

function optionLabel(o: HelpOption): string {
  const flags = o.flags.startsWith('--') ? `    ${o.flags}` : o.flags;
  return o.arg ? `${flags} ${o.arg}` : flags;
}

/** `bale VERB --help`: usage, summary, options aligned in two columns, notes. */
export function renderHelp(h: Help): string {
  const out = [`${style.bold('Usage:')} ${h.usage}`, '', h.summary];
  const opts = [...h.options];
  if (!opts.some((o) => /--help\b/.test(o.flags))) opts.push({ flags: '-h, --help', text: 'Show this help' });
  const width = Math.max(...opts.map((o) => optionLabel(o).length)) + 3;
  out.push('', style.bold('Options:'));
  for (const o of opts) out.push(wrap(`  ${optionLabel(o).padEnd(width)}`, o.text));
  if (h.notes) out.push('', h.notes);
  return out.join('\n') + '\n';
}

/** `lead` then `text`, wrapped at 100 columns with the continuation lines under the text. */
function wrap(lead: string, text: string): string {
  const lines: string[] = [];
  let line = lead;
  for (const word of text.split(' ')) {
    if (line.length > lead.length && line.length + 1 + word.length > 100) {
      lines.push(line);
      line = ' '.repeat(lead.length) + word;
    } else line += (line.length > lead.length ? ' ' : '') + word;
  }
  return [...lines, line].join('\n');
}

/** Long and short names of every option: ['--quiet', '-q']. */
export function optionNames(o: HelpOption): string[] {
  return o.flags.split(/,\s*/).map((s) => s.trim());
}

// ---- man pages ----

function roff(s: string): string {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

/** Paragraphs for roff: blank lines start a new one; indented lines are shown as they are. */
function paragraphs(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((p) => (/^\s{2,}|^\$ /m.test(p) ? `.PP\n.nf\n${roff(p)}\n.fi` : `.PP\n${roff(p.replace(/\n/g, ' '))}`))
    .join('\n');
}

/** `man bale-VERB`: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, NOTES, SEE ALSO, from the same Help. */
export function renderMan(name: string, oneLine: string, h: Help, version: string): string {
  const title = name.toUpperCase();
  const opts = h.options.map((o) => {
    const label = optionNames(o)
      .map((n) => `\\fB${roff(n)}\\fR`)
      .join(', ');
    return `.TP\n${label}${o.arg ? ` \\fI${roff(o.arg)}\\fR` : ''}\n${roff(o.text)}`;
  });
  return [
    `.TH ${title} 1 "" "bale ${version}" "bale manual"`,
    '.SH NAME',
    `${roff(name)} \\- ${roff(oneLine)}`,
    '.SH SYNOPSIS',
    `.B ${roff(h.usage)}`,
    '.SH DESCRIPTION',
    paragraphs(h.summary),
    ...(opts.length ? ['.SH OPTIONS', ...opts] : []),
    ...(h.notes ? ['.SH NOTES', paragraphs(h.notes)] : []),
    '.SH SEE ALSO',
    name === 'bale' ? '' : '\\fBbale\\fR(1)',
    '',
  ].join('\n');
}
