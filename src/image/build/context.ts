// Where COPY and ADD take files from: the build context (a directory, less what .dockerignore
// excludes) or, for COPY --from, an earlier stage's or an image's merged layers. Both are a Tree:
// look a path up without following its last component, list a directory. Symlinks in a source path
// are followed inside the tree (an absolute target starts again at the tree's root), never out of it.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sniffCompression } from '../../layer/compression.js';
import { isDir, listMerged, lookupMerged, sortNames } from '../../layer/tree.js';
import { unpackPlainTar } from '../source.js';

export interface Found {
  /** Where the file really is on this host. */
  abs: string;
  st: BigIntStats;
}

export interface Tree {
  /** `rel` (no leading slash; '' is the root), not following a symlink in its last component. */
  lookup(rel: string): Promise<Found | undefined>;
  /** Names in directory `rel`, sorted. */
  list(rel: string): Promise<string[]>;
}

// ---- .dockerignore ---------------------------------------------------------------------------

interface IgnoreRule {
  re: RegExp;
  negate: boolean;
  /** The pattern's text, for exceptions: directories on the way to it must stay visible. */
  text: string;
}

/** A Go filepath.Match pattern (with `**` for any number of directories) as a regexp. */
export function patternRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The rules of a .dockerignore file: one pattern a line, `#` comments, `!` exceptions, last match wins. */
export function parseIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    const clean = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (clean === '' || clean === '.') continue;
    rules.push({ re: patternRegExp(clean), negate, text: clean });
  }
  return rules;
}

/** Is `rel` excluded? A pattern that matches a directory excludes what is below it. */
export function isIgnored(rules: IgnoreRule[], rel: string): boolean {
  let out = false;
  const parts = rel.split('/');
  for (const r of rules) {
    let hit = false;
    for (let n = 1; n <= parts.length && !hit; n++) hit = r.re.test(parts.slice(0, n).join('/'));
    if (hit) out = !r.negate;
  }
  return out;
}

function lstatOrUndef(p: string): BigIntStats | undefined {
  try {
    return lstatSync(p, { bigint: true });
  } catch {
    return undefined;
  }
}

/** The build context: a directory, minus what .dockerignore excludes. */
export function contextTree(dir: string): Tree & { rules: IgnoreRule[] } {
  let rules: IgnoreRule[] = [];
  try {
    rules = parseIgnore(readFileSync(path.join(dir, '.dockerignore'), 'utf8'));
  } catch {
    // no .dockerignore
  }
  const exceptions = rules.filter((r) => r.negate).map((r) => r.text);
  // An excluded directory stays visible when an exception may re-include something below it.
  const visible = (rel: string, st: BigIntStats): boolean => {
    if (rel === '' || !isIgnored(rules, rel)) return true;
    return isDir(st) && exceptions.some((e) => e.startsWith(rel + '/') || /[*?[]/.test(e));
  };
  return {
    rules,
    async lookup(rel) {
      const abs = rel === '' ? dir : path.join(dir, rel);
      const st = lstatOrUndef(abs);
      if (!st || !visible(rel, st)) return undefined;
      return { abs, st };
    },
    async list(rel) {
      const abs = rel === '' ? dir : path.join(dir, rel);
      const out: string[] = [];
      for (const n of readdirSync(abs)) {
        const r = rel === '' ? n : `${rel}/${n}`;
        const st = lstatOrUndef(path.join(abs, n));
        if (st && visible(r, st)) out.push(n);
      }
      return sortNames(out);
    },
  };
}

/** An image's or a stage's filesystem: its unpacked layers, top first, merged by overlay's rules. */
export function layersTree(layersTopFirst: string[]): Tree {
  return {
    lookup: async (rel) => (layersTopFirst.length === 0 ? undefined : lookupMerged(layersTopFirst, rel)),
    list: async (rel) => (layersTopFirst.length === 0 ? [] : listMerged(layersTopFirst, rel)),
  };
}

const S_IFMT = 0o170000n;
export const isSymlink = (st: BigIntStats): boolean => (st.mode & S_IFMT) === 0o120000n;

/**
 * Follow `rel` through the tree's symlinks, in scope: returns the resolved relative path (whose
 * parents are all directories) and what is there, if anything. `followLast` also resolves a
 * symlink in the last component.
 */
export async function resolveInTree(tree: Tree, rel: string, followLast = true): Promise<{ rel: string; found?: Found }> {
  let todo = rel.split('/').filter((p) => p !== '' && p !== '.');
  let done: string[] = [];
  let hops = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const cand = [...done, part].join('/');
    const f = await tree.lookup(cand);
    if (f && isSymlink(f.st) && (todo.length > 0 || followLast)) {
      if (++hops > 40) throw new Error(`${rel}: too many levels of symbolic links`);
      const target = readlinkSync(f.abs);
      const parts = target.split('/').filter((p) => p !== '' && p !== '.');
      if (target.startsWith('/')) done = [];
      todo = [...parts, ...todo];
      continue;
    }
    done.push(part);
    if (!f) {
      // missing from here on: the rest is taken as written
      done.push(...todo.filter((p) => p !== '..'));
      return { rel: done.join('/') };
    }
    if (todo.length > 0 && !isDir(f.st)) return { rel: [...done, ...todo].join('/') };
  }
  const r = done.join('/');
  return { rel: r, found: await tree.lookup(r) };
}

