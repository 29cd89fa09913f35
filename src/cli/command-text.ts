// Commands and long texts in tables, as docker prints them: `ps` shows a container's command as
// one line, the program then its arguments (those holding a space in single quotes), cut to 20
// columns with `…` unless --no-trunc, then in double quotes with Go's escapes (a newline as \n), so
// no command can break the table. `history` cuts CREATED BY the same way at 45 columns.

/** How many terminal columns a code point takes: 0 for combining marks, 2 for wide East Asian. */
function width(cp: number, ch: string): number {
  if (/\p{M}/u.test(ch)) return 0;
  const wide =
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd);
  return wide ? 2 : 1;
}

/** `s` cut to at most `max` columns, the last one `…` when anything was cut. */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return '';
  const chars = [...s];
  if (max === 1) return chars[0] ?? '';
  let total = 0;
  const ends: number[] = [];
  for (const ch of chars) {
    total += width(ch.codePointAt(0)!, ch);
    ends.push(total);
  }
  if (total <= max) return s;
  let n = 0;
  while (n < chars.length && ends[n]! <= max - 1) n++;
  return chars.slice(0, n).join('') + '…';
}

const ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"' };

/** `s` in double quotes, escaped as Go's strconv.Quote does: printable characters as they are. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const esc = ESCAPES[ch];
    if (esc) {
      out += esc;
      continue;
    }
    if (ch === ' ' || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch)) {
      out += ch;
      continue;
    }
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + '"';
}

/** The COMMAND column of `ps` for a container running `args` (program first). */
export function psCommand(args: string[], trunc: boolean): string {
  const [program = '', ...rest] = args;
  const text = rest.length ? `${program} ${rest.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}` : program;
  return goQuote(trunc ? ellipsis(text, 20) : text);
}
