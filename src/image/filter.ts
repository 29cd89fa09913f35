// Which images docker's `images --filter` keys select: dangling, reference, label, before, since.
import type { Store } from '../store/store.js';
import { BaleError } from '../util/errors.js';
import { boolValue, globMatch, labelsMatch, type Filters } from '../util/filters.js';

export const IMAGE_FILTERS = ['dangling', 'reference', 'label', 'before', 'since'] as const;

/** One row of a listing: an image under one of its names (or none). */
export interface ImageFacts {
  repository?: string;
  tag?: string;
  created: string;
  labels?: Record<string, string>;
}

/** A predicate for the filters; before/since name images, resolved once here. */
export async function imageFilter(store: Store, f: Filters): Promise<(i: ImageFacts) => boolean> {
  const createdOf = async (ref: string) => {
    const rec = await store.tryResolve(ref);
    if (!rec) throw new BaleError(`No such image: ${ref}`);
    return (await store.config(rec)).created ?? '';
  };
  const before = await Promise.all((f.get('before') ?? []).map(createdOf));
  const since = await Promise.all((f.get('since') ?? []).map(createdOf));
  const dangling = f.get('dangling')?.map((v) => boolValue('dangling', v));
  const refs = f.get('reference');
  return (i) => {
    if (dangling && !dangling.includes(i.repository === undefined)) return false;
    if (refs && !(i.repository && refs.some((p) => globMatch(p, i.repository!) || globMatch(p, `${i.repository}:${i.tag}`)))) return false;
    if (!labelsMatch(f.get('label'), i.labels)) return false;
    if (before.length && !before.every((t) => i.created < t)) return false;
    if (since.length && !since.every((t) => i.created > t)) return false;
    return true;
  };
}
