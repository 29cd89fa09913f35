// RUN --mount, as BuildKit's Dockerfile frontend takes it, turned into the mounts bale's launcher
// applies in the step's container. Nothing mounted reaches the layer: mounts sit above the
// container's overlay, and the empty directories (or files) made only to mount on are removed from
// the read-write layer before it is packed (removeStubs).
//
//   type=bind   (the default type) source= (default the root) from the build context, or from=
//               a stage or an image; read-only unless rw: writes then go to a scratch upper layer
//               that is thrown away (an overlay over the source), never to the context or the store.
//   type=cache  a directory kept in the store (build-cache/mounts/<sha256 of id>, id= default the
//               target), read-write, the same for every build that names the same id; mode= uid=
//               gid= set it up the first time. `bale gc --build-cache` removes them.
//   type=tmpfs  an empty tmpfs (size=).
//   secret, ssh refused: bale builds offline, with no session to take them from.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { getAttribute } from 'fs-xattr';
import { isDir } from '../../layer/tree.js';
import { sha256 } from '../../oci/digest.js';
import type { MountSpec } from '../../runtime/mounts.js';
import type { Store } from '../../store/store.js';

export interface RunMount {
  type: 'bind' | 'cache' | 'tmpfs';
  target: string;
  source: string;
  from?: string;
  readOnly: boolean;
  id?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
}

/** Where cache mounts live in the store. */
export function cacheMountsDir(store: Store): string {
  return path.join(store.root, 'build-cache', 'mounts');
}

function bool(v: string | undefined, key: string): boolean {
  if (v === undefined || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new Error(`${key}=${v}: wants true or false`);
}

function num(v: string | undefined, key: string, base: number): number {
  const re = base === 8 ? /^[0-7]{1,4}$/ : /^\d+$/;
  if (v === undefined || !re.test(v)) throw new Error(`${key}=${v ?? ''}: wants ${base === 8 ? 'an octal mode' : 'a number'}`);
  return parseInt(v, base);
}

/** One `--mount=` value (comma-separated key=value fields); a relative target is in `workdir`. Errors are plain: the caller names the line. */
export function parseRunMount(spec: string, workdir = '/'): RunMount {
  let type = 'bind';
  const fields = new Map<string, string | undefined>();
  for (const f of spec.split(',')) {
    if (f === '') continue;
    const eq = f.indexOf('=');
    const k = (eq < 0 ? f : f.slice(0, eq)).toLowerCase();
    const v = eq < 0 ? undefined : f.slice(eq + 1);
    if (k === 'type') type = v ?? '';
    else fields.set(k, v);
  }
  if (type === 'secret' || type === 'ssh') throw new Error(`type=${type} is not supported: bale builds offline, with no BuildKit session to take ${type === 'ssh' ? 'an ssh agent' : 'secrets'} from`);
  if (type !== 'bind' && type !== 'cache' && type !== 'tmpfs') throw new Error(`unknown mount type ${JSON.stringify(type)} (bind, cache, tmpfs)`);
  const m: RunMount = { type, target: '', source: '', readOnly: type === 'bind' };
  for (const [k, v] of fields) {
    switch (k) {
      case 'target': case 'dst': case 'destination': m.target = v ?? ''; break;
      case 'source': case 'src': m.source = v ?? ''; break;
      case 'from': m.from = v ?? ''; break;
      case 'readonly': case 'ro': m.readOnly = bool(v, k); break;
      case 'readwrite': case 'rw': m.readOnly = !bool(v, k); break;
      case 'id': if (type !== 'cache') throw new Error(`id= is for type=cache`); m.id = v ?? ''; break;
      case 'sharing': if (!['shared', 'private', 'locked'].includes(v ?? '')) throw new Error(`sharing=${v ?? ''}: wants shared, private or locked`); break; // builds hold the store's writer lock: always one at a time
      case 'mode': if (type !== 'cache') throw new Error(`mode= is for type=cache`); m.mode = num(v, k, 8); break;
      case 'uid': if (type !== 'cache') throw new Error(`uid= is for type=cache`); m.uid = num(v, k, 10); break;
      case 'gid': if (type !== 'cache') throw new Error(`gid= is for type=cache`); m.gid = num(v, k, 10); break;
      case 'size': if (type !== 'tmpfs') throw new Error(`size= is for type=tmpfs`); m.size = num(v, k, 10); break;
      default: throw new Error(`unknown key ${JSON.stringify(k)} in --mount=${spec}`);
    }
  }
  if (!m.target) throw new Error('a mount needs target=');
  m.target = path.posix.normalize(m.target.startsWith('/') ? m.target : path.posix.join('/', workdir, m.target)).replace(/(.)\/+$/, '$1');
  if (m.target === '/') throw new Error('target=/ cannot be mounted over');
  if (/[\t\n\r:,]/.test(m.target)) throw new Error(`target=${m.target}: tabs, newlines, ':' and ',' are not allowed`);
  if (m.type === 'cache' && (m.from !== undefined || m.source)) throw new Error('type=cache with from= or source= (seeding a cache) is not supported');
  if (m.type === 'tmpfs' && (m.from !== undefined || m.source)) throw new Error('type=tmpfs takes no from= or source=');
  return m;
}

/** The cache mount's directory, made (with mode, uid, gid) the first time an id is used. */
export async function cacheMount(store: Store, m: RunMount): Promise<MountSpec> {
  const dir = path.join(cacheMountsDir(store), sha256(m.id || m.target).slice(7));
  if (!(await fsp.stat(dir).catch(() => undefined))) {
    await fsp.mkdir(cacheMountsDir(store), { recursive: true, mode: 0o700 });
    const tmp = store.tmpPath('cache-mount');
    await fsp.mkdir(tmp);
    await fsp.chmod(tmp, m.mode ?? 0o755);
    await fsp.chown(tmp, m.uid ?? 0, m.gid ?? 0);
    await fsp.rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      await fsp.rm(tmp, { recursive: true, force: true });
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
  }
  return { type: 'bind', source: dir, target: m.target, readOnly: m.readOnly };
}

/** A directory on the host as the mount: bound, or (rw) under an overlay whose upper is scratch. */
export async function dirMount(lowerTopFirst: string[], m: RunMount, scratch: () => Promise<string>): Promise<MountSpec> {
  if (m.readOnly && lowerTopFirst.length === 1) return { type: 'bind', source: lowerTopFirst[0]!, target: m.target, readOnly: true };
  if (m.readOnly) return { type: 'overlay', source: '', target: m.target, readOnly: true, overlay: { lower: lowerTopFirst } };
  const s = await scratch();
  await fsp.mkdir(path.join(s, 'upper'));
  await fsp.mkdir(path.join(s, 'work'));
  return { type: 'overlay', source: '', target: m.target, readOnly: false, overlay: { lower: lowerTopFirst, upper: path.join(s, 'upper'), work: path.join(s, 'work') } };
}

/** The unpacked layers (top first) that hold directory `rel`, down to one that makes it opaque. */
export async function layersWithDir(diffsTopFirst: string[], rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of diffsTopFirst) {
    const abs = rel === '' ? d : path.join(d, rel);
    const st = await fsp.lstat(abs, { bigint: true }).catch(() => undefined);
    if (!st) continue;
    if (!isDir(st)) break; // a file or whiteout here hides the layers below
    out.push(abs);
    const opaque = await getAttribute(abs, 'trusted.overlay.opaque').catch(() => undefined);
    if (opaque?.toString() === 'y') break;
  }
  return out;
}

