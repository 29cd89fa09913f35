// A container's mounts: docker's -v, --mount and --tmpfs flags as specs in the container record,
// the volumes and bind sources they need at create, and the mounts file bale-init applies at start
// (its format is described at the top of native/mounts.c).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Store } from '../store/store.js';
import { createVolume, getVolume, removeAnonymousVolumes, validVolumeName, volumeDataDir } from '../store/volumes.js';
import { BaleError, UsageError } from '../util/errors.js';

export interface MountSpec {
  type: 'bind' | 'volume' | 'tmpfs' | 'overlay';
  /** bind: absolute host path; volume: the volume's name ('' until an anonymous one is made); tmpfs, overlay: ''. */
  source: string;
  /** Absolute path inside the container (cleaned). */
  target: string;
  readOnly: boolean;
  /** bind from -v: a missing host path is made as a directory (docker's -v does; --mount refuses). */
  createSource?: boolean;
  /** volume: do not copy the image's content at the target into a new, empty volume. */
  noCopy?: boolean;
  /** tmpfs: size in bytes (0: the kernel's default). */
  tmpfsSize?: number;
  /** tmpfs: mode of its root (docker's default 1777). */
  tmpfsMode?: number;
  /** tmpfs: mount flags that lift docker's default nosuid/noexec (`exec`, `suid`; always nodev). */
  tmpfsFlags?: string[];
  /**
   * overlay (build's RUN --mount of a stage, or a writable view whose writes are thrown away): host
   * directories, top first; with `upper` and `work` it is writable (they hold what was written).
   */
  overlay?: { lower: string[]; upper?: string; work?: string };
}

export interface MountFlags {
  volume: string[];
  mount: string[];
  tmpfs: string[];
}

function invalid(type: string, msg: string): string {
  return `invalid mount config for type "${type}": ${msg}`;
}

/** A clean absolute container path, or a docker-worded complaint. */
function cleanTarget(type: string, t: string): string {
  if (!t) throw new UsageError(invalid(type, 'field Target must not be empty'));
  if (!t.startsWith('/')) throw new UsageError(invalid(type, `invalid mount path: '${t}' mount path must be absolute`));
  const c = path.posix.normalize(t).replace(/(.)\/+$/, '$1');
  if (c === '/') throw new UsageError(invalid(type, "invalid specification: destination can't be '/'"));
  return c;
}

/** Sizes as docker reads them: bytes, or with k/m/g/t (powers of 1024), with an optional b/ib. */
export function parseSize(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid size: '${s}' (${what})`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

function parseMode(s: string, what: string): number {
  if (!/^[0-7]{1,4}$/.test(s)) throw new UsageError(`invalid mode: '${s}' (${what})`);
  return parseInt(s, 8);
}

/** `-v [SOURCE:]TARGET[:OPTIONS]`. */
export function parseVolumeFlag(spec: string): MountSpec {
  const bad = (why?: string) => new UsageError(`invalid volume specification: '${spec}'${why ? `: ${why}` : ''}`);
  if (!spec) throw new UsageError('invalid empty volume spec');
  const parts = spec.split(':');
  if (parts.length > 3) throw bad();
  const [source, target, opts] = parts.length === 1 ? ['', parts[0]!, ''] : [parts[0]!, parts[1]!, parts[2] ?? ''];
  const type = source.startsWith('/') ? 'bind' : 'volume';
  let readOnly = false;
  let noCopy = false;
  for (const o of opts ? opts.split(',') : []) {
    if (o === 'ro' || o === 'rw') readOnly = o === 'ro';
    else if (o === 'nocopy' && type === 'volume') noCopy = true;
    else if (o === 'z' || o === 'Z') continue; // SELinux relabelling: nothing to do without SELinux
    else throw bad(`invalid mode: ${o}`);
  }
  if (parts.length > 1 && !source) throw bad();
  if (type === 'volume' && source && !validVolumeName(source)) {
    throw new UsageError(`create ${source}: "${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  let t: string;
  try {
    t = cleanTarget(type, target);
  } catch (e) {
    throw bad((e as Error).message);
  }
  const m: MountSpec = { type, source: type === 'bind' ? path.posix.normalize(source) : source, target: t, readOnly };
  if (type === 'bind') m.createSource = true;
  if (noCopy) m.noCopy = true;
  return m;
}

