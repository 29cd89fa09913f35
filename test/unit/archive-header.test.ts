// The header blocks of the archives bale save writes (archive/writer.ts): always one block, so a
// layer written in place has room for its header, whatever its size.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { archiveHeader } from '../../src/archive/writer.js';
import { readTar, type ReadHeader } from '../../src/layer/tar-reader.js';

/** The first header the tar reader finds in `blocks` (their checksums checked). */
async function firstHeader(...blocks: Buffer[]): Promise<ReadHeader> {
  async function* input() {
    yield* blocks;
  }
  for await (const ev of readTar(input())) if ('header' in ev) return ev.header;
  throw new Error('no header');
}

test('a file past 8 GiB: one block, its size in GNU base-256, read back whole', async () => {
  const name = `blobs/sha256/${'ab'.repeat(32)}`;
  const size = 9 * 1024 ** 3 + 12345;
  const h = archiveHeader(name, 'file', size);
  assert.is(h.length, 512);
  assert.is(h[124], 0x80, 'base-256 marker');
  const back = await firstHeader(h, Buffer.alloc(512));
  assert.is(back.name, name);
  assert.is(back.size, size);
  assert.is(back.mode, 0o644);
  assert.is(back.pax.size, 0, 'no pax header');
});

test('below 8 GiB: octal size; directories and symlinks with their modes', async () => {
  const f = await firstHeader(archiveHeader('index.json', 'file', 8 ** 11 - 1), Buffer.alloc(512));
  assert.is(f.size, 8 ** 11 - 1);
  const d = await firstHeader(archiveHeader('blobs', 'directory'));
  assert.is(d.name, 'blobs/');
  assert.is(d.mode, 0o755);
  const l = await firstHeader(archiveHeader('x/layer.tar', 'symlink', 0, '../blobs/sha256/0'));
  assert.is(l.linkname, '../blobs/sha256/0');
  assert.is(l.mode, 0o777);
});

test.run();
