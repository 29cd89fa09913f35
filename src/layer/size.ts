// A layer's size as docker reports it (`images`, `history`, `inspect`): not the tar's length but
// what its overlay2 driver measures in the layer's directory after unpacking it, the lstat size of
// everything that is not a directory, each inode once. From the tar's entries that is: regular
// files by their size, symlinks by the byte length of their target, hardlinks, devices, fifos and
// whiteouts nothing. (A name given twice in one tar, which the OCI spec forbids, counts twice.)
import { readTar } from './tar-reader.js';

/** What one tar entry adds to the layer's size. `type` is tar-stream's name or a typeflag. */
export function entrySize(type: string | null | undefined, size: number | null | undefined, linkname: string | null | undefined): number {
  switch (type ?? 'file') {
    case 'file':
    case 'contiguous-file':
    case '0':
    case '7':
      return size ?? 0;
    case 'symlink':
    case '2':
      return Buffer.byteLength(linkname ?? '');
    default:
      return 0;
  }
}

/**
 * Passes a layer tar through unchanged while adding its size to `out.diffSize`, read with the one
 * tar reader; use as a pipeline stage. The total is complete when the stream has ended.
 */
export async function* measureLayer(source: AsyncIterable<Buffer>, out: { diffSize: number }): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const pending: Buffer[] = [];
  // The reader pulls input chunks through here; each is passed on once the reader has seen it.
  async function* feed(): AsyncGenerator<Buffer> {
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      pending.push(r.value);
      yield r.value;
    }
  }
  for await (const ev of readTar(feed())) {
    if ('header' in ev) out.diffSize += entrySize(ev.header.typeflag, ev.header.size, ev.header.linkname);
    while (pending.length) yield pending.shift()!;
  }
  while (pending.length) yield pending.shift()!;
  // whatever follows the end-of-archive blocks
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield r.value;
  }
}
