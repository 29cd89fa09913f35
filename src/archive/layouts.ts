// Reading the layouts an archive can hold (OCI image layout, Docker archive, or both) from a scanned
// archive, and checking every digest, size and diff_id they claim. The result is a list of images
// whose blobs are all accounted for: either in the archive or (for delta archives) already in the store.
import path from 'node:path';
import { isDigest, hexOf, type Digest } from '../oci/digest.js';
import { MT, isIndexType, isManifestType, layerCompression, ociLayerType, type Compression } from '../oci/media.js';
import { CONTAINERD_NAME, REF_NAME, type Descriptor, type DockerArchiveEntry, type ImageConfig, type Index, type Manifest } from '../oci/types.js';
import { canonicalTag, familiarName } from '../oci/reference.js';
import { formatPlatform, platformMatches } from '../oci/platform.js';
import type { ScannedArchive, ScannedFile } from './scan.js';
import { EXCLUDED_ANNOTATION, EXCLUDED_FIELD } from './writer.js';
import { archivePath } from './scan.js';

/** Where a blob of an image comes from. */
export type BlobSource = { kind: 'archive'; file: ScannedFile } | { kind: 'store'; digest: Digest };

export interface FoundImage {
  configDigest: Digest;
  config: ImageConfig;
  configBytes: Buffer;
  /** The manifest bytes to store: as found in an OCI layout, or made here for a Docker-only archive. */
  manifestBytes: Buffer;
  manifestMediaType: string;
  layers: { descriptor: Descriptor; diffId: Digest; diffSize?: number; source: BlobSource }[];
  tags: string[];
  /** With --all-platforms: the multi-platform index this image (the one its tags go to) came from, kept whole. */
  index?: { descriptor: Descriptor; file: ScannedFile };
}

export interface StoreView {
  hasBlob(d: Digest): Promise<boolean>;
  /** A stored layer blob whose uncompressed digest is `diffId`, if the store has one. */
  layerByDiffId(diffId: Digest): Promise<Descriptor | undefined>;
}

export interface ReadOptions {
  label: string;
  /** Platform to pick from multi-platform indexes. */
  os: string;
  architecture: string;
  variant?: string;
  /** Keep every platform of a multi-platform index (and the index), not only the chosen one. */
  allPlatforms?: boolean;
}

