// A registry as a source for load (bale pull): the manifest, the config and the layers the store
// lacks are fetched over the OCI distribution API, several at once, and examined as they arrive as
// an archive's files are (hashed, sniffed, layers checked entry by entry: pull-blob.ts), named
// `blobs/sha256/HEX` under an index.json made here. A blob whose content is not its digest is
// refused as it ends, and the first failure stops the other downloads; layouts.ts then verifies
// them all exactly as it verifies an OCI layout, and nothing is recorded unless all of it is sound.
import { promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { hexOf, isDigest, sha256, type Digest } from '../oci/digest.js';
import { isIndexType, MT } from '../oci/media.js';
import { platformMatches } from '../oci/platform.js';
import { CONTAINERD_NAME, type Descriptor, type Index, type Manifest } from '../oci/types.js';
import type { RemoteReference } from '../oci/reference.js';
import { BaleError } from '../util/errors.js';
import { discard, readBody, registryError, type RegistryClient, type Response } from './registry-http.js';
import { scanFile, type ScannedArchive, type ScannedFile, type ScanOptions } from './scan.js';
import { receiveBlob, type ReceiveOptions } from './pull-blob.js';

export const MANIFEST_ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export interface PullOptions {
  /** Does the store already have this blob? (then it is not fetched) */
  have: (d: Digest) => Promise<boolean>;
  os: string;
  architecture: string;
  variant?: string;
  /** Fetch every platform of an index, not only the chosen one. */
  allPlatforms?: boolean;
  /** One line per event (`abcdef012345: Pull complete`). */
  onEvent?: (line: string) => void;
  /** Told the digest of what the reference names (the index, for a multi-platform image). */
  onTop?: (d: Digest) => void;
  /** How many blobs to fetch at once. */
  parallel?: number;
}

/** Follow a registry's redirect (blob storage elsewhere) without sending it our Authorization. */
async function follow(client: RegistryClient, res: Response, what: string, signal?: AbortSignal): Promise<Response> {
  for (let i = 0; i < 5 && res.status >= 300 && res.status < 400 && res.headers.location; i++) {
    discard(res);
    res = await client.raw('GET', res.headers.location, { signal });
  }
  if (res.status !== 200) throw await registryError(res, what);
  return res;
}

export async function fetchManifest(client: RegistryClient, repo: string, ref: string): Promise<{ bytes: Buffer; digest: Digest; mediaType: string }> {
  const what = `${client.host}/${repo}: manifest ${ref}`;
  const res = await client.request('GET', `/v2/${repo}/manifests/${ref}`, `repository:${repo}:pull`, { headers: { Accept: MANIFEST_ACCEPT } });
  if (res.status !== 200) throw await registryError(res, what);
  const bytes = await readBody(res, 4 * 1024 * 1024);
  const digest = sha256(bytes);
  if (isDigest(ref) && digest !== ref) throw new BaleError(`${what}: digest mismatch (content is ${digest})`);
  const said = res.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== digest) throw new BaleError(`${what}: the registry says ${said} but the content is ${digest}`);
  let mediaType: string = MT.ociManifest;
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string };
    mediaType = doc.mediaType ?? String(res.headers['content-type'] ?? MT.ociManifest).split(';')[0]!;
  } catch {
    throw new BaleError(`${what}: not JSON`);
  }
  return { bytes, digest, mediaType };
}

/** Download the blob `d` of `repo` into the store's temp space, examined as it arrives. */
async function fetchBlob(client: RegistryClient, repo: string, d: Descriptor, scan: ScanOptions, opts: ReceiveOptions): Promise<ScannedFile> {
  if (!isDigest(d.digest)) throw new BaleError(`${client.host}/${repo}: bad digest ${JSON.stringify(d.digest)}`);
  const what = `${client.host}/${repo}: blob ${d.digest}`;
  const url = `/v2/${repo}/blobs/${d.digest}`;
  const scope = `repository:${repo}:pull`;
  const res = (await client.getLarge(url, scope, opts.signal)) ?? (await follow(client, await client.request('GET', url, scope, { signal: opts.signal }), what, opts.signal));
  const len = Number(res.headers['content-length'] ?? d.size);
  if (typeof d.size === 'number' && len !== d.size) {
    res.body.destroy(); // not read to its end: it is not the blob
    throw new BaleError(`${what}: size mismatch (descriptor says ${d.size}, registry sends ${len})`);
  }
  return receiveBlob(res.body, d, len, what, scan, opts);
}

