// Whiteouts as they appear in layer tars (OCI image-spec layer.md, Docker's AUFS-style names).
import path from 'node:path';
import { inUserNamespace } from '../util/userns.js';

export const WH_PREFIX = '.wh.';
export const WH_OPAQUE = '.wh..wh..opq';
/**
 * The xattr overlayfs reads on an upper/lower dir to hide everything below it: trusted.* as the
 * host's root, user.* in a user namespace (where bale mounts overlay with `userxattr`).
 */
export function overlayOpaqueXattr(): string {
  return inUserNamespace() ? 'user.overlay.opaque' : 'trusted.overlay.opaque';
}

export type Whiteout =
  | { kind: 'opaque'; dir: string } // everything below `dir` in lower layers is hidden
  | { kind: 'file'; target: string }; // `target` (and anything below it) is hidden

/** Is this (cleaned) entry path a whiteout, and of what? */
export function parseWhiteout(p: string): Whiteout | undefined {
  if (!p.includes(WH_PREFIX)) return undefined;
  const base = path.posix.basename(p);
  if (!base.startsWith(WH_PREFIX)) return undefined;
  const dir = path.posix.dirname(p) === '.' ? '' : path.posix.dirname(p);
  if (base === WH_OPAQUE) return { kind: 'opaque', dir };
  const name = base.slice(WH_PREFIX.length);
  if (name === '' || name === '.' || name === '..') throw new Error(`whiteout ${JSON.stringify(p)}: names nothing`);
  return { kind: 'file', target: dir ? `${dir}/${name}` : name };
}