/** What the image has at a path (for removeStubs): its mode and owner, or undefined. */
export type InImage = (abs: string) => Promise<{ mode: number; uid: number; gid: number } | undefined>;

/**
 * Remove from a RUN container's read-write layer what the launcher made only to mount on: for each
 * target the image did not have, the empty directory (or empty file), and its parents that are empty
 * and were not in the image either. A parent the image has, copied up only because a mount point was
 * made in it, goes too when it is empty and its mode and owner are the image's (nothing but its time
 * changed).
 */
export async function removeStubs(upper: string, targets: string[], inImage: InImage): Promise<void> {
  for (const t of [...targets].sort((a, b) => b.length - a.length)) {
    for (let p = t; p !== '/'; p = path.posix.dirname(p)) {
      const abs = path.join(upper, p);
      const st = await fsp.lstat(abs).catch(() => undefined);
      const was = await inImage(p);
      if (!st) {
        if (was) break;
        continue;
      }
      if (was) {
        const same = st.isDirectory() && (st.mode & 0o7777) === (was.mode & 0o7777) && st.uid === was.uid && st.gid === was.gid;
        const opaque = await getAttribute(abs, 'trusted.overlay.opaque').catch(() => undefined);
        if (!same || opaque || (await fsp.readdir(abs)).length) break;
        await fsp.rmdir(abs);
      } else if (st.isDirectory()) {
        if ((await fsp.readdir(abs)).length) break;
        await fsp.rmdir(abs);
      } else if (st.isFile() && st.size === 0) await fsp.rm(abs);
      else break;
    }
  }
}