/** Scan what `ref` names into the shape of an OCI layout with one tagged (or untagged) entry. */
export async function scanRegistry(client: RegistryClient, ref: RemoteReference, opts: PullOptions, scan: ScanOptions): Promise<ScannedArchive> {
  const files = new Map<string, ScannedFile>();
  const repo = ref.repository;
  let read = 0;
  const counted = (n: number) => scan.onProgress?.((read += n));
  const keepBytes = async (d: Digest, b: Buffer) => {
    const name = `blobs/sha256/${hexOf(d)}`;
    files.set(name, await scanFile(Readable.from([b]), name, b.length, scan));
    counted(b.length);
  };
  try {
    const top = await fetchManifest(client, repo, ref.digest ?? ref.tag ?? 'latest');
    await keepBytes(top.digest, top.bytes);
    opts.onTop?.(top.digest);
    const manifests: Buffer[] = [];
    if (isIndexType(top.mediaType)) {
      const index = JSON.parse(top.bytes.toString('utf8')) as Index;
      const wanted = (index.manifests ?? []).filter((m) => m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && (opts.allPlatforms || platformMatches(m.platform, opts)));
      for (const d of opts.allPlatforms ? wanted : wanted.slice(0, 1)) {
        const child = await fetchManifest(client, repo, d.digest);
        if (child.digest !== d.digest) throw new BaleError(`${client.host}/${repo}: manifest ${d.digest}: digest mismatch`);
        await keepBytes(child.digest, child.bytes);
        manifests.push(child.bytes);
      }
    } else manifests.push(top.bytes);

    const blobs = new Map<Digest, Descriptor>();
    for (const b of manifests) {
      const m = JSON.parse(b.toString('utf8')) as Manifest;
      if (!m.config || !Array.isArray(m.layers)) continue; // layouts.ts names it
      blobs.set(m.config.digest, m.config);
      for (const l of m.layers) if (!(await opts.have(l.digest))) blobs.set(l.digest, l);
      for (const l of m.layers) if (!blobs.has(l.digest)) opts.onEvent?.(`${hexOf(l.digest).slice(0, 12)}: Already exists`);
    }
    const limit = pLimit(opts.parallel ?? 6);
    // The first failure stops the other downloads (and leaves the queued ones unstarted): it is
    // the one reported. Settled, not all: every fetch has stopped writing before the temps go.
    const stop = new AbortController();
    let first: unknown;
    await Promise.allSettled(
      [...blobs.values()].map((d) =>
        limit(async () => {
          if (stop.signal.aborted) return;
          try {
            const f = await fetchBlob(client, repo, d, scan, { onBytes: counted, signal: stop.signal });
            files.set(f.name, f);
            if (d.mediaType !== MT.ociConfig && d.mediaType !== MT.dockerConfig) opts.onEvent?.(`${hexOf(d.digest).slice(0, 12)}: Pull complete`);
          } catch (e) {
            if (stop.signal.aborted) return;
            first = e;
            stop.abort();
          }
        }),
      ),
    );
    if (stop.signal.aborted) throw first;
    const annotations = ref.tag && !ref.digest ? { [CONTAINERD_NAME]: `${ref.registry}/${repo}:${ref.tag}` } : undefined;
    const index: Index = { schemaVersion: 2, manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.bytes.length, ...(annotations ? { annotations } : {}) }] };
    const ib = Buffer.from(JSON.stringify(index));
    files.set('index.json', await scanFile(Readable.from([ib]), 'index.json', ib.length, scan));
    return { files, links: new Map() };
  } catch (e) {
    await Promise.allSettled([...files.values()].map((f) => fsp.rm(f.tmp, { force: true })));
    throw e;
  }
}
