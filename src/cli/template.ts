// The part of Go's text/template that docker users write in --format and inspect -f: fields
// (`.A.B`, `$`, `$v.A`), pipelines (`.Names | join ", "`), if/else, range (with `$k, $v :=`), with,
// `{{- -}}` trimming, comments, and docker's functions (json, join, split, upper, lower, title,
// truncate, pad) beside Go's own (index, len, eq, ne, lt, le, gt, ge, and, or, not, print,
// printf, println, slice). Parsed once into a tree, then run against each object.
import { UsageError } from '../util/errors.js';

type Value = unknown;
type Arg =
  | { k: 'field'; base: 'dot' | 'root' | string; path: string[] }
  | { k: 'lit'; v: Value }
  | { k: 'fn'; name: string }
  | { k: 'sub'; pipe: Pipe; path: string[] };
type Pipe = { decl: string[]; cmds: Arg[][] };
type Node =
  | { k: 'text'; s: string }
  | { k: 'out'; pipe: Pipe }
  | { k: 'if' | 'range' | 'with'; pipe: Pipe; body: Node[]; alt: Node[] };

export class TemplateError extends UsageError {
  constructor(msg: string) {
    super(`template: ${msg}`);
  }
}

const FUNCS: Record<string, (...a: Value[]) => Value> = {
  json: (v) => goJson(v),
  join: (list, sep) => (Array.isArray(list) ? list.map((x) => goString(x)).join(String(sep)) : goString(list)),
  split: (s, sep) => String(s).split(String(sep)),
  upper: (s) => goString(s).toUpperCase(),
  lower: (s) => goString(s).toLowerCase(),
  title: (s) => goString(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()),
  truncate: (s, n) => [...goString(s)].slice(0, Number(n)).join(''),
  pad: (s, l, r) => ' '.repeat(Number(l)) + goString(s) + ' '.repeat(Number(r)),
  index: (v, ...keys) => keys.reduce((cur: Value, key) => (cur !== null && typeof cur === 'object' ? (cur as Record<string, Value>)[String(key)] : undefined), v),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  slice: (v, a, b) => (Array.isArray(v) || typeof v === 'string' ? v.slice(Number(a ?? 0), b === undefined ? undefined : Number(b)) : v),
  eq: (a, ...bs) => bs.some((b) => a === b),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
  not: (v) => !truthy(v),
  and: (...vs) => vs.find((v) => !truthy(v)) ?? vs[vs.length - 1],
  or: (...vs) => vs.find((v) => truthy(v)) ?? vs[vs.length - 1],
  print: (...vs) => vs.map(goString).join(''),
  println: (...vs) => vs.map(goString).join(' ') + '\n',
  printf: (f, ...vs) => sprintf(String(f), vs),
};

/** Go's fmt %v for the values JSON can hold: [a b], map[k:v]; a missing value prints <no value>. */
export function goString(v: Value): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, Value>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${goString(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** Marks an object whose `json` docker makes with json.Marshal (a listing row): <, >, & escaped. */
export const ESCAPE_HTML = Symbol('escape-html');

/**
 * docker's `json` function: map keys sorted (Go decodes JSON objects into maps), no HTML escaping,
 * except for listing rows, which docker marshals itself and so escape <, > and & as \u003c...
 */
export function goJson(v: Value): string {
  const sorted = (_k: string, x: Value) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, Value>)[k]])) : x;
  const s = JSON.stringify(v ?? null, sorted) ?? 'null';
  const escape = v !== null && typeof v === 'object' && ESCAPE_HTML in v;
  return escape ? s.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`) : s;
}

function truthy(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

function sprintf(f: string, vs: Value[]): string {
  let i = 0;
  return f.replace(/%([-0]?)(\d*)([svdqt%])/g, (_m, flag: string, width: string, verb: string) => {
    if (verb === '%') return '%';
    const v = vs[i++];
    let s = verb === 'q' ? JSON.stringify(goString(v)) : verb === 'd' ? String(Math.trunc(Number(v))) : goString(v);
    const w = Number(width || 0);
    if (s.length < w) s = flag === '-' ? s.padEnd(w) : s.padStart(w, flag === '0' ? '0' : ' ');
    return s;
  });
}

// ---- parsing ----

/** Split into text and action source, applying `{{-` and `-}}` trimming and dropping comments. */
function lex(src: string): { text?: string; action?: string }[] {
  const out: { text?: string; action?: string }[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      out.push({ text });
      break;
    }
    let j = open + 2;
    const trimPrev = src[j] === '-' && /\s/.test(src[j + 1] ?? '');
    if (trimPrev) text = text.replace(/\s+$/, '');
    out.push({ text });
    if (trimPrev) j++;
    let quote = '';
    let k = j;
    for (; k < src.length; k++) {
      const c = src[k]!;
      if (quote) {
        if (c === '\\' && quote === '"') k++;
        else if (c === quote) quote = '';
      } else if (c === '"' || c === '`') quote = c;
      else if (c === '}' && src[k + 1] === '}') break;
    }
    if (k >= src.length) throw new TemplateError(`unclosed action in ${JSON.stringify(src)}`);
    let body = src.slice(j, k);
    trimNext = /\s-$/.test(body);
    if (trimNext) body = body.slice(0, -1);
    body = body.trim();
    if (!(body.startsWith('/*') && body.endsWith('*/'))) out.push({ action: body });
    i = k + 2;
  }
  return out.filter((p) => p.action !== undefined || p.text);
}

