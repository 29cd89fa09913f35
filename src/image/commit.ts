// commit: an overlay upper dir (a container's read-write layer) as a new layer on top of its image.
// Overlay whiteout devices become `.wh.NAME`, opaque dirs `DIR/.wh..wh..opq`. The image's config is
// kept (not the container's command line), with one history entry. Knows nothing of containers:
// the runtime says where the upper dir is and what ran.
import { Readable } from 'node:stream';
import { applyChanges } from './change.js';
import { baseHistory, createImage, historyEntry, ociLayers, writeLayer } from './create.js';
import { packEntries } from '../layer/pack.js';
import { END_OF_ARCHIVE } from '../layer/tar-header.js';
import { walkDir } from '../layer/tree.js';
import type { Compression } from '../oci/media.js';
import type { ImageConfig } from '../oci/types.js';
import type { ImageRecord, Store } from '../store/store.js';
import { exists } from '../util/fsx.js';

export interface CommitOptions {
  /** The upper dir to commit (may be missing: an empty layer). */
  upper: string;
  /** The command that made the changes (the history entry's created_by). */
  createdBy: string;
  changes: string[];
  message?: string;
  author?: string;
  compression: Compression;
  tags: string[];
  onBytes?: (n: number) => void;
}

export async function commitLayer(store: Store, parent: ImageRecord, o: CommitOptions): Promise<ImageRecord> {
  const parentCfg = await store.config(parent);
  const runConfig = applyChanges(parentCfg.config ?? {}, o.changes);
  const source = (await exists(o.upper))
    ? Readable.from(packEntries(walkDir(o.upper, { overlayUpper: true })), { objectMode: false, highWaterMark: 1024 * 1024 })
    : Readable.from([END_OF_ARCHIVE]);
  const lock = await store.writerLock();
  try {
    const layer = await writeLayer(store, source, o.compression, o.onBytes);
    const created = new Date().toISOString();
    const config: ImageConfig = { ...parentCfg, created, config: runConfig };
    delete config['container'];
    delete config['container_config'];
    if (o.author) config.author = o.author;
    else delete config.author;
    config.history = [...baseHistory(parentCfg), historyEntry({ created_by: o.createdBy, author: o.author, comment: o.message }, created)];
    return await createImage(store, { config, layers: [...ociLayers(parent), layer], tags: o.tags });
  } finally {
    await lock.release();
  }
}
