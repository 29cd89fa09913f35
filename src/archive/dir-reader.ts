// Reading an image directory as if it were an archive tar: an OCI image layout (`skopeo copy oci:DIR`,
// umoci), an unpacked Docker archive (`docker save | tar -x`), or the containers `dir:` layout
// (`skopeo copy dir:DIR`, `podman save --format docker-dir`). Every regular file goes through the
// same scan as an archive entry (hashed, sniffed, layers checked entry by entry), so layouts.ts
// verifies a directory exactly as it verifies a tar. Symlinks are never followed on disk: they are
// kept as links inside the archive, as scan.ts keeps a tar's.
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { hexOf } from '../oci/digest.js';
import { MT } from '../oci/media.js';
import type { Index } from '../oci/types.js';
import { archivePath, scanFile, type ScannedArchive, type ScannedFile, type ScanOptions } from './scan.js';

/** Scan every file below `dir`; a containers `dir:` layout is presented as the OCI layout it maps to. */
export async function scanDirectory(dir: string, opts: ScanOptions): Promise<ScannedArchive> {
  const files = new Map<string, ScannedFile>();
  const links = new Map<string, string>();
  let read = 0;
  const scanOne = async (abs: string, name: string, size: number) => {
    const counted = new PassThrough({ highWaterMark: 1024 * 1024 });
    counted.on('data', (b: Buffer) => {
      read += b.length;
      opts.onProgress?.(read);
    });
    const src = createReadStream(abs, { highWaterMark: 1024 * 1024 });
    src.on('error', (e) => counted.destroy(e));
    try {
      files.set(name, await scanFile(src.pipe(counted), name, size, opts));
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`, { cause: e });
    }
  };
  try {
    const walk = async (rel: string): Promise<void> => {
      const names = (await fsp.readdir(path.join(dir, rel))).sort();
      for (const n of names) {
        const r = rel ? `${rel}/${n}` : n;
        const abs = path.join(dir, r);
        const st = await fsp.lstat(abs);
        if (st.isDirectory()) await walk(r);
        else if (st.isSymbolicLink()) links.set(archivePath(r), archivePath(path.posix.join(path.posix.dirname(r), await fsp.readlink(abs))));
        else if (st.isFile()) await scanOne(abs, archivePath(r), st.size);
      }
    };
    await walk('');
    if (files.size === 0) throw new Error('empty directory');
    if (isContainersDir(files)) return { files: await asOciLayout(files, opts), links: new Map() };
    return { files, links };
  } catch (e) {
    await Promise.allSettled([...files.values()].map((f) => fsp.rm(f.tmp, { force: true })));
    throw new Error(`${opts.label}: ${(e as Error).message}`, { cause: e });
  }
}

/** containers/image's `dir:` transport: a `version` file and a manifest.json that is one manifest (or index), not docker's list. */
function isContainersDir(files: Map<string, ScannedFile>): boolean {
  const v = files.get('version');
  const m = files.get('manifest.json');
  return Boolean(v && m?.json && !files.has('index.json') && m.json.toString('utf8').trimStart().startsWith('{'));
}

/**
 * `dir:` names blobs by their hex digest, the top manifest `manifest.json` and, for a multi-platform
 * image, each instance `HEX.manifest.json`. Renamed to `blobs/sha256/HEX` they are an OCI layout
 * whose index.json names the top manifest; layouts.ts then checks each name against its content.
 */
async function asOciLayout(files: Map<string, ScannedFile>, opts: ScanOptions): Promise<Map<string, ScannedFile>> {
  const out = new Map<string, ScannedFile>();
  const top = files.get('manifest.json')!;
  for (const [name, f] of files) {
    const m = /^([a-f0-9]{64})(\.manifest\.json)?$/.exec(name);
    if (m) out.set(`blobs/sha256/${m[1]}`, { ...f, name: `blobs/sha256/${m[1]}` });
    else if (name !== 'manifest.json') await fsp.rm(f.tmp, { force: true });
  }
  out.set(`blobs/sha256/${hexOf(top.digest)}`, { ...top, name: `blobs/sha256/${hexOf(top.digest)}` });
  let mediaType: string = MT.ociManifest;
  try {
    mediaType = (JSON.parse(top.json!.toString('utf8')) as { mediaType?: string }).mediaType ?? mediaType;
  } catch {
    // layouts.ts names the broken manifest when it reads it.
  }
  const index: Index = { schemaVersion: 2, manifests: [{ mediaType, digest: top.digest, size: top.size }] };
  const synth = async (name: string, text: string) => {
    const b = Buffer.from(text);
    out.set(name, await scanFile(Readable.from([b]), name, b.length, opts));
  };
  await synth('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await synth('index.json', JSON.stringify(index));
  return out;
}
