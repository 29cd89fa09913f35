// Reading a Dockerfile into instructions, as docker's parser does (before any variable expansion).
//
// - Parser directives (`# escape=\``, `# syntax=…`) are only read at the very top, before any
//   comment, blank line or instruction; `escape` sets the line-continuation character.
// - A line ending in the escape character (trailing blanks allowed) continues on the next: the
//   escape character and the newline go, nothing else (so `a \` + ` && b` is `a  && b`).
//   Comment lines and blank lines inside a continuation are dropped.
// - An instruction is its keyword (any case) and the rest of the line. FROM, COPY, ADD and RUN take
//   leading `--flag=value` options (a flag may repeat: RUN --mount); RUN, CMD, ENTRYPOINT, SHELL,
//   COPY, ADD and VOLUME have an exec (JSON array) form.
// - Here-documents, as BuildKit's Dockerfile frontend reads them (1.4 and later, without needing a
//   `# syntax` line): in the shell form of RUN, COPY and ADD, each unquoted word `<<WORD`,
//   `<<-WORD`, `<<"WORD"` or `<<'WORD'` takes the lines after the instruction, up to a line that is
//   exactly WORD, as its body, in the order the words come. `<<-` strips leading tabs from the body
//   and its closing line; a quoted WORD means the body is not expanded (COPY/ADD; RUN leaves the
//   body to the shell either way). Continuations and comments are not read inside a body.
import { BaleError } from '../../util/errors.js';

export interface Instruction {
  /** Line (1-based) where the instruction starts. */
  line: number;
  /** Keyword, upper case. */
  name: string;
  /** `--name=value` options before the arguments (`--name` alone has the value ''). */
  flags: Map<string, string>;
  /** The arguments as written (continuations joined), without the flags. */
  args: string;
  /** The exec form, when args is a JSON array of strings. */
  json?: string[];
  /** Every `--name=value` option in order, repeats kept (flags keeps the last of each name). */
  flagList: [string, string][];
  /** Here-document bodies, in the order their `<<WORD` appear in args. */
  heredocs?: Heredoc[];
}

export interface Heredoc {
  /** WORD, without quotes: the closing line, and the file name COPY gives the body. */
  name: string;
  /** `<<WORD` as written in args. */
  token: string;
  /** The lines up to the closing one, each ending in \n (leading tabs gone for `<<-`). */
  content: string;
  /** Not quoted: COPY/ADD expand $VAR in the body. */
  expand: boolean;
}

export interface Dockerfile {
  escape: string;
  instructions: Instruction[];
}

export const INSTRUCTIONS = [
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME',
  'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL',
];
const WITH_FLAGS = new Set(['FROM', 'COPY', 'ADD', 'RUN']);
const WITH_JSON = new Set(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'COPY', 'ADD', 'VOLUME']);
const WITH_HEREDOCS = new Set(['RUN', 'COPY', 'ADD']);

/** An error that names the Dockerfile line. */
export class DockerfileError extends BaleError {
  constructor(file: string, line: number, why: string) {
    super(`${file}:${line}: ${why}`);
    this.name = 'DockerfileError';
  }
}

/** The exec form `["a","b"]`, if `s` is one. */
export function jsonArray(s: string): string[] | undefined {
  const t = s.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // not JSON: docker then takes the whole text as shell form
  }
  return undefined;
}

/** Split leading `--name=value` options off an instruction's arguments. */
function splitFlags(rest: string): { flags: Map<string, string>; flagList: [string, string][]; args: string } {
  const flags = new Map<string, string>();
  const flagList: [string, string][] = [];
  let r = rest;
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(?:=("[^"]*"|\S*))?(?:\s+|$)/.exec(r);
    if (!m) break;
    const v = m[2] ?? '';
    const value = v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v;
    flags.set(m[1]!.toLowerCase(), value);
    flagList.push([m[1]!.toLowerCase(), value]);
    r = r.slice(m[0].length);
  }
  return { flags, flagList, args: r };
}

