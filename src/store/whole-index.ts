// The multi-platform index an image was loaded or pulled with (`--all-platforms`), with the images
// it names: save writes it back whole and push sends it whole, so it keeps its digest. Only when the
// store still has an image for every manifest the index lists (under that very manifest); otherwise
// there is no whole index and the image travels alone.
import { sha256 } from '../oci/digest.js';
import type { Descriptor, Index } from '../oci/types.js';
import { BaleError } from '../util/errors.js';
import type { ImageRecord, Store } from './store.js';

export interface WholeIndex {
  descriptor: Descriptor;
  bytes: Buffer;
  /** The image of each manifest the index lists, in its order. */
  images: ImageRecord[];
}

export async function wholeIndex(store: Store, rec: ImageRecord): Promise<WholeIndex | undefined> {
  if (!rec.index || !(await store.hasBlob(rec.index.digest))) return undefined;
  const bytes = await store.readBlob(rec.index.digest);
  if (sha256(bytes) !== rec.index.digest) throw new BaleError(`index ${rec.index.digest} in the store is damaged (run bale fsck)`);
  const doc = JSON.parse(bytes.toString('utf8')) as Index;
  const byManifest = new Map((await store.images()).map((r) => [r.manifest.digest, r]));
  const images = (doc.manifests ?? []).map((m) => byManifest.get(m.digest));
  if (images.length === 0 || images.some((c) => !c)) return undefined;
  return { descriptor: rec.index, bytes, images: images as ImageRecord[] };
}
