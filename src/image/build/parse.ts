// Reading a Dockerfile into instructions, as docker's parser does (before any variable expansion).
//
// - Parser directives (`# escape=\``, `# syntax=…`) are only read at the very top, before any
//   comment, blank line or instruction; `escape` sets the line-continuation character.
// - A line ending in the escape character (trailing blanks allowed) continues on the next: the
//   escape character and the newline go, nothing else (so `a \` + ` && b` is `a  && b`).
//   Comment lines and blank lines inside a continuation are dropped.
// - An instruction is its keyword (any case) and the rest of the line. FROM, COPY, ADD and RUN take
//   leading `--flag=value` options; RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD and VOLUME have an exec
//   (JSON array) form.
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
function splitFlags(rest: string): { flags: Map<string, string>; args: string } {
  const flags = new Map<string, string>();
  let r = rest;
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(?:=("[^"]*"|\S*))?(?:\s+|$)/.exec(r);
    if (!m) break;
    const v = m[2] ?? '';
    flags.set(m[1]!.toLowerCase(), v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v);
    r = r.slice(m[0].length);
  }
  return { flags, args: r };
}

/** Parse one instruction's text (also used for ONBUILD triggers). */
export function parseInstruction(text: string, line: number, file: string): Instruction {
  const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) throw new DockerfileError(file, line, 'empty instruction');
  const name = m[1]!.toUpperCase();
  if (!INSTRUCTIONS.includes(name)) throw new DockerfileError(file, line, `unknown instruction: ${m[1]}`);
  const rest = (m[2] ?? '').trim();
  const { flags, args } = WITH_FLAGS.has(name) ? splitFlags(rest) : { flags: new Map<string, string>(), args: rest };
  const ins: Instruction = { line, name, flags, args };
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
    if (/<<-?["']?[A-Za-z_]/.test(text) && /^\s*(RUN|COPY|ADD)\s/i.test(text) && /<<-?["']?[A-Za-z_][A-Za-z0-9_]*["']?\s*$/.test(text)) {
      throw new DockerfileError(file, start + 1, 'here-documents (<<EOF) are not supported');
    }
    instructions.push(parseInstruction(text, start + 1, file));
  }
  if (instructions.length === 0) throw new DockerfileError(file, 1, 'file with no instructions');
  const first = instructions.find((x) => x.name !== 'ARG');
  if (!first || first.name !== 'FROM') throw new DockerfileError(file, first?.line ?? 1, 'the first instruction (after ARGs) must be FROM');
  return { escape, instructions };
}
