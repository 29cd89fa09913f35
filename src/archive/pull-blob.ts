// One blob arriving from a registry (bale pull): each chunk is written to the store's temp space and
// then handed to a worker thread that examines the blob as it comes (hash, sniff, layer check:
// examine-pool.ts), so the checking of one layer runs beside the download of the others instead of
// after it (scan.ts's writeExamined: pieces gathered to 1 MiB, each moved to the worker whole). The digest and size are checked against the manifest's
// descriptor as soon as the last byte is in: a blob that is not what it should be is refused there
// and its temp file removed.
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { hexOf } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import { BaleError } from '../util/errors.js';
import { examineArriving } from './examine-pool.js';
import { syncFile, writeExamined, type ScannedFile, type ScanOptions } from './scan.js';

export interface ReceiveOptions {
  /** Told each chunk's size as it is written. */
  onBytes?: (n: number) => void;
  /** Aborting it stops the download and the examination, and removes the temp file. */
  signal?: AbortSignal;
}

/**
 * Receive `body` (`size` bytes, as the registry announced) as the blob `d`; `what` names it in
 * messages.
 */
export async function receiveBlob(body: Readable, d: Descriptor, size: number, what: string, scan: ScanOptions, opts: ReceiveOptions = {}): Promise<ScannedFile> {
  const name = `blobs/sha256/${hexOf(d.digest)}`;
  const tmp = scan.tmpPath('pull');
  const examination = examineArriving(name, size);
  const total = await writeExamined(body, tmp, examination, { onBytes: opts.onBytes, signal: opts.signal, why: `${what}: download failed` });
  // Its fsync starts now, so the disk flushes it while the other blobs arrive.
  const synced = syncFile(tmp);
  examination.end();
  try {
    const facts = await examination.result;
    if (total !== size) throw new BaleError(`${what}: truncated (${total} of ${size} bytes)`);
    if (facts.digest !== d.digest) throw new BaleError(`${what}: digest mismatch (content is ${facts.digest})`);
    return { name, tmp, ...facts, synced };
  } catch (e) {
    await synced;
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}