export async function readImages(arc: ScannedArchive, store: StoreView, opts: ReadOptions): Promise<FoundImage[]> {
  const { label } = opts;
  const resolve = (p: string): string => {
    let cur = archivePath(p);
    for (let i = 0; i < 40; i++) {
      const next = arc.links.get(cur);
      if (next === undefined) {
        // A symlinked parent directory: resolve the longest linked prefix.
        const parts = cur.split('/');
        let changed = false;
        for (let k = parts.length - 1; k > 0; k--) {
          const prefix = parts.slice(0, k).join('/');
          const t = arc.links.get(prefix);
          if (t !== undefined) {
            cur = archivePath(path.posix.join(t, ...parts.slice(k)));
            changed = true;
            break;
          }
        }
        if (!changed) return cur;
        continue;
      }
      cur = next;
    }
    throw new Error(`${label}: symlink loop at ${p}`);
  };
  const file = (p: string): ScannedFile | undefined => arc.files.get(resolve(p));
  const json = <T>(f: ScannedFile, what: string): T => {
    if (!f.json) throw new Error(`${label}: ${what} ${f.name} is not JSON`);
    try {
      return JSON.parse(f.json.toString('utf8')) as T;
    } catch (e) {
      throw new Error(`${label}: ${what} ${f.name} is not valid JSON (${(e as Error).message})`);
    }
  };

  const hasIndex = arc.files.has('index.json');
  const hasManifestJson = arc.files.has('manifest.json');
  if (!hasIndex && !hasManifestJson) {
    if (arc.files.has('repositories')) throw new Error(`${label}: a pre-1.10 Docker archive (no manifest.json) is not supported`);
    throw new Error(`${label}: not an image archive (no manifest.json or index.json)`);
  }

  const missing: string[] = [];
  // Layers a delta archive (bale save --exclude-*) left out on purpose, by blob digest.
  const excluded = new Set<string>();
  const deltaNeeds: string[] = [];
  let images: FoundImage[] = [];
  const dockerTags = new Map<Digest, string[]>();

  // Docker's manifest.json: tags for every layout, and the images themselves when there is no OCI layout.
  let dockerEntries: DockerArchiveEntry[] = [];
  if (hasManifestJson) {
    const m = json<unknown>(arc.files.get('manifest.json')!, 'manifest');
    if (!Array.isArray(m)) throw new Error(`${label}: manifest.json is not a list`);
    dockerEntries = m as DockerArchiveEntry[];
    for (const [i, e] of dockerEntries.entries()) {
      if (typeof e?.Config !== 'string' || !Array.isArray(e.Layers)) throw new Error(`${label}: manifest.json entry ${i} lacks Config or Layers`);
      const ex = (e as unknown as Record<string, unknown>)[EXCLUDED_FIELD];
      if (Array.isArray(ex)) for (const d of ex) if (typeof d === 'string') excluded.add(d);
    }
  }

  if (hasIndex) {
    const layout = arc.files.get('oci-layout');
    if (layout) {
      const l = json<{ imageLayoutVersion?: string }>(layout, 'oci-layout');
      if (typeof l.imageLayoutVersion !== 'string' || !l.imageLayoutVersion.startsWith('1.')) {
        throw new Error(`${label}: unsupported OCI layout version ${JSON.stringify(l.imageLayoutVersion)}`);
      }
    }
    const index = json<Index>(arc.files.get('index.json')!, 'index');
    if (!Array.isArray(index.manifests)) throw new Error(`${label}: index.json has no manifests list`);
    for (const d of index.annotations?.[EXCLUDED_ANNOTATION]?.split(',') ?? []) if (d) excluded.add(d.trim());
    const blob = (d: Descriptor, what: string): ScannedFile | undefined => {
      if (!isDigest(d.digest)) throw new Error(`${label}: ${what}: bad digest ${JSON.stringify(d.digest)}`);
      const f = file(`blobs/sha256/${hexOf(d.digest)}`);
      if (!f) return undefined;
      verifyBlob(f, d, what, label);
      return f;
    };
    const byConfig = new Map<Digest, FoundImage>();
    const visit = async (d: Descriptor, names: string[], depth: number, index?: FoundImage['index']): Promise<void> => {
      if (depth > 4) throw new Error(`${label}: indexes nested too deep`);
      if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return;
      if (d.platform && depth > 0 && !opts.allPlatforms && !platformMatches(d.platform, opts)) return;
      const f = blob(d, `manifest ${d.digest}`);
      if (!f) {
        missing.push(`manifest ${d.digest}`);
        return;
      }
      const doc = json<Manifest & Index>(f, 'manifest');
      const mt = doc.mediaType ?? d.mediaType;
      if (isIndexType(mt) || (Array.isArray(doc.manifests) && !doc.config)) {
        const candidates = doc.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
        const matching = candidates.filter((m) => !m.platform || platformMatches(m.platform, opts));
        if (matching.length === 0 && !opts.allPlatforms) {
          const have = candidates.map((m) => formatPlatform(m.platform)).join(', ');
          throw new Error(`${label}: no image for ${opts.os}/${opts.architecture} in index ${d.digest} (has ${have})`);
        }
        if (!opts.allPlatforms) {
          await visit(matching[0]!, names, depth + 1);
          return;
        }
        // Every platform is loaded; the tags (and the index, for save to write back) go to the chosen one.
        const chosen = matching[0] ?? candidates[0]!;
        for (const m of candidates) await visit(m, m === chosen ? names : [], depth + 1, m === chosen ? { descriptor: d, file: f } : undefined);
        return;
      }
      if (!isManifestType(mt) && !(doc.config && Array.isArray(doc.layers))) throw new Error(`${label}: ${d.digest}: unsupported manifest media type ${mt}`);
      const found = await fromManifest(doc, f.json!, mt ?? MT.ociManifest, blob);
      const prev = byConfig.get(found.configDigest);
      if (prev) {
        prev.tags.push(...names.filter((n) => !prev.tags.includes(n)));
        prev.index ??= index;
      } else {
        found.tags.push(...names);
        if (index) found.index = index;
        byConfig.set(found.configDigest, found);
      }
    };
    const fromManifest = async (
      doc: Manifest,
      bytes: Buffer,
      mediaType: string,
      blobOf: (d: Descriptor, what: string) => ScannedFile | undefined,
    ): Promise<FoundImage> => {
      if (!doc.config || !Array.isArray(doc.layers)) throw new Error(`${label}: manifest lacks config or layers`);
      const cf = blobOf(doc.config, `config ${doc.config.digest}`);
      if (!cf) throw new Error(`${label}: config blob ${doc.config.digest} is missing`);
      const config = parseConfig(cf, label);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== doc.layers.length) {
        throw new Error(`${label}: manifest has ${doc.layers.length} layers but config ${doc.config.digest} lists ${diffIds.length} diff_ids`);
      }
      const layers: FoundImage['layers'] = [];
      for (const [i, ld] of doc.layers.entries()) {
        const diffId = diffIds[i]!;
        const f = blobOf(ld, `layer ${ld.digest}`);
        if (f) {
          checkLayer(f, diffId, `layer ${ld.digest}`, label, layerCompression(ld.mediaType));
          layers.push({ descriptor: ld, diffId, diffSize: f.diffSize, source: { kind: 'archive', file: f } });
        } else if (await store.hasBlob(ld.digest)) {
          layers.push({ descriptor: ld, diffId, source: { kind: 'store', digest: ld.digest } });
        } else {
          (excluded.has(ld.digest) ? deltaNeeds : missing).push(`layer ${ld.digest} (diff_id ${diffId})`);
          layers.push({ descriptor: ld, diffId, source: { kind: 'store', digest: ld.digest } });
        }
      }
      return {
        configDigest: doc.config.digest,
        config,
        configBytes: cf.json!,
        manifestBytes: bytes,
        manifestMediaType: mediaType,
        layers,
        tags: [],
      };
    };
    for (const d of index.manifests) {
      const names = refNames(d.annotations);
      await visit(d, names, 0);
    }
    images = [...byConfig.values()];
  } else {
    for (const e of dockerEntries) {
      const cf = file(e.Config);
      if (!cf) throw new Error(`${label}: config ${e.Config} named in manifest.json is missing`);
      const config = parseConfig(cf, label);
      const configDigest = cf.digest;
      const named = /([a-f0-9]{64})(\.json)?$/.exec(e.Config);
      if (named && `sha256:${named[1]}` !== configDigest) {
        throw new Error(`${label}: config ${e.Config}: digest mismatch (content is ${configDigest})`);
      }
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== e.Layers.length) {
        throw new Error(`${label}: manifest.json lists ${e.Layers.length} layers for ${e.Config} but its config lists ${diffIds.length} diff_ids`);
      }
      const layers: FoundImage['layers'] = [];
      for (const [i, lp] of e.Layers.entries()) {
        const diffId = diffIds[i]!;
        const f = file(lp);
        if (f) {
          checkLayer(f, diffId, `layer ${lp}`, label, undefined);
          const mt = ociLayerType(f.compression);
          layers.push({ descriptor: { mediaType: mt, digest: f.digest, size: f.size }, diffId, diffSize: f.diffSize, source: { kind: 'archive', file: f } });
        } else {
          const stored = await store.layerByDiffId(diffId);
          if (stored) layers.push({ descriptor: stored, diffId, source: { kind: 'store', digest: stored.digest } });
          else {
            const listed = [...excluded].some((d) => lp.includes(d.slice(7))) || excluded.has(diffId);
            (listed ? deltaNeeds : missing).push(`layer ${lp} (diff_id ${diffId})`);
            layers.push({ descriptor: { mediaType: MT.ociLayer, digest: diffId, size: 0 }, diffId, source: { kind: 'store', digest: diffId } });
          }
        }
      }
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: configDigest, size: cf.size },
        layers: layers.map((l) => l.descriptor),
      };
      images.push({
        configDigest,
        config,
        configBytes: cf.json!,
        manifestBytes: Buffer.from(JSON.stringify(manifest)),
        manifestMediaType: MT.ociManifest,
        layers,
        tags: [],
      });
    }
  }

  if (deltaNeeds.length && !missing.length) {
    throw new Error(`${label}: a delta archive whose base layers this store lacks (load the archive it was made against first): ${deltaNeeds.join(', ')}`);
  }
  missing.push(...deltaNeeds);
  if (missing.length) {
    throw new Error(`${label}: missing from the archive and not in the store: ${missing.join(', ')}`);
  }

  // Docker's RepoTags name images in both kinds of archive.
  for (const e of dockerEntries) {
    const f = file(e.Config);
    if (!f) continue;
    const list = dockerTags.get(f.digest) ?? [];
    for (const t of e.RepoTags ?? []) list.push(t);
    dockerTags.set(f.digest, list);
  }
  for (const img of images) {
    const all = [...img.tags, ...(dockerTags.get(img.configDigest) ?? [])];
    const canon = new Set<string>();
    for (const t of all) {
      try {
        canon.add(canonicalTag(t));
      } catch {
        // A ref.name that is only a tag ("latest") with no repository cannot name an image.
      }
    }
    img.tags = [...canon].sort();
  }
  return images;
}

