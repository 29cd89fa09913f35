// COPY and ADD: lay the files out in a staging directory exactly as the new layer holds them, then
// the caller packs that directory into a layer tar. No mount: the image's filesystem is only read
// (merged layers, to resolve the destination and keep the metadata of directories that exist).
//
// Rules (docker's): a directory source copies its contents; a file goes to DEST/name when DEST ends
// in '/' or is a directory in the image, else to DEST itself; missing directories on the way are
// made (0755, owned like the copy); everything copied is owned by 0:0 unless --chown; modes are kept
// unless --chmod; ADD unpacks a local tar (plain, gzip or zstd) into DEST instead of copying it.
import { createReadStream, promises as fsp, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { sniffCompression } from '../../layer/compression.js';
import { isDir } from '../../layer/tree.js';
import { BaleError } from '../../util/errors.js';
import { unpackPlainTar } from '../source.js';
import { globTree, hasGlob, hashSource, isSymlink, resolveInTree, type Found, type Tree } from './context.js';

export interface CopySource {
  tree: Tree;
  /** Path in the tree (symlinks resolved). */
  rel: string;
  found: Found;
}

export interface CopyPlan {
  /** The image being built on. */
  image: Tree;
  sources: CopySource[];
  /** Absolute destination in the image (a trailing '/' means a directory). */
  dest: string;
  owner: { uid: number; gid: number };
  chmod?: number;
  /** ADD: unpack local tars. */
  extract: boolean;
}

const S_IFMT = 0o170000n;
const isFile = (f: Found): boolean => (f.st.mode & S_IFMT) === 0o100000n;

/** Is this file a tar (plain, gzip or zstd) that ADD unpacks? */
async function isArchive(abs: string): Promise<boolean> {
  const fh = await fsp.open(abs, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    const b = head.subarray(0, bytesRead);
    const c = sniffCompression(b);
    if (c === 'gzip' || c === 'zstd') return true;
    if (c === 'bzip2' || c === 'xz') throw new BaleError(`${path.basename(abs)}: ${c} archives are not supported by ADD (use plain, gzip or zstd)`);
    return bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    await fh.close();
  }
}

class Stager {
  constructor(private readonly root: string, private readonly plan: CopyPlan) {}

  private at(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  /** Make directory `rel` in the staging tree with its parents; those the image has keep its metadata. */
  async ensureDir(rel: string, fresh?: { mode: number }): Promise<void> {
    const parts = rel.split('/').filter(Boolean);
    for (let n = 1; n <= parts.length; n++) {
      const p = parts.slice(0, n).join('/');
      const abs = this.at(p);
      if (await fsp.lstat(abs).then(() => true, () => false)) continue;
      const inImage = await this.plan.image.lookup(p);
      if (inImage && isDir(inImage.st)) {
        await fsp.mkdir(abs);
        await fsp.chmod(abs, Number(inImage.st.mode) & 0o7777);
        await fsp.lchown(abs, Number(inImage.st.uid), Number(inImage.st.gid));
        await fsp.utimes(abs, new Date(Number(inImage.st.atimeMs / 1000n) * 1000), new Date(Number(inImage.st.mtimeMs / 1000n) * 1000));
      } else {
        await fsp.mkdir(abs);
        const mode = n === parts.length && fresh ? fresh.mode : 0o755;
        await fsp.chmod(abs, this.plan.chmod !== undefined && n === parts.length && fresh ? this.plan.chmod : mode);
        await fsp.lchown(abs, this.plan.owner.uid, this.plan.owner.gid);
      }
    }
  }

  /** Copy one tree entry (recursively for a directory) to `dst` in the staging tree. */
  async copy(tree: Tree, full: string, f: Found, dst: string): Promise<void> {
    const { uid, gid } = this.plan.owner;
    const abs = this.at(dst);
    const mode = Number(f.st.mode) & 0o7777;
    const mtime = new Date(Number(f.st.mtimeMs / 1000n) * 1000);
    if (isDir(f.st)) {
      await this.ensureDir(dst, { mode });
      for (const n of await tree.list(full)) {
        const child = full === '' ? n : `${full}/${n}`;
        const cf = await tree.lookup(child);
        if (cf) await this.copy(tree, child, cf, dst === '' ? n : `${dst}/${n}`);
      }
      if (dst !== '') await fsp.utimes(abs, mtime, mtime);
      return;
    }
    await this.ensureDir(path.posix.dirname(dst) === '.' ? '' : path.posix.dirname(dst));
    await fsp.rm(abs, { recursive: true, force: true });
    if (isSymlink(f.st)) {
      await fsp.symlink(readlinkSync(f.abs), abs);
      await fsp.lchown(abs, uid, gid);
      await fsp.lutimes(abs, mtime, mtime);
    } else if (isFile(f)) {
      await fsp.copyFile(f.abs, abs);
      await fsp.chmod(abs, this.plan.chmod ?? mode);
      await fsp.lchown(abs, uid, gid);
      await fsp.utimes(abs, mtime, mtime);
    }
    // sockets, fifos and devices are not copied (docker's context never carries them)
  }

  async run(): Promise<void> {
    const plan = this.plan;
    const wantDir = plan.dest.endsWith('/');
    const destRel = plan.dest.replace(/^\/+/, '');
    const dest = await resolveInTree(plan.image, destRel);
    const destIsDir = wantDir || (dest.found !== undefined && isDir(dest.found.st));
    for (const s of plan.sources) {
      if (isDir(s.found.st)) {
        await this.copy(s.tree, s.rel, s.found, dest.rel);
      } else if (plan.extract && isFile(s.found) && (await isArchive(s.found.abs))) {
        await this.ensureDir(dest.rel);
        const what = path.posix.basename(s.rel);
        await unpackPlainTar(createReadStream(s.found.abs), this.at(dest.rel), what);
      } else {
        const target = destIsDir ? path.posix.join(dest.rel, path.posix.basename(s.rel)) : dest.rel;
        if (target === '') throw new BaleError(`cannot copy ${s.rel} onto the root directory`);
        await this.copy(s.tree, s.rel, s.found, target);
      }
    }
  }
}

/** Lay out the files of one COPY/ADD in `stagingDir` (an empty directory). */
export async function stageCopy(plan: CopyPlan, stagingDir: string): Promise<void> {
  await new Stager(stagingDir, plan).run();
}

/** Lay out directory `dir` (absolute, no symlinks on the way) as WORKDIR makes it: new parts 0755 root. */
export async function stageDir(image: Tree, dir: string, stagingDir: string): Promise<void> {
  await new Stager(stagingDir, { image, sources: [], dest: dir, owner: { uid: 0, gid: 0 }, extract: false }).ensureDir(dir.replace(/^\/+/, ''));
}

/**
 * The sources of one COPY/ADD: each pattern (a path or a glob, relative to the tree's root) found in
 * the tree, symlinks followed in scope, with a digest of what each holds (the cache key).
 */
export async function findSources(tree: Tree, patterns: string[], where: string): Promise<{ sources: CopySource[]; hashes: string[] }> {
  const sources: CopySource[] = [];
  const hashes: string[] = [];
  for (const raw of patterns) {
    const rel = path.posix.normalize(raw).replace(/^\/+/, '').replace(/\/+$/, '');
    if (rel === '..' || rel.startsWith('../')) throw new BaleError(`${raw}: forbidden path outside the build context`);
    const clean = rel === '.' ? '' : rel;
    let any = false;
    for (const m of hasGlob(clean) ? await globTree(tree, clean) : [clean]) {
      const r = await resolveInTree(tree, m).catch(() => ({ rel: m, found: undefined }));
      if (!r.found) continue;
      any = true;
      sources.push({ tree, rel: r.rel, found: r.found });
      hashes.push(`${r.rel}:${await hashSource(tree, r.rel, r.found)}`);
    }
    if (!any) throw new BaleError(`${raw}: no such file in ${where}`);
  }
  return { sources, hashes };
}

/** A user or group name (or number) looked up in the image's /etc/passwd or /etc/group. */
async function lookupId(image: Tree, file: 'passwd' | 'group', name: string): Promise<{ id: number; gid?: number } | undefined> {
  if (/^\d+$/.test(name)) return { id: Number(name) };
  const f = (await resolveInTree(image, `etc/${file}`)).found;
  if (!f) return undefined;
  for (const line of readFileSync(f.abs, 'utf8').split('\n')) {
    const cols = line.split(':');
    if (cols[0] === name && cols[2] !== undefined && /^\d+$/.test(cols[2])) return { id: Number(cols[2]), gid: file === 'passwd' && cols[3] ? Number(cols[3]) : undefined };
  }
  return undefined;
}

/** `--chown=user[:group]` as numbers, names looked up in the image (a lone user also names the group, as docker does). */
export async function resolveOwner(image: Tree, spec: string): Promise<{ uid: number; gid: number }> {
  const [u, g] = spec.split(':', 2) as [string, string | undefined];
  const user = await lookupId(image, 'passwd', u);
  if (!user) throw new BaleError(`--chown=${spec}: no user ${u} in the image's /etc/passwd`);
  const gname = g ?? u;
  const group = await lookupId(image, 'group', gname);
  if (!group) throw new BaleError(`--chown=${spec}: no group ${gname} in the image's /etc/group`);
  return { uid: user.id, gid: group.id };
}
