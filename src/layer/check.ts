// Checking a layer tar as it streams past, without writing anything: the rules apply.ts enforces
// when unpacking, applied at load time so that a hostile layer never enters the store.
import { Writable } from 'node:stream';
import tar from 'tar-stream';
import { cleanEntryPath } from './entry-path.js';
import { parseWhiteout } from './whiteout.js';

export interface LayerStats {
  entries: number;
}

/**
 * A Writable that parses the tar written to it and fails (stream error) on the first entry that
 * would escape the layer root: `..` climbing out, an entry written through a symlink made earlier
 * in the same layer, a hardlink whose target climbs out or goes through a symlink, a whiteout that
 * names nothing. A truncated or malformed tar fails too.
 */
export function layerChecker(stats: LayerStats = { entries: 0 }): Writable {
  const extract = tar.extract();
  let failed: Error | undefined;
  const symlinks = new Set<string>();

  const throughSymlink = (p: string): string | undefined => {
    if (symlinks.size === 0) return undefined;
    let i = p.indexOf('/');
    while (i >= 0) {
      const prefix = p.slice(0, i);
      if (symlinks.has(prefix)) return prefix;
      i = p.indexOf('/', i + 1);
    }
    return undefined;
  };

  const check = (h: tar.Header): void => {
    const p = cleanEntryPath(h.name);
    const via = throughSymlink(p);
    if (via) throw new Error(`entry ${JSON.stringify(h.name)}: path traversal via symlink ${JSON.stringify(via)}`);
    const wh = parseWhiteout(p);
    if (wh) {
      if (wh.kind === 'file') forget(wh.target);
      return;
    }
    switch (h.type) {
      case 'symlink':
        if (p === '') throw new Error(`entry ${JSON.stringify(h.name)}: the layer root cannot be a symlink`);
        symlinks.add(p);
        return;
      case 'link': {
        const target = cleanEntryPath(h.linkname ?? '', `hardlink ${JSON.stringify(h.name)} ->`);
        if (target === '') throw new Error(`hardlink ${JSON.stringify(h.name)}: links to the layer root`);
        const tvia = throughSymlink(target);
        if (tvia) throw new Error(`hardlink ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} goes through symlink ${JSON.stringify(tvia)}`);
        forget(p);
        return;
      }
      case 'file':
      case 'contiguous-file':
      case 'directory':
      case 'character-device':
      case 'block-device':
      case 'fifo':
        forget(p);
        return;
      default:
        throw new Error(`entry ${JSON.stringify(h.name)}: unsupported tar entry type ${String(h.type)}`);
    }
  };

  // A path replaced by something that is not a symlink no longer redirects writes below it.
  const forget = (p: string): void => {
    if (symlinks.size === 0) return;
    symlinks.delete(p);
    const prefix = p + '/';
    for (const s of symlinks) if (s.startsWith(prefix)) symlinks.delete(s);
  };

  extract.on('entry', (header, body, next) => {
    stats.entries++;
    try {
      check(header);
    } catch (e) {
      failed = e as Error;
      body.on('error', () => {});
      extract.destroy(failed);
      return;
    }
    body.on('end', () => next());
    body.resume();
  });

  // Adapt tar-stream's streamx Writable to a Node Writable so pipeline() can own it.
  extract.on('error', (e: Error) => {
    failed ??= e;
  });
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      if (failed) return cb(failed);
      if (extract.write(chunk)) cb();
      else {
        const onDrain = () => {
          extract.off('error', onErr);
          cb(failed);
        };
        const onErr = (e: Error) => {
          extract.off('drain', onDrain);
          cb(e);
        };
        extract.once('drain', onDrain);
        extract.once('error', onErr);
      }
    },
    final(cb) {
      if (failed) return cb(failed);
      extract.once('finish', () => cb(failed));
      extract.once('error', (e: Error) => cb(e));
      extract.end(undefined as unknown as Buffer);
    },
  });
}