/** The `<<WORD` words of a shell-form line, outside quotes, in order. */
export function heredocWords(args: string): { token: string; name: string; chomp: boolean; quoted: boolean }[] {
  const out: { token: string; name: string; chomp: boolean; quoted: boolean }[] = [];
  let quote = '';
  for (let i = 0; i < args.length; i++) {
    const c = args[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      continue;
    }
    if (c !== '<' || args[i + 1] !== '<' || (i > 0 && !/[\s\d]/.test(args[i - 1]!))) continue;
    const m = /^<<(-?)(?:"([^"\n]+)"|'([^'\n]+)'|([^\s<>;&|()'"]+))/.exec(args.slice(i));
    if (!m) continue;
    out.push({ token: m[0], name: m[2] ?? m[3] ?? m[4]!, chomp: m[1] === '-', quoted: m[4] === undefined });
    i += m[0].length - 1;
  }
  return out;
}

/** Parse one instruction's text (also used for ONBUILD triggers). */
export function parseInstruction(text: string, line: number, file: string): Instruction {
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) throw new DockerfileError(file, line, 'empty instruction');
  const name = m[1]!.toUpperCase();
  if (!INSTRUCTIONS.includes(name)) throw new DockerfileError(file, line, `unknown instruction: ${m[1]}`);
  const rest = (m[2] ?? '').trim();
  const { flags, flagList, args } = WITH_FLAGS.has(name) ? splitFlags(rest) : { flags: new Map<string, string>(), flagList: [], args: rest };
  const ins: Instruction = { line, name, flags, flagList, args };
  if (WITH_JSON.has(name)) {
    const j = jsonArray(args);
    if (j) ins.json = j;
  }
  return ins;
}

export function parseDockerfile(text: string, file = 'Dockerfile'): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let i = 0;
  // Parser directives: only while every line so far was one.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const d = /^#\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(lines[i]!);
    if (!d) break;
    const key = d[1]!.toLowerCase();
    if (seen.has(key)) throw new DockerfileError(file, i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (d[2] !== '\\' && d[2] !== '`') throw new DockerfileError(file, i + 1, `invalid escape token '${d[2]}' does not match ` + '` or \\');
      escape = d[2]!;
    }
  }
  const esc = escape === '\\' ? '\\\\' : '`';
  const continues = new RegExp(`${esc}[ \\t]*$`);
  const comment = /^\s*#/;
  const instructions: Instruction[] = [];
  while (i < lines.length) {
    const start = i;
    let raw = lines[i++]!;
    if (comment.test(raw) || raw.trim() === '') continue;
    let text = '';
    while (continues.test(raw)) {
      text += raw.replace(continues, '');
      // the next line that is neither a comment nor blank continues this one
      while (i < lines.length && (comment.test(lines[i]!) || lines[i]!.trim() === '')) i++;
      if (i >= lines.length) {
        raw = '';
        break;
      }
      raw = lines[i++]!;
    }
    text += raw;
    if (text.trim() === '') continue;
    const ins = parseInstruction(text, start + 1, file);
    if (WITH_HEREDOCS.has(ins.name) && !ins.json) {
      const words = heredocWords(ins.args);
      if (words.length) ins.heredocs = [];
      for (const w of words) {
        const body: string[] = [];
        for (;;) {
          if (i >= lines.length) throw new DockerfileError(file, start + 1, `here-document ${w.token} has no closing ${w.name} line`);
          const l = w.chomp ? lines[i++]!.replace(/^\t+/, '') : lines[i++]!;
          if (l === w.name) break;
          body.push(l + '\n');
        }
        ins.heredocs!.push({ name: w.name, token: w.token, content: body.join(''), expand: !w.quoted });
      }
    }
    instructions.push(ins);
  }
  if (instructions.length === 0) throw new DockerfileError(file, 1, 'file with no instructions');
  const first = instructions.find((x) => x.name !== 'ARG');
  if (!first || first.name !== 'FROM') throw new DockerfileError(file, first?.line ?? 1, 'the first instruction (after ARGs) must be FROM');
  return { escape, instructions };
}
