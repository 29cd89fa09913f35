// Which repositories of which registry hold a blob, as far as this store has seen (pushes and pulls
// that completed): push uses it to ask a registry for a cross-repository mount instead of sending
// the bytes again. Only a hint: a registry that has lost the blob answers the mount with a plain
// upload, so a stale entry costs nothing. File: remotes.json under the store root.
import path from 'node:path';
import type { Digest } from '../oci/digest.js';
import { readJson, writeFileAtomic } from '../util/fsx.js';
import { withLock } from '../util/lock.js';
import type { Store } from './store.js';

type Remotes = Record<string, Record<string, string[]>>;

const file = (store: Store) => path.join(store.root, 'remotes.json');

/** Repositories of `registry` known to hold `digest` (most recent first). */
export async function reposWithBlob(store: Store, registry: string, digest: Digest): Promise<string[]> {
  const r = (await readJson<Remotes>(file(store)).catch(() => undefined)) ?? {};
  return r[registry]?.[digest] ?? [];
}

/** Note that `repo` of `registry` now holds `digests`. */
export async function recordRepoBlobs(store: Store, registry: string, repo: string, digests: Digest[]): Promise<void> {
  await withLock(path.join(store.lockDir, 'remotes'), 'exclusive', async () => {
    const r = (await readJson<Remotes>(file(store)).catch(() => undefined)) ?? {};
    const reg = (r[registry] ??= {});
    for (const d of digests) reg[d] = [repo, ...(reg[d] ?? []).filter((x) => x !== repo)].slice(0, 8);
    await writeFileAtomic(file(store), JSON.stringify(r));
  });
}
