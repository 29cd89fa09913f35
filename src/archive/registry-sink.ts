// A registry as a sink (bale push): an image of the store goes up over the OCI distribution API.
// Each blob: HEAD (the registry has it: skip), else a cross-repository mount from a repository this
// store saw holding it, else an upload in chunks (POST, PATCH…, PUT ?digest=) that resumes from the
// registry's own count after a dropped connection. Blobs go in parallel; the manifest goes last,
// byte for byte as stored (so it keeps its digest), and the digest the registry answers with must
// be that one (an image kept with its multi-platform index: every platform's manifest by digest,
// then the index). It is the commit point: nothing is recorded locally before it succeeded.
import { createReadStream } from 'node:fs';
import pLimit from 'p-limit';
import { hexOf, sha256 } from '../oci/digest.js';
import type { Descriptor } from '../oci/types.js';
import type { RemoteReference } from '../oci/reference.js';
import type { ImageRecord, Store } from '../store/store.js';
import { recordRepoBlobs, reposWithBlob } from '../store/remotes.js';
import { wholeIndex } from '../store/whole-index.js';
import { BaleError } from '../util/errors.js';
import { discard, registryError, type RegistryClient, type Response } from './registry-http.js';

export interface PushOptions {
  onEvent?: (line: string) => void;
  parallel?: number;
  /** Bytes per PATCH (default 16 MiB, or $BALE_PUSH_CHUNK_BYTES). */
  chunkBytes?: number;
}

function chunkSize(o: PushOptions): number {
  const env = Number(process.env['BALE_PUSH_CHUNK_BYTES']);
  return o.chunkBytes ?? (env > 0 ? env : 16 * 1024 * 1024);
}

/**
 * Push one stored image to `ref`; returns the digest the registry recorded under it. An image that
 * came with a multi-platform index (load or pull --all-platforms, store/whole-index.ts) goes whole:
 * every platform's blobs, each platform's manifest by digest, then the index under the tag.
 */
export async function pushImage(store: Store, rec: ImageRecord, client: RegistryClient, ref: RemoteReference, opts: PushOptions = {}): Promise<Descriptor> {
  const repo = ref.repository;
  const scope = `repository:${repo}:pull,push`;
  const whole = await wholeIndex(store, rec);
  const sendIndex = whole && (!ref.digest || ref.digest === whole.descriptor.digest);
  const images = sendIndex ? whole.images : [rec];
  const blobs: Descriptor[] = images.flatMap((r) => [r.config, ...r.layers]).filter((d, i, all) => all.findIndex((x) => x.digest === d.digest) === i);
  const limit = pLimit(opts.parallel ?? 3);
  const results = await Promise.allSettled(blobs.map((d) => limit(() => pushBlob(store, client, ref, scope, d, opts))));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;

  if (sendIndex) {
    for (const r of images) await putManifest(client, repo, scope, r.manifest, await storedBlob(store, r.manifest, 'manifest'), r.manifest.digest);
    await putManifest(client, repo, scope, whole.descriptor, whole.bytes, ref.digest ?? ref.tag ?? 'latest');
  } else {
    await putManifest(client, repo, scope, rec.manifest, await storedBlob(store, rec.manifest, 'manifest'), ref.digest ?? ref.tag ?? 'latest');
  }
  await recordRepoBlobs(store, ref.registry, repo, blobs.map((b) => b.digest));
  return sendIndex ? whole.descriptor : rec.manifest;
}

async function storedBlob(store: Store, d: Descriptor, what: string): Promise<Buffer> {
  const bytes = await store.readBlob(d.digest);
  if (sha256(bytes) !== d.digest) throw new BaleError(`${what} ${d.digest} in the store is damaged (run bale fsck)`);
  return bytes;
}

/** PUT a manifest (or index) byte for byte under `target` (a tag or its digest); the registry must record that digest. */
async function putManifest(client: RegistryClient, repo: string, scope: string, d: Descriptor, bytes: Buffer, target: string): Promise<void> {
  const what = `${client.host}/${repo}: manifest ${d.digest}`;
  const res = await client.request('PUT', `/v2/${repo}/manifests/${target}`, scope, {
    headers: { 'Content-Type': d.mediaType, 'Content-Length': String(bytes.length) },
    body: bytes,
  });
  if (res.status !== 201 && res.status !== 200) throw await registryError(res, what);
  discard(res);
  const said = res.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== d.digest) {
    throw new BaleError(`${what}: the registry recorded ${said}, not ${d.digest} (refusing: it changed the manifest)`);
  }
}

