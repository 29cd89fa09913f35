// Checking a layer tar as it streams past, without writing anything: the rules apply.ts enforces
// when unpacking, applied at load time so that a hostile layer never enters the store.
import { Writable } from 'node:stream';
import tar from 'tar-stream';
import { cleanEntryPath } from './entry-path.js';
import { entrySize } from './size.js';
import { parseWhiteout } from './whiteout.js';

export interface LayerStats {
  entries: number;
  /** The layer's size as docker counts it (see size.ts), when asked for. */
  diffSize?: number;
}

/**
 * The rules every reader of a layer tar applies to its entries, in order: `..` may not climb out of
 * the root, no entry may be written through a symlink made earlier in the same layer, a hardlink's
 * target may not climb out or go through such a symlink, a whiteout must name something, and only
 * the entry types a layer can hold are allowed. `check` throws a one-line error or returns the
 * entry's clean path.
 */
export class LayerRules {
  private readonly symlinks = new Set<string>();

  check(h: { name: string; type?: string | null; linkname?: string | null }): string {
    const p = cleanEntryPath(h.name);
    const via = this.throughSymlink(p);
    if (via) throw new Error(`entry ${JSON.stringify(h.name)}: path traversal via symlink ${JSON.stringify(via)}`);
    const wh = parseWhiteout(p);
    if (wh) {
      if (wh.kind === 'file') this.forget(wh.target);
      return p;
    }
    switch (h.type ?? 'file') {
      case 'symlink':
        if (p === '') throw new Error(`entry ${JSON.stringify(h.name)}: the layer root cannot be a symlink`);
        this.symlinks.add(p);
        return p;
      case 'link': {
        const target = cleanEntryPath(h.linkname ?? '', `hardlink ${JSON.stringify(h.name)} ->`);
        if (target === '') throw new Error(`hardlink ${JSON.stringify(h.name)}: links to the layer root`);
        const tvia = this.throughSymlink(target);
        if (tvia) throw new Error(`hardlink ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} goes through symlink ${JSON.stringify(tvia)}`);
        this.forget(p);
        return p;
      }
      case 'file':
      case 'contiguous-file':
      case 'directory':
      case 'character-device':
      case 'block-device':
      case 'fifo':
        this.forget(p);
        return p;
      default:
        throw new Error(`entry ${JSON.stringify(h.name)}: unsupported tar entry type ${String(h.type)}`);
    }
  }

  private throughSymlink(p: string): string | undefined {
    if (this.symlinks.size === 0) return undefined;
    let i = p.indexOf('/');
    while (i >= 0) {
      const prefix = p.slice(0, i);
      if (this.symlinks.has(prefix)) return prefix;
      i = p.indexOf('/', i + 1);
    }
    return undefined;
  }

  // A path replaced by something that is not a symlink no longer redirects writes below it.
  private forget(p: string): void {
    if (this.symlinks.size === 0) return;
    this.symlinks.delete(p);
    const prefix = p + '/';
    for (const s of this.symlinks) if (s.startsWith(prefix)) this.symlinks.delete(s);
  }
}

/**
 * A Writable that parses the tar written to it and fails (stream error) on the first entry that
 * breaks the LayerRules. A truncated or malformed tar fails too.
 */
export function layerChecker(stats: LayerStats = { entries: 0 }): Writable {
  const extract = tar.extract();
  let failed: Error | undefined;
  const rules = new LayerRules();
  const check = (h: tar.Header): void => {
    rules.check(h);
  };

  extract.on('entry', (header, body, next) => {
    stats.entries++;
    try {
      check(header);
      if (stats.diffSize !== undefined) stats.diffSize += entrySize(header.type, header.size, header.linkname);
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
