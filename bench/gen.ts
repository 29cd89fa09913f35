// A generated image for benchmarks and crash tests: deterministic pseudo-random content, a mix of
// large files and many small files, spread over several layers, written as a Docker archive
// (`docker save` layout: manifest.json, repositories, <config>.json, <layer>/layer.tar, uncompressed).
//
// Tars are written here with a minimal ustar writer (names stay under 100 bytes), straight to disk
// with the sha256 taken on the way, so a 1 GiB image never sits in memory.
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';

export interface GenOptions {
  /** Total bytes of file content over all layers (the archive is a little larger: headers). */
  totalBytes: number;
  /** Number of layers (default 6). */
  layers?: number;
  /** Seed for the content; the same seed and sizes give the same archive, byte for byte. */
  seed?: string;
  /** RepoTag recorded in the archive (default bench/generated:latest). */
  tag?: string;
  /** Share of the bytes in small files (default 0.3). */
  smallShare?: number;
  /** Largest small file (default 16 KiB); smaller makes more files of the same bytes. */
  smallMax?: number;
  /** Symlinks added to the top layer, 1000 to a directory (for the layer checks' cost per entry). */
  symlinks?: number;
  /** A static busybox to put in the bottom layer as /bin/busybox, with /bin/sh and /bin/true, so the image runs. */
  busybox?: string;
}

export interface GenResult {
  file: string;
  archiveBytes: number;
  /** Bytes of all layer tars (what tar + sha256sum read: the limit). */
  layerBytes: number;
  files: number;
  symlinks: number;
  layers: number;
  configDigest: string;
  diffIds: string[];
  tag: string;
}

const MTIME = Math.floor(Date.parse('2024-01-01T00:00:00Z') / 1000);

