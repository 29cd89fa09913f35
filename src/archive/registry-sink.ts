// A registry as a sink (bale push): an image of the store goes up over the OCI distribution API.
// Each blob: HEAD (the registry has it: skip), else a cross-repository mount from a repository this
// store saw holding it, else an upload in chunks (POST, PATCH…, PUT ?digest=) that resumes from the
// registry's own count after a dropped connection. Blobs go in parallel; the manifest goes last,
// byte for byte as stored (so it keeps its digest), and the digest the registry answers with must
// be that one (an image kept with its multi-platform index: every platform's manifest by digest,
// then the index). It is the commit point: nothing is recorded locally before it succeeded.
import { createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /** Send this image's manifest only, even if it came with a whole multi-platform index (push --platform). */
  alone?: boolean;
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
  const whole = opts.alone ? undefined : await wholeIndex(store, rec);
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
  await uploadBlob(store, client, scope, d, location ?? (await start()), start, what, opts);
  opts.onEvent?.(`${short}: Pushed`);
}

/**
 * Upload a blob at `location` and finish it (PUT ?digest=). distribution 2.8 appends whatever a
 * PATCH carries (it ignores Content-Range), so should a resumed upload not add up after all (a cut
 * request's last bytes landing late), the registry refuses the digest at the PUT and drops the
 * upload: then the blob starts over, twice at most.
 */
async function uploadBlob(store: Store, client: RegistryClient, scope: string, d: Descriptor, location: string, start: () => Promise<string>, what: string, opts: PushOptions): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const sent = await uploadChunks(store, client, scope, d, location, start, what, opts);
    const url = new URL(sent.location, client.base);
    url.searchParams.set('digest', d.digest);
    const put = await client.request('PUT', url.toString(), scope, { headers: { 'Content-Length': '0' } });
    if (put.status === 201) {
      discard(put);
      const said = put.headers['docker-content-digest'];
      if (typeof said === 'string' && said !== d.digest) throw new BaleError(`${what}: the registry stored ${said}`);
      return;
    }
    if (!sent.resumed || attempt >= 3 || (put.status !== 400 && put.status !== 404)) throw await registryError(put, `${what}: finishing the upload`);
    discard(put);
    opts.onEvent?.(`${hexOf(d.digest).slice(0, 12)}: Restarting the upload (the resumed copy did not check out)`);
    location = await start();
  }
}

/**
 * PATCH the blob in chunks; after a dropped connection (or a 5xx), ask the registry how much of the
 * upload it holds (GET on the upload's last location: `Range: 0-N`) and go on from N+1. Where it
 * cannot say (distribution 2.8 cancels an upload whose bytes no longer match the offset signed into
 * its location, so any byte of the cut request that landed loses the upload; and `0-0` means both
 * no byte and one), the blob starts over. Returns the upload's last location.
 */
async function uploadChunks(
  store: Store,
  client: RegistryClient,
  scope: string,
  d: Descriptor,
  location: string,
  restart: () => Promise<string>,
  what: string,
  opts: PushOptions,
): Promise<{ location: string; resumed: boolean }> {
  const short = hexOf(d.digest).slice(0, 12);
  const size = d.size;
  const chunk = chunkSize(opts);
  const file = store.blobPath(d.digest);
  let offset = 0;
  let failures = 0;
  let resumed = false;
  while (offset < size) {
    const end = Math.min(size, offset + chunk) - 1;
    let res: Response | undefined;
    let err: unknown;
    try {
      res = await client.request('PATCH', location, scope, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${end}`, 'Content-Length': String(end - offset + 1) },
        body: () => createReadStream(file, { start: offset, end, highWaterMark: 1024 * 1024 }),
      });
    } catch (e) {
      err = e;
    }
    if (res && res.status === 202 && res.headers.location) {
      discard(res);
      location = res.headers.location;
      offset = end + 1;
      failures = 0;
      continue;
    }
    if (res && res.status !== 416 && res.status < 500) throw await registryError(res, `${what}: uploading`);
    if (++failures > 5) throw res ? await registryError(res, `${what}: uploading`) : err;
    if (res) discard(res);
    // Let the registry finish with the cut request before asking where the upload stands.
    await sleep(100 * failures);
    const at = await uploadStatus(client, scope, location, size);
    if (at) {
      ({ location, offset } = at);
      resumed = true;
      opts.onEvent?.(`${short}: Resuming at ${offset}`);
    } else {
      location = await restart();
      offset = 0;
      resumed = false;
      opts.onEvent?.(`${short}: Restarting the upload (the registry cannot say how much it has)`);
    }
  }
  return { location, resumed };
}

/** Where an upload stands, if the registry can say: the location to go on at and the bytes it holds (1 ≤ n ≤ size). */
async function uploadStatus(client: RegistryClient, scope: string, location: string, size: number): Promise<{ location: string; offset: number } | undefined> {
  let res: Response;
  try {
    res = await client.request('GET', location, scope);
  } catch {
    return undefined;
  }
  discard(res);
  if (res.status !== 204) return undefined;
  const range = /^(?:bytes=)?0-(\d+)$/.exec(String(res.headers.range ?? ''));
  const offset = range ? Number(range[1]) + 1 : 0;
  if (offset <= 1 || offset > size) return undefined;
  return { location: res.headers.location ?? location, offset };
}
