// The one set of rules for what a layer tar may hold, applied by every reader of one: the load-time
// check (check.ts), import's rewrite (normalize.ts) and the unpack (apply.ts, which also checks the
// disk as it writes). Names, links and xattrs are judged here and nowhere else.
import { FormatError } from '../util/errors.js';
import { cleanEntryPath } from './entry-path.js';
import type { EntryType } from './tar-header.js';
import { ENTRY_TYPES } from './tar-reader.js';
import { parseWhiteout } from './whiteout.js';

/** What the rules need of an entry: its raw name, tar typeflag and link target. */
export interface RuleHeader {
  name: string;
  typeflag: string;
  linkname: string;
}

export interface CheckedEntry {
  /** The clean path inside the layer ('' for the root itself). */
  path: string;
  type: EntryType;
  /** For a whiteout entry: what it hides. */
  whiteout?: ReturnType<typeof parseWhiteout>;
  /** For a hardlink: the clean path of its target, an earlier entry of the same layer. */
  target?: string;
}

/**
 * Xattrs a layer never carries or sets: overlayfs's (and fuse-overlayfs's) own (they would change what the overlay shows)
 * and SELinux labels (the host's policy, not the image's).
 */
export function keepXattr(name: string): boolean {
  return !name.startsWith('trusted.overlay.') && !name.startsWith('user.overlay.') && !name.startsWith('user.fuseoverlayfs.') && name !== 'security.selinux';
}

/**
 * The entries of one layer, in order. Refused: a name or hardlink target that climbs out of the
 * root (`..`), a name below a symlink or a non-directory made earlier in the same layer (writing
 * `etc/passwd` after `etc -> /etc` would write through the link), a hardlink to anything but an
 * earlier non-directory entry, a root that is not a directory, and entry types a layer cannot hold.
 */
export class LayerRules {
  /** Non-directory entries so far (a later entry of the same name replaces them). */
  private readonly kinds = new Map<string, EntryType>();
  /** Paths that have had something below them (only those can have entries to forget). */
  private readonly dirs = new Set<string>();
  /**
   * The parent directory of the last entry whose ancestors passed, while that still holds (no
   * entry since has made it or one of its ancestors a non-directory or forgotten it): siblings,
   * which tars list together, skip the walk up.
   */
  private passed: string | undefined;

  /**
   * `whiteouts` false: the entries are a plain tar (a build context, a tar ADD unpacks), not a layer,
   * and a `.wh.` name is a file like any other, as docker unpacks those.
   */
  constructor(private readonly whiteouts = true) {}

  check(h: RuleHeader): CheckedEntry {
    const type = ENTRY_TYPES[h.typeflag];
    if (!type) throw new FormatError(`entry ${JSON.stringify(h.name)}: tar type ${JSON.stringify(h.typeflag)} cannot be in a layer`);
    const p = this.clean(h.name, 'entry'); // the cleaner's message names the entry after this word
    if (p === '') {
      if (type !== 'directory') throw new FormatError(`entry ${JSON.stringify(h.name)}: the layer root must be a directory, not a ${type}`);
      return { path: p, type };
    }
    this.parents(p, h.name);
    const wh = this.whiteouts ? parseWhiteout(p) : undefined;
    if (wh) {
      if (wh.kind === 'file') this.forget(wh.target);
      return { path: p, type, whiteout: wh };
    }
    if (type === 'link') {
      const target = this.clean(h.linkname, () => `hardlink ${h.name} target`);
      for (let i = target.indexOf('/'); i >= 0; i = target.indexOf('/', i + 1)) {
        if (this.kinds.get(target.slice(0, i)) === 'symlink') {
          throw new FormatError(`path traversal via symlink: ${h.name} links to ${target} through the symlink ${target.slice(0, i)}`);
        }
      }
      const kind = this.kinds.get(target);
      if (!kind || kind === 'symlink') {
        throw new FormatError(`hardlink ${h.name} names ${JSON.stringify(h.linkname)}, which is not an earlier entry of the layer${kind ? ' (it is a symlink)' : ''}`);
      }
      this.forget(p);
      if (target !== p) this.kinds.set(p, kind);
      this.unpass(p);
      return { path: p, type, target };
    }
    if (type === 'directory') this.kinds.delete(p); // a directory over a directory keeps what is in it
    else {
      if (this.dirs.has(p)) this.forget(p); // else the set replaces whatever p was
      this.kinds.set(p, type);
      this.unpass(p);
    }
    return { path: p, type };
  }

  private clean(name: string, what: string | (() => string)): string {
    try {
      return cleanEntryPath(name, what);
    } catch (e) {
      throw new FormatError((e as Error).message);
    }
  }

  /** No parent of `p` may be a symlink or a non-directory of this layer. */
  private parents(p: string, name: string): void {
    const last = p.lastIndexOf('/');
    if (last < 0 || (last === this.passed?.length && p.startsWith(this.passed))) return;
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
      const parent = p.slice(0, i);
      const kind = this.kinds.get(parent);
      if (kind === 'symlink') throw new FormatError(`path traversal via symlink: ${name} would be written through the symlink ${parent}`);
      if (kind) throw new FormatError(`${name} is below ${parent}, which is not a directory`);
      this.dirs.add(parent);
    }
    this.passed = p.slice(0, last);
  }

  /** `p` has changed: if it is the passed directory or one of its ancestors, walk up again. */
  private unpass(p: string): void {
    const d = this.passed;
    if (d !== undefined && d.startsWith(p) && (d.length === p.length || d.charCodeAt(p.length) === 0x2f)) this.passed = undefined;
  }

  /** `p` is replaced: it and whatever was below it no longer constrain later entries. */
  private forget(p: string): void {
    this.kinds.delete(p);
    if (!this.dirs.delete(p)) return;
    this.unpass(p);
    const prefix = p + '/';
    for (const k of this.kinds.keys()) if (k.startsWith(prefix)) this.kinds.delete(k);
    for (const d of this.dirs) if (d.startsWith(prefix)) this.dirs.delete(d);
  }
}
