// Every extended attribute of a file in one native call (dist/native/xattr.node, from
// src/util/native/xattr.c): the packer asks this of each file it packs, where fs-xattr would
// take a list call, a size query and an array per file, most of them for files that have none.
import { createRequire } from 'node:module';

interface XattrModule {
  list(pathOrFd: string | number): (string | Buffer)[] | undefined;
}

/** Loaded on first use: verbs that pack nothing skip the dlopen. */
let xattrModule: XattrModule | undefined;

/**
 * The xattrs of `path` (not following a symlink) or of open file `fd` as a map, or undefined when
 * it has none, the file system keeps none, or the path is gone.
 */
export function readXattrMap(pathOrFd: string | number): Map<string, Buffer> | undefined {
  const flat = (xattrModule ??= createRequire(import.meta.url)('../../native/xattr.node') as XattrModule).list(pathOrFd);
  if (!flat) return undefined;
  const out = new Map<string, Buffer>();
  for (let i = 0; i < flat.length; i += 2) out.set(flat[i] as string, flat[i + 1] as Buffer);
  return out;
}
