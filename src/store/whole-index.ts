// The multi-platform index an image was loaded or pulled with (`--all-platforms`), with the images
// it names: save writes it back whole and push sends it whole, so it keeps its digest. Only when the
// store still has an image for every manifest the index lists (under that very manifest); otherwise
// there is no whole index and the image travels alone. And one platform's image out of it (push
// --platform).
import { sha256 } from '../oci/digest.js';
import { formatPlatform, platformMatches, type Platform } from '../oci/platform.js';
import type { Descriptor, Index } from '../oci/types.js';
import { BaleError } from '../util/errors.js';
import type { ImageRecord, Store } from './store.js';

export interface WholeIndex {
  descriptor: Descriptor;
  bytes: Buffer;
  /** The image of each manifest the index lists, in its order. */
  images: ImageRecord[];
}

/** The index `rec` came with, as stored (undefined if it has none or the store lost it). */
async function storedIndex(store: Store, rec: ImageRecord): Promise<{ bytes: Buffer; doc: Index } | undefined> {
  if (!rec.index || !(await store.hasBlob(rec.index.digest))) return undefined;
  const bytes = await store.readBlob(rec.index.digest);
  if (sha256(bytes) !== rec.index.digest) throw new BaleError(`index ${rec.index.digest} in the store is damaged (run bale fsck)`);
  return { bytes, doc: JSON.parse(bytes.toString('utf8')) as Index };
}

export async function wholeIndex(store: Store, rec: ImageRecord): Promise<WholeIndex | undefined> {
  const stored = await storedIndex(store, rec);
  if (!stored || !rec.index) return undefined;
  const { bytes, doc } = stored;
  const byManifest = new Map((await store.images()).map((r) => [r.manifest.digest, r]));
  const images = (doc.manifests ?? []).map((m) => byManifest.get(m.digest));
  if (images.length === 0 || images.some((c) => !c)) return undefined;
  return { descriptor: rec.index, bytes, images: images as ImageRecord[] };
}

/**
 * The image of `want` for `rec` (`name` in messages): the first stored image the index `rec` came
 * with lists for that platform, else `rec` itself if its config is of that platform.
 */
export async function platformImage(store: Store, rec: ImageRecord, want: Platform, name: string): Promise<ImageRecord> {
  const stored = await storedIndex(store, rec);
  if (stored) {
    const byManifest = new Map((await store.images()).map((r) => [r.manifest.digest, r]));
    const entries = (stored.doc.manifests ?? []).filter((m) => m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
    const found = entries.filter((m) => m.platform && platformMatches(m.platform, want)).map((m) => byManifest.get(m.digest)).find((r) => r);
    if (found) return found;
    const has = entries.filter((m) => byManifest.has(m.digest)).map((m) => formatPlatform(m.platform));
    throw new BaleError(`${name}: no image for ${formatPlatform(want)} in its index ${rec.index!.digest} (the store has ${has.join(', ') || 'none of its images'})`);
  }
  const config = await store.readJsonBlob<Partial<Platform>>(rec.config.digest);
  if (config.os && config.architecture && platformMatches(config, want)) return rec;
  throw new BaleError(`${name} is ${formatPlatform(config)}, not ${formatPlatform(want)} (and has no multi-platform index)`);
}
