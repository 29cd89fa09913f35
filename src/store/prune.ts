// image prune: delete the images nothing needs: untagged ones, or with `all` every image no
// container uses. Blobs another image shares stay (deleteImage goes by reference counts).
import type { Digest } from '../oci/digest.js';
import type { Store } from './store.js';

export interface PruneResult {
  untagged: string[];
  deleted: Digest[];
  /** Bytes of blobs removed. */
  bytes: number;
}

/** `inUse`: images that containers were made from (the store cannot know them). */
export async function pruneImages(store: Store, o: { all: boolean; inUse: Set<Digest> }): Promise<PruneResult> {
  const res: PruneResult = { untagged: [], deleted: [], bytes: 0 };
  const tags = await store.tags();
  const tagged = new Set(Object.values(tags));
  for (const rec of await store.images()) {
    if (o.inUse.has(rec.id) || (!o.all && tagged.has(rec.id))) continue;
    const r = await store.deleteImage(rec.id);
    res.untagged.push(...r.untagged);
    res.deleted.push(rec.id);
    res.bytes += r.bytes;
  }
  return res;
}