async function pushBlob(store: Store, client: RegistryClient, ref: RemoteReference, scope: string, d: Descriptor, opts: PushOptions): Promise<void> {
  const repo = ref.repository;
  const short = hexOf(d.digest).slice(0, 12);
  const what = `${client.host}/${repo}: blob ${d.digest}`;
  const head = await client.request('HEAD', `/v2/${repo}/blobs/${d.digest}`, scope);
  discard(head);
  if (head.status === 200) {
    opts.onEvent?.(`${short}: Layer already exists`);
    return;
  }
  let location: string | undefined;
  for (const from of (await reposWithBlob(store, ref.registry, d.digest)).filter((r) => r !== repo).slice(0, 3)) {
    const q = new URLSearchParams({ mount: d.digest, from });
    const res = await client.request('POST', `/v2/${repo}/blobs/uploads/?${q}`, `${scope} repository:${from}:pull`, { headers: { 'Content-Length': '0' } });
    discard(res);
    if (res.status === 201) {
      opts.onEvent?.(`${short}: Mounted from ${from}`);
      return;
    }
    // 202: the registry could not mount and opened a plain upload instead.
    if (res.status === 202 && res.headers.location) {
      location = res.headers.location;
      break;
    }
  }
  const start = async () => {
    const res = await client.request('POST', `/v2/${repo}/blobs/uploads/`, scope, { headers: { 'Content-Length': '0' } });
    if (res.status !== 202 || !res.headers.location) throw await registryError(res, `${what}: starting the upload`);
    discard(res);
    return res.headers.location;
  };
  location = await uploadChunks(store, client, scope, d, location ?? (await start()), start, what, opts);
  const url = new URL(location, client.base);
  url.searchParams.set('digest', d.digest);
  const put = await client.request('PUT', url.toString(), scope, { headers: { 'Content-Length': '0' } });
  if (put.status !== 201) throw await registryError(put, `${what}: finishing the upload`);
  discard(put);
  const said = put.headers['docker-content-digest'];
  if (typeof said === 'string' && said !== d.digest) throw new BaleError(`${what}: the registry stored ${said}`);
  opts.onEvent?.(`${short}: Pushed`);
}

/** PATCH the blob in chunks from where the registry says it is; returns the upload's last location. */
async function uploadChunks(
  store: Store,
  client: RegistryClient,
  scope: string,
  d: Descriptor,
  location: string,
  restart: () => Promise<string>,
  what: string,
  opts: PushOptions,
): Promise<string> {
  const size = d.size;
  const chunk = chunkSize(opts);
  const file = store.blobPath(d.digest);
  let offset = 0;
  let failures = 0;
  while (offset < size) {
    const end = Math.min(size, offset + chunk) - 1;
    let res: Response | undefined;
    try {
      res = await client.request('PATCH', location, scope, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end}`, 'Content-Length': String(end - offset + 1) },
        body: () => createReadStream(file, { start: offset, end }),
      });
      discard(res);
    } catch (e) {
      if (++failures > 5) throw e;
    }
    if (res && res.status === 202 && res.headers.location) {
      location = res.headers.location;
      offset = end + 1;
      failures = 0;
      continue;
    }
    if (res && res.status !== 416 && res.status < 500) throw await registryError(res, `${what}: uploading`);
    if (res && ++failures > 5) throw await registryError(res, `${what}: uploading`);
    // The connection dropped (or the registry lost count): ask it how much it has, go on from there.
    const status = await client.request('GET', location, scope);
    if (status.status === 404 || status.status === 400) {
      // distribution forgets an upload's place once bytes landed past the state its location
      // carries (only a first chunk's location can be resumed): start over.
      discard(status);
      offset = 0;
      location = await restart();
      opts.onEvent?.(`${hexOf(d.digest).slice(0, 12)}: Restarting the upload (the registry lost its place)`);
      continue;
    }
    discard(status);
    if (status.status !== 204) throw await registryError(status, `${what}: resuming the upload`);
    if (status.headers.location) location = status.headers.location;
    const range = /^(?:bytes=)?0-(\d+)$/.exec(String(status.headers.range ?? ''));
    offset = range ? Number(range[1]) + 1 : 0;
    // distribution says 0-0 for both no byte and one byte: begin a new upload rather than guess.
    if (offset <= 1) {
      offset = 0;
      location = await restart();
    }
    opts.onEvent?.(`${hexOf(d.digest).slice(0, 12)}: Resuming at ${offset}`);
  }
  return location;
}
