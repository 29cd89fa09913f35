// squash: an image flattened into one layer, keeping its whole config and its history (old entries
// marked empty_layer, one entry for the new layer).
import { applyChanges } from './change.js';
import { baseHistory, createImage, historyEntry, writeLayer } from './create.js';
import { packStream } from '../layer/pack.js';
import { walkMerged } from '../layer/tree.js';
import { shortId } from '../oci/digest.js';
import type { Compression } from '../oci/media.js';
import type { ImageConfig } from '../oci/types.js';
import { unpackLayers } from '../store/layers.js';
import type { ImageRecord, Store } from '../store/store.js';

export interface SquashOptions {
  /** `--change` instructions applied to the config. */
  changes: string[];
  /** History comment (default: what was squashed). */
  message?: string;
  compression: Compression;
  tags: string[];
  /** Bytes of layer tar written so far. */
  onBytes?: (n: number) => void;
}

export async function squashImage(store: Store, img: ImageRecord, o: SquashOptions): Promise<ImageRecord> {
  const cfg = await store.config(img);
  const runConfig = applyChanges(cfg.config ?? {}, o.changes);
  const layers = (await unpackLayers(store, img)).reverse();
  const lock = await store.writerLock();
  try {
    const packed = { entries: 0, bytes: 0 };
    const layer = await writeLayer(store, packStream(walkMerged(layers), {}, packed), o.compression, o.onBytes, packed);
    const created = new Date().toISOString();
    const message = o.message || `squashed ${img.layers.length} layer${img.layers.length === 1 ? '' : 's'} of ${shortId(img.id)}`;
    const config: ImageConfig = {
      ...cfg,
      created,
      config: runConfig,
      history: [...baseHistory(cfg).map((h) => ({ ...h, empty_layer: true })), historyEntry({ created_by: 'bale squash', comment: message }, created)],
    };
    return await createImage(store, { config, layers: [layer], tags: o.tags });
  } finally {
    await lock.release();
  }
}