/** Deterministic pseudo-random bytes: AES-128-CTR over zeros, keyed by the seed (fast, ~GB/s). */
class Prng {
  private cipher;
  constructor(seed: string) {
    const k = createHash('sha256').update(seed).digest();
    this.cipher = createCipheriv('aes-128-ctr', k.subarray(0, 16), k.subarray(16, 32));
  }
  bytes(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + (this.bytes(4).readUInt32LE(0) % (hi - lo + 1));
  }
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A ustar header block. */
export function ustarHeader(name: string, size: number, type: '0' | '5' | '2', mode: number, linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  if (Buffer.byteLength(name) > 100) throw new Error(`gen: name too long for ustar: ${name}`);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(MTIME, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

/** Writes a tar to a file, hashing it on the way; buffers writes into large chunks. */
class TarFile {
  private fh!: fsp.FileHandle;
  private hash: Hash = createHash('sha256');
  private buf: Buffer[] = [];
  private buffered = 0;
  bytes = 0;
  constructor(readonly path: string) {}
  async open(): Promise<this> {
    this.fh = await fsp.open(this.path, 'w');
    return this;
  }
  private async push(b: Buffer): Promise<void> {
    this.buf.push(b);
    this.buffered += b.length;
    if (this.buffered >= 4 * 1024 * 1024) await this.flush();
  }
  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const all = Buffer.concat(this.buf, this.buffered);
    this.buf = [];
    this.buffered = 0;
    this.hash.update(all);
    this.bytes += all.length;
    await this.fh.write(all);
  }
  private pad(size: number): Buffer | undefined {
    const r = size % 512;
    return r ? Buffer.alloc(512 - r) : undefined;
  }
  async dir(name: string): Promise<void> {
    await this.push(ustarHeader(name.endsWith('/') ? name : name + '/', 0, '5', 0o755));
  }
  async symlink(name: string, target: string): Promise<void> {
    await this.push(ustarHeader(name, 0, '2', 0o777, target));
  }
  async file(name: string, content: Buffer, mode = 0o644): Promise<void> {
    await this.push(ustarHeader(name, content.length, '0', mode));
    await this.push(content);
    const p = this.pad(content.length);
    if (p) await this.push(p);
  }
  /** A file whose content comes from chunks (for large files: never all in memory). */
  async fileChunks(name: string, size: number, chunk: (n: number) => Buffer): Promise<void> {
    await this.push(ustarHeader(name, size, '0', 0o644));
    let left = size;
    while (left > 0) {
      const n = Math.min(left, 1024 * 1024);
      await this.push(chunk(n));
      left -= n;
    }
    const p = this.pad(size);
    if (p) await this.push(p);
  }
  /** A file copied from disk. */
  async fileFrom(name: string, src: string, size: number, mode = 0o644): Promise<void> {
    await this.push(ustarHeader(name, size, '0', mode));
    await this.flush();
    for await (const c of createReadStream(src, { highWaterMark: 4 * 1024 * 1024 })) {
      await this.push(c as Buffer);
    }
    const p = this.pad(size);
    if (p) await this.push(p);
  }
  async close(): Promise<string> {
    await this.push(Buffer.alloc(1024));
    await this.flush();
    await this.fh.close();
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** Generate the image and write it as a Docker archive at `file`. */
export async function generateDockerArchive(file: string, opts: GenOptions): Promise<GenResult> {
  const nLayers = Math.max(1, opts.layers ?? 6);
  const seed = opts.seed ?? 'bale-bench';
  const tag = opts.tag ?? 'bench/generated:latest';
  const smallShare = opts.smallShare ?? 0.3;
  const smallMax = opts.smallMax ?? 16 * 1024;
  const symlinks = opts.symlinks ?? 0;
  const rng = new Prng(seed);
  const parts = `${file}.parts`;
  await fsp.rm(parts, { recursive: true, force: true });
  await fsp.mkdir(parts, { recursive: true });
  const perLayer = Math.floor(opts.totalBytes / nLayers);
  const layerFiles: { file: string; diffId: string; size: number }[] = [];
  let files = 0;
  let layerBytes = 0;
  try {
    for (let i = 0; i < nLayers; i++) {
      const t = await new TarFile(path.join(parts, `layer${i}.tar`)).open();
      const top = `l${i}`;
      if (i === 0 && opts.busybox) {
        const bb = await fsp.stat(opts.busybox);
        await t.dir('bin');
        await t.fileFrom('bin/busybox', opts.busybox, bb.size, 0o755);
        for (const applet of ['sh', 'true', 'cat', 'ls']) await t.symlink(`bin/${applet}`, 'busybox');
        files++;
      }
      await t.dir(top);
      // Large files: about 70 % of the layer in 2 to 4 files.
      let large = Math.floor(perLayer * (1 - smallShare));
      const nLarge = Math.max(1, Math.min(4, Math.round(large / (24 * 1024 * 1024)) || 1));
      await t.dir(`${top}/big`);
      for (let j = 0; j < nLarge; j++) {
        const size = j === nLarge - 1 ? large : Math.floor(large / (nLarge - j));
        large -= size;
        await t.fileChunks(`${top}/big/blob${j}.bin`, size, (n) => rng.bytes(n));
        files++;
      }
      // Small files: 512 B to 16 KiB, in directories of 200.
      let small = perLayer - Math.floor(perLayer * (1 - smallShare));
      let k = 0;
      while (small > 0) {
        if (k % 200 === 0) await t.dir(`${top}/small/d${k / 200}`);
        const size = Math.min(small, rng.int(512, smallMax));
        await t.file(`${top}/small/d${Math.floor(k / 200)}/f${k}.dat`, rng.bytes(size));
        small -= size;
        k++;
        files++;
      }
      if (i > 0) {
        // Something that changes a lower layer's file, as real image layers do.
        await t.dir('l0');
        await t.file(`l0/changed-by-${i}.txt`, Buffer.from(`layer ${i}\n`));
        files++;
      }
      await t.symlink(`${top}/latest`, 'big/blob0.bin');
      if (i === nLayers - 1) {
        for (let s = 0; s < symlinks; s++) {
          if (s % 1000 === 0) await t.dir(`${top}/links/d${s / 1000}`);
          await t.symlink(`${top}/links/d${Math.floor(s / 1000)}/s${s}`, `../../big/blob${s % nLarge}.bin`);
        }
      }
      const diffId = await t.close();
      layerFiles.push({ file: t.path, diffId, size: t.bytes });
      layerBytes += t.bytes;
    }
    const created = '2024-01-01T00:00:00Z';
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created,
        config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: layerFiles.map((l) => l.diffId) },
        history: layerFiles.map((_, i) => ({ created, created_by: `generated layer ${i}` })),
      }),
    );
    const configHex = createHash('sha256').update(config).digest('hex');
    const out = await new TarFile(file).open();
    const names: string[] = [];
    for (const l of layerFiles) {
      const hex = l.diffId.slice(7);
      await out.dir(hex);
      await out.fileFrom(`${hex}/layer.tar`, l.file, l.size);
      names.push(`${hex}/layer.tar`);
    }
    await out.file(`${configHex}.json`, config);
    await out.file('manifest.json', Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [tag], Layers: names }])));
    const [repo, tg] = splitTag(tag);
    await out.file('repositories', Buffer.from(JSON.stringify({ [repo]: { [tg]: names[names.length - 1]!.slice(0, 64) } })));
    await out.close();
    return {
      file,
      archiveBytes: out.bytes,
      layerBytes,
      files,
      symlinks,
      layers: nLayers,
      configDigest: `sha256:${configHex}`,
      diffIds: layerFiles.map((l) => l.diffId),
      tag,
    };
  } finally {
    await fsp.rm(parts, { recursive: true, force: true });
  }
}

function splitTag(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return i > ref.lastIndexOf('/') ? [ref.slice(0, i), ref.slice(i + 1)] : [ref, 'latest'];
}

/** Parse sizes such as 1G, 200M, 512k, 1000000. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${JSON.stringify(s)} (e.g. 1G, 200M)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}
