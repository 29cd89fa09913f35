// The archive bale save writes (see writer.ts), laid out as a directory instead of a tar: an OCI
// image layout (`skopeo copy oci:DIR` and umoci read it) and/or an unpacked Docker archive. Every
// file and directory is fsynced; the caller writes into a temp name and renames it into place.
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashCounter, type Digest } from '../oci/digest.js';
import type { EntrySink } from './writer.js';

async function syncPath(p: string): Promise<void> {
  const fh = await fsp.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A sink writing into `dir`, which it creates (it must not exist). */
export async function dirSink(dir: string): Promise<EntrySink> {
  await fsp.mkdir(dir, { mode: 0o755 });
  const dirs = [dir];
  const at = (name: string) => path.join(dir, name);
  return {
    directory: async (name) => {
      await fsp.mkdir(at(name), { mode: 0o755 });
      dirs.push(at(name));
    },
    bytes: async (name, body) => {
      await fsp.writeFile(at(name), body, { mode: 0o644 });
      await syncPath(at(name));
    },
    symlink: (name, target) => fsp.symlink(target, at(name)),
    file: async (name, src, _size, onBytes, hash): Promise<Digest | undefined> => {
      const hc = hash ? new HashCounter() : new PassThrough();
      hc.on('data', (c: Buffer) => onBytes(c.length));
      await pipeline(createReadStream(src, { highWaterMark: 1024 * 1024 }), hc, createWriteStream(at(name), { mode: 0o644 }));
      await syncPath(at(name));
      return hc instanceof HashCounter ? hc.digest() : undefined;
    },
    finish: async () => {
      for (const d of dirs.reverse()) await syncPath(d);
    },
  };
}
