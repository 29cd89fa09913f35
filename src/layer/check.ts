// Checking a layer tar as it streams past, without writing anything: the same reader (tar-reader.ts)
// and the same rules (rules.ts) the unpack uses, applied at load time so that a hostile layer never
// enters the store and a layer that loads is one that unpacks.
import { Writable } from 'node:stream';
import { FormatError } from '../util/errors.js';
import { LayerRules } from './rules.js';
import { entrySize } from './size.js';
import { TarFormatError, TarPusher, type TarEvent } from './tar-reader.js';

export interface LayerStats {
  entries: number;
  /** The layer's size as docker counts it (see size.ts), when asked for. */
  diffSize?: number;
}

function layerError(e: unknown): Error {
  return e instanceof TarFormatError ? new FormatError(`not a valid layer tar: ${e.message}`, { cause: e }) : (e as Error);
}

/**
 * A Writable that parses the tar written to it and fails (stream error) on the first entry that
 * breaks the LayerRules. A truncated or malformed tar fails too. Each chunk is checked in the
 * write that brings it, synchronously. Whatever follows the end-of-archive blocks is read and
 * ignored, as docker does.
 */
export function layerChecker(stats: LayerStats = { entries: 0 }): Writable {
  const rules = new LayerRules();
  const reader = new TarPusher((ev: TarEvent) => {
    if (!('header' in ev)) return;
    stats.entries++;
    rules.check(ev.header);
    if (stats.diffSize !== undefined) stats.diffSize += entrySize(ev.header.typeflag, ev.header.size, ev.header.linkname);
  });
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      try {
        reader.push(chunk);
      } catch (e) {
        return cb(layerError(e));
      }
      cb();
    },
    final(cb) {
      try {
        reader.end();
      } catch (e) {
        return cb(layerError(e));
      }
      cb();
    },
  });
}
