// Re-writing a tar from outside (bale import) as a clean layer tar, streaming.
//
// Every name and hardlink target goes through cleanEntryPath (leading `/` and `./` dropped, `..`
// resolved, escapes refused); the root entry is dropped; a hardlink must name an entry that came
// before it; types tar layers cannot hold are refused. Kept: mode, uid/gid (pax ones too), mtime,
// symlink targets, device numbers, SCHILY.xattr.* records (minus overlay-internal ones).
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { BaleError } from '../util/errors.js';
import { cleanEntryPath } from './entry-path.js';
import { keepXattr } from './pack.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type EntryType, type TarHeader } from './tar-header.js';

const TYPES: Record<string, EntryType> = {
  file: 'file',
  'contiguous-file': 'file',
  link: 'link',
  symlink: 'symlink',
  'character-device': 'character-device',
  'block-device': 'block-device',
  directory: 'directory',
  fifo: 'fifo',
};

function paxNumber(pax: Record<string, string> | undefined, key: string): number | undefined {
  const v = pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export interface NormalizeStats {
  entries: number;
}

/** The clean layer tar of the (uncompressed) tar `input`. `what` names the source in errors. */
export async function* normalizeTar(input: Readable, what: string, stats?: NormalizeStats): AsyncGenerator<Buffer> {
  try {
    yield* normalize(input, what, stats);
  } catch (e) {
    if (e instanceof BaleError) throw e;
    throw new BaleError(`${what}: not a valid tar (${(e as Error).message.replace(/\.? ?Maybe the tar.*$/, '')})`);
  }
}

async function* normalize(input: Readable, what: string, stats?: NormalizeStats): AsyncGenerator<Buffer> {
  const extract = tar.extract();
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract);
  const seen = new Set<string>();
  for await (const entry of extract) {
    const h = entry.header as tar.Header & { pax?: Record<string, string> };
    const type = TYPES[h.type ?? 'file'];
    if (!type) {
      entry.resume();
      throw new BaleError(`${what}: entry ${JSON.stringify(h.name)} has type ${h.type}, which a layer cannot hold`);
    }
    let name: string;
    try {
      name = cleanEntryPath(h.name);
    } catch (e) {
      entry.resume();
      throw new BaleError(`${what}: ${(e as Error).message}`);
    }
    if (name === '') {
      for await (const _ of entry) void _;
      continue;
    }
    const pax = h.pax;
    const mtimeSec = paxNumber(pax, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
    const out: TarHeader = {
      name,
      type,
      mode: (h.mode ?? 0o644) & 0o7777,
      uid: paxNumber(pax, 'uid') ?? h.uid ?? 0,
      gid: paxNumber(pax, 'gid') ?? h.gid ?? 0,
      size: type === 'file' ? h.size ?? 0 : 0,
      mtime: Math.floor(mtimeSec),
      devmajor: h.devmajor ?? 0,
      devminor: h.devminor ?? 0,
    };
    if (type === 'symlink') out.linkname = h.linkname ?? '';
    if (type === 'link') {
      let target: string;
      try {
        target = cleanEntryPath(h.linkname ?? '', 'hardlink target');
      } catch (e) {
        entry.resume();
        throw new BaleError(`${what}: ${name}: ${(e as Error).message}`);
      }
      if (!seen.has(target)) {
        entry.resume();
        throw new BaleError(`${what}: hardlink ${name} names ${JSON.stringify(h.linkname)}, which is not an earlier entry`);
      }
      out.linkname = target;
    }
    if (pax) {
      for (const [k, v] of Object.entries(pax)) {
        if (!k.startsWith('SCHILY.xattr.')) continue;
        const x = k.slice('SCHILY.xattr.'.length);
        if (keepXattr(x)) (out.xattrs ??= new Map()).set(x, Buffer.from(v, 'utf8'));
      }
    }
    seen.add(name);
    if (stats) stats.entries++;
    yield encodeHeader(out);
    let n = 0;
    for await (const chunk of entry) {
      n += (chunk as Buffer).length;
      if (type === 'file') yield chunk as Buffer;
    }
    if (type === 'file') {
      if (n !== out.size) throw new BaleError(`${what}: ${name}: truncated (${n} of ${out.size} bytes)`);
      yield padding(out.size);
    }
  }
  yield END_OF_ARCHIVE;
}
