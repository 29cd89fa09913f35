// `bale verify`: read an archive or image directory the way load does (every file hashed, every
// layer decompressed and checked entry by entry, every manifest, config and layer descriptor held
// to its digest, size and diff_id) and report what is wrong, without writing anything anywhere.
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { hexOf } from '../oci/digest.js';
import { oneLine } from '../util/errors.js';
import { readImages } from './layouts.js';
import { scanArchive, type ScannedArchive, type ScanOptions } from './scan.js';
import { scanDirectory } from './dir-reader.js';

export interface VerifyReport {
  problems: string[];
  images: number;
  files: number;
  bytes: number;
}

export async function verifyArchive(input: Readable | { dir: string }, opts: { label: string; os: string; architecture: string; onProgress?: (n: number) => void }): Promise<VerifyReport> {
  const { label } = opts;
  // Nothing is written (discard): the temp names are never created.
  const never = path.join(os.tmpdir(), `bale-verify-${process.pid}-never-written`);
  const scan: ScanOptions = { label, discard: true, tmpPath: () => never, onProgress: opts.onProgress };
  let arc: ScannedArchive;
  try {
    arc = 'dir' in input ? await scanDirectory(input.dir, scan) : await scanArchive(input, scan);
  } catch (e) {
    return { problems: [oneLine(e)], images: 0, files: 0, bytes: 0 };
  }
  const problems: string[] = [];
  const bad: string[] = [];
  const files = [...arc.files.values()];
  // Blobs named by digest are checked whether or not a manifest names them.
  for (const f of files) {
    const m = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(f.name);
    if (m && hexOf(f.digest) !== m[1]) {
      problems.push(`${label}: ${f.name}: digest mismatch (content is ${f.digest})`);
      bad.push(f.digest);
    }
  }
  let images = 0;
  try {
    // An empty store: every layer must be in the archive (a delta archive is reported as incomplete).
    const found = await readImages(arc, { hasBlob: async () => false, layerByDiffId: async () => undefined }, { label, os: opts.os, architecture: opts.architecture });
    images = found.length;
    if (images === 0) problems.push(`${label}: holds no image`);
  } catch (e) {
    // The layout reader stops at its first problem; skip it when it is a blob already named above.
    const line = oneLine(e);
    if (!bad.some((d) => line.includes(d))) problems.push(line);
  }
  return { problems, images, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
}