function refNames(a: Record<string, string> | undefined): string[] {
  if (!a) return [];
  const out: string[] = [];
  const full = a[CONTAINERD_NAME];
  if (full) out.push(full);
  const ref = a[REF_NAME];
  // ref.name is often just a tag (skopeo's `oci:DIR:latest`), and sometimes just a name (umoci's
  // `--image DIR:umoci`). A bare word reads as a tag when it looks like one (`latest`, `1.2`,
  // `v3`), else as a repository (`umoci` → `umoci:latest`).
  if (ref && !full && (ref.includes('/') || ref.includes(':') || !looksLikeTagOnly(ref))) out.push(ref);
  return out.map((n) => {
    const at = n.indexOf('@');
    return at >= 0 ? n.slice(0, at) : n;
  }).map((n) => (n.includes('/') || n.includes(':') ? n : familiarName(n)));
}

function looksLikeTagOnly(word: string): boolean {
  return word === 'latest' || /^v?[0-9]/.test(word) || !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(word);
}

function verifyBlob(f: ScannedFile, d: Descriptor, what: string, label: string): void {
  if (f.digest !== d.digest) throw new Error(`${label}: ${what}: digest mismatch (content is ${f.digest})`);
  if (typeof d.size === 'number' && d.size !== f.size) throw new Error(`${label}: ${what}: size mismatch (descriptor says ${d.size}, blob has ${f.size})`);
}