function tokenize(s: string): string[] {
  const toks: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[()|,]|[^\s()|,]+)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s)) !== null) {
    toks.push(m[1]!);
    end = re.lastIndex;
  }
  if (s.slice(end).trim()) throw new TemplateError(`cannot read ${JSON.stringify(s)}`);
  return toks;
}

function parsePipe(toks: string[], pos: { i: number }, stopAtParen: boolean): Pipe {
  const decl: string[] = [];
  const assign = toks.indexOf(':=', pos.i);
  if (assign > 0 && toks.slice(pos.i, assign).every((t) => t === ',' || /^\$\w*$/.test(t))) {
    for (const t of toks.slice(pos.i, assign)) if (t !== ',') decl.push(t);
    pos.i = assign + 1;
  }
  const cmds: Arg[][] = [[]];
  while (pos.i < toks.length) {
    const t = toks[pos.i++]!;
    if (t === ')') {
      if (stopAtParen) break;
      throw new TemplateError('unexpected )');
    }
    if (t === '|') cmds.push([]);
    else cmds[cmds.length - 1]!.push(parseArg(t, toks, pos));
  }
  if (cmds.some((c) => c.length === 0)) throw new TemplateError(`empty command in ${JSON.stringify(toks.join(' '))}`);
  return { decl, cmds };
}

function parseArg(t: string, toks: string[], pos: { i: number }): Arg {
  if (t === '(') {
    const pipe = parsePipe(toks, pos, true);
    const next = toks[pos.i];
    const path = next && /^\.\w/.test(next) ? (pos.i++, next.slice(1).split('.')) : [];
    return { k: 'sub', pipe, path };
  }
  if (t.startsWith('"')) return { k: 'lit', v: JSON.parse(t) as string };
  if (t.startsWith('`')) return { k: 'lit', v: t.slice(1, -1) };
  if (t === '.') return { k: 'field', base: 'dot', path: [] };
  if (t.startsWith('.')) return { k: 'field', base: 'dot', path: t.slice(1).split('.') };
  if (t.startsWith('$')) {
    const [name, ...path] = t.split('.');
    return { k: 'field', base: name === '$' ? 'root' : name!, path };
  }
  if (/^-?\d+(\.\d+)?$/.test(t)) return { k: 'lit', v: Number(t) };
  if (t === 'true' || t === 'false') return { k: 'lit', v: t === 'true' };
  if (t === 'nil') return { k: 'lit', v: null };
  if (FUNCS[t]) return { k: 'fn', name: t };
  throw new TemplateError(`function ${JSON.stringify(t)} not defined`);
}

function parse(src: string): Node[] {
  const parts = lex(src);
  let i = 0;
  const block = (endAt: Set<string>): { nodes: Node[]; end: string; elseIf?: Node } => {
    const nodes: Node[] = [];
    while (i < parts.length) {
      const p = parts[i++]!;
      if (p.action === undefined) {
        nodes.push({ k: 'text', s: p.text! });
        continue;
      }
      const toks = tokenize(p.action);
      const head = toks[0];
      if (head === 'end' || head === 'else') {
        if (!endAt.has(head)) throw new TemplateError(`unexpected {{${p.action}}}`);
        if (head === 'else' && toks[1] === 'if') {
          // `else if X` is `else` holding one `if X ... end` that shares this block's end.
          const pipe = parsePipe(toks, { i: 2 }, false);
          const inner = block(new Set(['else', 'end']));
          const alt = inner.end === 'else' ? block(new Set(['end'])).nodes : [];
          return { nodes, end: 'end', elseIf: { k: 'if', pipe, body: inner.nodes, alt } };
        }
        return { nodes, end: head };
      }
      if (head === 'if' || head === 'range' || head === 'with') {
        const pipe = parsePipe(toks, { i: 1 }, false);
        const body = block(new Set(['else', 'end']));
        let alt: Node[] = [];
        if (body.elseIf) alt = [body.elseIf];
        else if (body.end === 'else') alt = block(new Set(['end'])).nodes;
        nodes.push({ k: head, pipe, body: body.nodes, alt });
        continue;
      }
      nodes.push({ k: 'out', pipe: parsePipe(toks, { i: 0 }, false) });
    }
    if (endAt.size) throw new TemplateError(`missing {{end}} in ${JSON.stringify(src)}`);
    return { nodes, end: '' };
  };
  return block(new Set()).nodes;
}