/** Does `pattern` hold glob characters docker expands? */
export function hasGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** Paths in the tree matching a glob (each component matched by filepath.Match rules), sorted; a matching directory is not descended into. */
export async function globTree(tree: Tree, pattern: string): Promise<string[]> {
  const re = patternRegExp(pattern.replace(/^\/+/, ''));
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const n of await tree.list(rel)) {
      const r = rel === '' ? n : `${rel}/${n}`;
      if (re.test(r)) {
        out.push(r);
        continue;
      }
      const f = await tree.lookup(r);
      if (f && isDir(f.st)) await walk(r);
    }
  };
  await walk('');
  return out;
}

/**
 * A digest of what COPY would take from `rel` (a file, a symlink or a directory and everything
 * visible below it): names, types, modes, owners (for --from trees), link targets and content;
 * never times, so a touched but unchanged file keeps the cache.
 */
export async function hashSource(tree: Tree, rel: string, found: Found): Promise<string> {
  const h = createHash('sha256');
  // `full` is the path in the tree, `name` the same path relative to `rel` (what the copy is named)
  const one = async (full: string, name: string, f: Found): Promise<void> => {
    const st = f.st;
    h.update(`${name}\0${st.mode.toString(8)}\0${st.uid}:${st.gid}\0`);
    if (isSymlink(st)) h.update(`-> ${readlinkSync(f.abs)}\0`);
    else if (isDir(st)) {
      for (const n of await tree.list(full)) {
        const cfull = full === '' ? n : `${full}/${n}`;
        const cf = await tree.lookup(cfull);
        if (cf) await one(cfull, name === '' ? n : `${name}/${n}`, cf);
      }
    } else if ((st.mode & S_IFMT) === 0o100000n) {
      const fh = createHash('sha256');
      await pipeline(createReadStream(f.abs), fh);
      h.update(`${st.size}\0${fh.digest('hex')}\0`);
    }
  };
  await one(rel, '', found);
  return h.digest('hex');
}

/**
 * What `bale build -` reads from `input`: a Dockerfile's text (returned), or a tar of the context,
 * plain or compressed, unpacked into `dir` (its `.wh.` names are files, as docker reads a context).
 */
export async function receiveContext(input: NodeJS.ReadableStream, dir: string): Promise<{ dockerfile?: string }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < 512 && !done) {
    const r = await it.next();
    if (r.done) done = true;
    else head = Buffer.concat([head, r.value]);
  }
  const rest = async function* (): AsyncGenerator<Buffer> {
    yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  };
  const c = sniffCompression(head);
  const isTar = c !== 'none' || (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar');
  if (!isTar) {
    const all: Buffer[] = [];
    for await (const b of rest()) all.push(b);
    return { dockerfile: Buffer.concat(all).toString('utf8') };
  }
  await unpackPlainTar(Readable.from(rest()), dir, 'the context on stdin');
  return {};
}