function checkLayer(f: ScannedFile, diffId: Digest, what: string, label: string, declared: Compression | undefined): void {
  if (f.layerError) throw new Error(`${label}: ${what}: ${f.layerError}`);
  if (!f.diffId) throw new Error(`${label}: ${what}: not a tar (plain, gzip or zstd)`);
  if (declared !== undefined && declared !== f.compression) {
    throw new Error(`${label}: ${what}: media type says ${declared} but the blob is ${f.compression}`);
  }
  if (f.diffId !== diffId) throw new Error(`${label}: ${what}: diff_id mismatch (config says ${diffId}, content is ${f.diffId})`);
}

function parseConfig(f: ScannedFile, label: string): ImageConfig {
  if (!f.json) throw new Error(`${label}: config ${f.name} is not JSON`);
  let c: ImageConfig;
  try {
    c = JSON.parse(f.json.toString('utf8')) as ImageConfig;
  } catch (e) {
    throw new Error(`${label}: config ${f.name} is not valid JSON (${(e as Error).message})`);
  }
  if (!c || typeof c !== 'object' || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) throw new Error(`${label}: config ${f.name} has no rootfs.diff_ids`);
  for (const d of c.rootfs.diff_ids) if (!isDigest(d)) throw new Error(`${label}: config ${f.name}: bad diff_id ${JSON.stringify(d)}`);
  return c;
}