/** docker's --mount value: comma-separated key=value fields, a field may be "quoted" (CSV). */
function csvFields(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (q) {
      if (ch === '"' && s[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') q = false;
      else cur += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out;
}

function bool(v: string | undefined, key: string): boolean {
  if (v === undefined || ['true', '1'].includes(v.toLowerCase())) return true;
  if (['false', '0'].includes(v.toLowerCase())) return false;
  throw new UsageError(`invalid value for ${key}: ${v}`);
}

/** `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,volume-nocopy][,tmpfs-size=…][,tmpfs-mode=…]`. */
export function parseMountFlag(spec: string): MountSpec {
  try {
    return parseMountFields(spec);
  } catch (e) {
    throw new UsageError(`invalid argument "${spec}" for "--mount" flag: ${(e as Error).message}`);
  }
}

function parseMountFields(spec: string): MountSpec {
  let type = 'volume';
  let source = '';
  let target = '';
  let readOnly = false;
  let noCopy = false;
  let size: number | undefined;
  let mode: number | undefined;
  for (const f of csvFields(spec)) {
    const eq = f.indexOf('=');
    const key = (eq < 0 ? f : f.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? undefined : f.slice(eq + 1);
    const need = () => {
      if (val === undefined) throw new Error(`invalid field '${f}' must be a key=value pair`);
      return val;
    };
    switch (key) {
      case 'type': type = need(); break;
      case 'source': case 'src': source = need(); break;
      case 'target': case 'destination': case 'dst': target = need(); break;
      case 'readonly': case 'ro': readOnly = bool(val, key); break;
      case 'volume-nocopy': noCopy = bool(val, key); break;
      case 'tmpfs-size': size = parseSize(need(), key); break;
      case 'tmpfs-mode': mode = parseMode(need(), key); break;
      case 'bind-propagation': if (!['rprivate', 'private'].includes(need())) throw new Error(`bind-propagation ${val} is not supported (mounts are private)`); break;
      case 'consistency': break; // docker accepts and ignores it on Linux
      default: throw new Error(`unexpected key '${key}' in '${f}'`);
    }
  }
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw new Error(`invalid mount type: '${type}'`);
  if (type !== 'tmpfs' && (size !== undefined || mode !== undefined)) throw new Error(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  if (type !== 'volume' && noCopy) throw new Error(`cannot mix 'volume-*' options with mount type '${type}'`);
  const t = cleanTarget(type, target);
  if (type === 'bind') {
    if (!source) throw new Error(invalid(type, 'field Source must not be empty'));
    if (!source.startsWith('/')) throw new Error(invalid(type, `invalid mount path: '${source}' mount path must be absolute`));
    return { type, source: path.posix.normalize(source), target: t, readOnly };
  }
  if (type === 'tmpfs') {
    if (source) throw new Error(invalid(type, 'field Source must not be specified'));
    const m: MountSpec = { type, source: '', target: t, readOnly };
    if (size !== undefined) m.tmpfsSize = size;
    if (mode !== undefined) m.tmpfsMode = mode;
    return m;
  }
  if (source && !validVolumeName(source)) throw new Error(invalid(type, `"${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`));
  return { type, source, target: t, readOnly, ...(noCopy ? { noCopy } : {}) };
}

/** `--tmpfs TARGET[:OPTIONS]`, options as mount(8) takes them for tmpfs. */
export function parseTmpfsFlag(spec: string): MountSpec {
  const i = spec.indexOf(':');
  const target = i < 0 ? spec : spec.slice(0, i);
  const m: MountSpec = { type: 'tmpfs', source: '', target: cleanTarget('tmpfs', target), readOnly: false };
  const flags: string[] = [];
  for (const o of i < 0 ? [] : spec.slice(i + 1).split(',').filter(Boolean)) {
    const [k, v] = o.split('=', 2) as [string, string | undefined];
    if (k === 'size' && v !== undefined) m.tmpfsSize = parseSize(v, `--tmpfs ${spec}`);
    else if (k === 'mode' && v !== undefined) m.tmpfsMode = parseMode(v, `--tmpfs ${spec}`);
    else if (o === 'ro' || o === 'rw') m.readOnly = o === 'ro';
    else if (['exec', 'suid'].includes(o)) flags.push(o);
    else if (['noexec', 'nosuid', 'nodev'].includes(o)) continue; // the defaults
    else if (o === 'dev') throw new UsageError(`--tmpfs ${spec}: dev is not allowed (a device node root makes there would open the host's device)`);
    else throw new UsageError(`invalid tmpfs option ${JSON.stringify(o)} in --tmpfs ${spec} (size=, mode=, ro, rw, exec, suid)`);
  }
  if (flags.length) m.tmpfsFlags = flags;
  return m;
}

/** All mount flags of create/run, checked together (one mount per target). */
export function mountSpecs(f: MountFlags): MountSpec[] {
  const all = [...f.volume.map(parseVolumeFlag), ...f.mount.map(parseMountFlag), ...f.tmpfs.map(parseTmpfsFlag)];
  const seen = new Set<string>();
  for (const m of all) {
    if (seen.has(m.target)) throw new UsageError(`Duplicate mount point: ${m.target}`);
    seen.add(m.target);
    for (const v of [m.source, m.target]) {
      if (/[\t\n\r]/.test(v)) throw new UsageError(`mount path ${JSON.stringify(v)}: tabs and newlines are not allowed in mount paths`);
    }
  }
  return all;
}

/**
 * The image's VOLUME paths as anonymous volumes, as docker makes them, except where a flag already
 * mounts something (the flags win).
 */
export function withImageVolumes(specs: MountSpec[], imageVolumes: Record<string, object> | undefined): MountSpec[] {
  const out = [...specs];
  for (const t of Object.keys(imageVolumes ?? {}).sort()) {
    let m: MountSpec;
    try {
      m = parseVolumeFlag(t);
    } catch (e) {
      throw new BaleError(`the image's VOLUME ${JSON.stringify(t)}: ${(e as Error).message}`);
    }
    if (/[\t\n\r]/.test(m.target)) throw new BaleError(`the image's VOLUME ${JSON.stringify(t)}: tabs and newlines are not allowed in mount paths`);
    if (m.type === 'volume' && !m.source && !out.some((x) => x.target === m.target)) out.push(m);
  }
  return out;
}

/**
 * What a mount needs on the host before the container exists: bind sources checked (or made, for
 * -v), volumes created (anonymous ones named). Call with the containers lock held (see store/volumes).
 */
export async function prepareMounts(store: Store, specs: MountSpec[]): Promise<MountSpec[]> {
  const out: MountSpec[] = [];
  try {
    await prepareEach(store, specs, out);
  } catch (e) {
    // anonymous volumes made for this container would be nobody's
    await removeAnonymousVolumes(store, out.filter((m) => m.type === 'volume' && specs.some((s) => s.target === m.target && !s.source)).map((m) => m.source));
    throw e;
  }
  return out;
}

async function prepareEach(store: Store, specs: MountSpec[], out: MountSpec[]): Promise<void> {
  for (const m of specs) {
    if (m.type === 'bind') {
      const st = await fsp.stat(m.source).catch(() => undefined);
      if (!st) {
        if (!m.createSource) throw new BaleError(invalid('bind', `bind source path does not exist: ${m.source}`));
        await fsp.mkdir(m.source, { recursive: true, mode: 0o755 });
      }
      const { createSource: _, ...rest } = m;
      out.push(rest);
    } else if (m.type === 'volume') {
      const v = await createVolume(store, m.source || undefined, { anonymous: !m.source });
      out.push({ ...m, source: v.Name });
    } else out.push(m);
  }
}

/** The anonymous volumes among a container's mounts (removed with it by `rm -v` and `--rm`). */
export async function anonymousVolumes(store: Store, mounts: MountSpec[] | undefined): Promise<string[]> {
  const out: string[] = [];
  for (const m of mounts ?? []) if (m.type === 'volume' && (await getVolume(store, m.source))?.Anonymous) out.push(m.source);
  return out;
}

function tmpfsData(m: MountSpec): string {
  const d = [`mode=${(m.tmpfsMode ?? 0o1777).toString(8)}`];
  if (m.tmpfsSize) d.push(`size=${m.tmpfsSize}`);
  return d.join(',');
}

/** One line of the mounts file: TYPE, SOURCE, TARGET, FLAGS, DATA, tab-separated. */
async function mountLine(store: Store, m: MountSpec): Promise<string> {
  const flags: string[] = m.readOnly ? ['ro'] : [];
  let type = 'bind';
  let source = m.source;
  let data = '';
  if (m.type === 'volume') {
    if (!(await getVolume(store, m.source))) throw new BaleError(`volume ${m.source} is gone (needed at ${m.target})`);
    source = volumeDataDir(store, m.source);
    if (!m.noCopy) flags.push('copyup');
  } else if (m.type === 'tmpfs') {
    type = 'tmpfs';
    source = 'tmpfs';
    data = tmpfsData(m);
    flags.push(...(m.tmpfsFlags ?? []));
  } else if (m.type === 'overlay') {
    const o = m.overlay!;
    for (const d of [...o.lower, o.upper ?? '', o.work ?? '']) if (/[:,]/.test(d)) throw new BaleError(`mount ${JSON.stringify(m.target)}: overlay directory ${d} has ':' or ','`);
    type = 'overlay';
    source = 'overlay';
    data = [`lowerdir=${o.lower.join(':')}`, ...(o.upper ? [`upperdir=${o.upper}`, `workdir=${o.work}`] : [])].join(',');
  } else if (!(await fsp.stat(m.source).catch(() => undefined))) {
    throw new BaleError(invalid('bind', `bind source path does not exist: ${m.source}`));
  }
  const fields = [type, source, m.target, flags.join(','), data];
  for (const f of fields) if (/[\t\n\r]/.test(f)) throw new BaleError(`mount ${JSON.stringify(m.target)}: tabs and newlines are not allowed in mount paths`);
  return fields.join('\t') + '\n';
}

/**
 * Write the mounts file bale-init applies (parents before what is mounted inside them: by the
 * number of path components, as docker sorts). Returns its path, or undefined when there are none.
 */
export async function writeMountsFile(store: Store, mounts: MountSpec[] | undefined, file: string): Promise<string | undefined> {
  if (!mounts?.length) return undefined;
  const depth = (t: string) => t.split('/').length;
  const sorted = [...mounts].sort((a, b) => depth(a.target) - depth(b.target));
  const lines: string[] = [];
  for (const m of sorted) lines.push(await mountLine(store, m));
  await fsp.writeFile(file, lines.join(''), { mode: 0o600 });
  return file;
}
