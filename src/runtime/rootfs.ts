// The layer directories whose merged view is a container's (or an image's) filesystem, top first:
// what export, diff and squash read without mounting anything.
import { containerPaths, findContainer, lowerDirs, type ContainerRecord } from './container.js';
import { unpackLayers } from '../store/layers.js';
import type { Store } from '../store/store.js';
import { BaleError } from '../util/errors.js';
import { exists } from '../util/fsx.js';
import { holdStill } from './pause.js';

/**
 * A container's read-only layers, top first (init, then the image's layers): the runtime's
 * lowerDirs when the record names its layers and they are unpacked, else unpacked from its image.
 */
export async function containerLowers(store: Store, rec: ContainerRecord): Promise<string[]> {
  if (rec.layers) {
    const dirs = lowerDirs(store, rec);
    let all = true;
    for (const d of dirs.slice(1)) if (!(await exists(d))) all = false;
    if (all) return dirs;
  }
  const img = await store.image(rec.image);
  if (!img) throw new BaleError(`container ${rec.name}: its image ${rec.image} is gone from the store`);
  return [containerPaths(store, rec.id).init, ...(await unpackLayers(store, img)).reverse()];
}

/** The container named `nameOrId`, or undefined if there is none. */
async function containerOrNone(store: Store, nameOrId: string): Promise<ContainerRecord | undefined> {
  try {
    return await findContainer(store, nameOrId);
  } catch (e) {
    if (e instanceof BaleError && /^No such container/.test(e.message)) return undefined;
    throw e;
  }
}

/**
 * Run `read` over the layer dirs (top first) of a container (upper, init, image layers: the view
 * it shows), held still while it runs (pause.ts), or, failing that, of an image.
 */
export async function readLayersOf<T>(store: Store, target: string, read: (layers: string[]) => Promise<T>): Promise<T> {
  const rec = await containerOrNone(store, target);
  if (rec) {
    const layers = [containerPaths(store, rec.id).upper, ...(await containerLowers(store, rec))];
    return holdStill(store, rec, () => read(layers));
  }
  const img = await store.tryResolve(target);
  if (!img) throw new BaleError(`No such container or image: ${target}`);
  return read((await unpackLayers(store, img)).reverse());
}
