// Checking a layer tar as it streams past, without writing anything: the same reader (tar-reader.ts)
// and the same rules (rules.ts) the unpack uses, applied at load time so that a hostile layer never
// enters the store and a layer that loads is one that unpacks.
import { PassThrough, Writable } from 'node:stream';
import { FormatError } from '../util/errors.js';
import { LayerRules } from './rules.js';
import { entrySize } from './size.js';
import { readTar, TarFormatError } from './tar-reader.js';

export interface LayerStats {
  entries: number;
  /** The layer's size as docker counts it (see size.ts), when asked for. */
  diffSize?: number;
}

async function checkAll(input: AsyncIterable<Buffer>, stats: LayerStats): Promise<void> {
  const rules = new LayerRules();
  try {
    for await (const ev of readTar(input)) {
      if (!('header' in ev)) continue;
      stats.entries++;
      rules.check(ev.header);
      if (stats.diffSize !== undefined) stats.diffSize += entrySize(ev.header.typeflag, ev.header.size, ev.header.linkname);
    }
  } catch (e) {
    if (e instanceof TarFormatError) throw new FormatError(`not a valid layer tar: ${e.message}`, { cause: e });
    throw e;
  }
  // Whatever follows the end-of-archive blocks is read and ignored, as docker does.
  for await (const chunk of input) void chunk;
}

/**
 * A Writable that parses the tar written to it and fails (stream error) on the first entry that
 * breaks the LayerRules. A truncated or malformed tar fails too.
 */
export function layerChecker(stats: LayerStats = { entries: 0 }): Writable {
  const feed = new PassThrough({ highWaterMark: 1024 * 1024 });
  let failed: Error | undefined;
  const done = checkAll(feed, stats).catch((e: Error) => {
    failed = e;
    feed.resume(); // nobody reads it any more: let writes through so the writer sees the error
  });
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      if (failed) return cb(failed);
      if (feed.write(chunk)) return cb();
      // Wait for the reader to catch up, or to fail, whichever comes first.
      let called = false;
      const once = () => {
        if (called) return;
        called = true;
        feed.off('drain', once);
        cb(failed);
      };
      feed.once('drain', once);
      void done.then(() => {
        if (failed) once();
      });
    },
    final(cb) {
      feed.end();
      void done.then(() => cb(failed));
    },
    destroy(err, cb) {
      feed.destroy();
      cb(err);
    },
  });
}