// ---- running ----

interface Scope {
  dot: Value;
  root: Value;
  vars: Map<string, Value>;
  strict: boolean;
}

function field(v: Value, path: string[], strict: boolean): Value {
  let cur = v;
  for (const key of path) {
    if (cur === null || cur === undefined) return undefined;
    if (typeof cur !== 'object' || Array.isArray(cur)) throw new TemplateError(`can't evaluate field ${key} in ${goString(cur)}`);
    const o = cur as Record<string, Value>;
    // docker runs templates with missingkey=error.
    if (!(key in o)) throw new TemplateError(strict ? `can't evaluate field ${key} (fields: ${Object.keys(o).join(', ')})` : `map has no entry for key ${JSON.stringify(key)}`);
    cur = o[key];
  }
  return cur;
}

function evalArg(a: Arg, s: Scope): Value {
  switch (a.k) {
    case 'lit':
      return a.v;
    case 'fn':
      return FUNCS[a.name]!();
    case 'sub':
      return field(evalPipe(a.pipe, s), a.path, s.strict);
    case 'field': {
      const base = a.base === 'dot' ? s.dot : a.base === 'root' ? s.root : s.vars.get(a.base);
      if (a.base !== 'dot' && a.base !== 'root' && !s.vars.has(a.base)) throw new TemplateError(`undefined variable ${a.base}`);
      return field(base, a.path, s.strict);
    }
  }
}

function evalPipe(p: Pipe, s: Scope): Value {
  let prev: Value;
  let first = true;
  for (const cmd of p.cmds) {
    const [head, ...rest] = cmd;
    if (head!.k === 'fn') {
      const args = rest.map((a) => evalArg(a, s));
      if (!first) args.push(prev);
      prev = FUNCS[head!.name]!(...args);
    } else {
      if (rest.length || !first) throw new TemplateError(`can't give arguments to a non-function`);
      prev = evalArg(head!, s);
    }
    first = false;
  }
  if (p.decl.length === 1) s.vars.set(p.decl[0]!, prev);
  return prev;
}

function exec(nodes: Node[], s: Scope, out: string[]): void {
  for (const n of nodes) {
    if (n.k === 'text') out.push(n.s);
    else if (n.k === 'out') {
      const v = evalPipe(n.pipe, s);
      if (!n.pipe.decl.length) out.push(goString(v));
    } else if (n.k === 'if') exec(truthy(evalPipe(n.pipe, s)) ? n.body : n.alt, s, out);
    else if (n.k === 'with') {
      const v = evalPipe(n.pipe, s);
      if (truthy(v)) exec(n.body, { ...s, dot: v }, out);
      else exec(n.alt, s, out);
    } else {
      const decl = n.pipe.decl;
      const v = evalPipe({ ...n.pipe, decl: [] }, s);
      const entries: [Value, Value][] = Array.isArray(v)
        ? v.map((x, i) => [i, x])
        : v && typeof v === 'object'
          ? Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]])
          : [];
      if (!entries.length) exec(n.alt, s, out);
      for (const [k, x] of entries) {
        const vars = new Map(s.vars);
        if (decl.length === 1) vars.set(decl[0]!, x);
        if (decl.length === 2) {
          vars.set(decl[0]!, k);
          vars.set(decl[1]!, x);
        }
        exec(n.body, { ...s, dot: x, vars }, out);
      }
    }
  }
}

export interface Template {
  /** Render one object. `strict`: a field the object lacks is an error (docker's typed rows), not <no value> (inspect's maps). */
  render(data: Value, strict?: boolean): string;
}

/** Parse a template once; docker's `\t` and `\n` escapes become tab and newline first. */
export function compileTemplate(src: string): Template {
  const nodes = parse(src.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
  return {
    render(data, strict = false) {
      const out: string[] = [];
      exec(nodes, { dot: data, root: data, vars: new Map([['$', data]]), strict }, out);
      return out.join('');
    },
  };
}

export function renderTemplate(tpl: string, data: Value): string {
  return compileTemplate(tpl).render(data);
}
