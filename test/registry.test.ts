// push, pull, login against a real registry (docker-registry, distribution 2.8) on 127.0.0.1: TLS
// with a CA made here, htpasswd (bcrypt) and token auth, plain HTTP; skopeo and podman read what
// bale pushed with the same manifest digest. Failures are made on the wire: a proxy that drops a
// connection in the middle of an upload, a fake registry that serves wrong bytes or records a
// different manifest digest.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sha256 } from '../src/oci/digest.js';
import { bale, baleOk, have, SHARED, storeListing, tmpDir } from './helpers.js';
import { startRegistry, type Registry } from './registry.js';
import { buildImage, seedImage } from './images.js';
import { discard, RegistryClient } from '../src/archive/registry-http.js';

for (const tool of ['docker-registry', 'htpasswd', 'openssl', 'skopeo', 'podman']) if (!have(tool)) throw new Error(`${tool} is needed for these tests (.ci/run installs it)`);

const PEERS = path.join(SHARED, 'fixtures', 'peers');
const scratch = tmpDir('bale-registry-');
const USERS = { alice: 'correct horse' };
test.after(() => scratch.cleanup());

interface Ctx {
  root: string;
  env: Record<string, string>;
}

/** A store with layered:latest (6 blobs) and a docker config dir of its own. */
async function seeded(name: string): Promise<Ctx & { manifest: string; id: string }> {
  const root = path.join(scratch.dir, name, 'store');
  const env = { DOCKER_CONFIG: path.join(scratch.dir, name, 'docker') };
  await baleOk(root, ['load', '-q', '-i', path.join(PEERS, 'docker-layered.tar')], { env });
  const inspect = JSON.parse(await baleOk(root, ['inspect', 'layered:latest'], { env }))[0] as { Id: string };
  const manifest = JSON.parse(readFileSync(path.join(root, 'images', `${inspect.Id.slice(7)}.json`), 'utf8')).manifest.digest as string;
  return { root, env, manifest, id: inspect.Id };
}

/** skopeo wants a directory of CA certificates (*.crt) and nothing else in it. */
function certDir(reg: Registry): string {
  const d = path.join(reg.dir, 'certs.d');
  mkdirSync(d, { recursive: true });
  copyFileSync(reg.ca!, path.join(d, 'ca.crt'));
  return d;
}

function peer(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('TLS + htpasswd: login, push (pushed, already there, mounted), skopeo and podman see the digest, pull runs, logout', async () => {
  const reg = await startRegistry(path.join(scratch.dir, 'reg-basic'), { tls: true, auth: { kind: 'htpasswd', users: USERS } });
  try {
    const c = await seeded('basic');
    const tls = ['--ca-cert', reg.ca!];
    const cfg = path.join(c.env.DOCKER_CONFIG!, 'config.json');

    const noCa = await bale(c.root, ['push', 'layered:latest', `${reg.host}/team/app:1`], { env: c.env });
    assert.is(noCa.code, 1, 'an unknown CA is not trusted');
    assert.match(noCa.stderr, /certificate/);
    const anon = await bale(c.root, ['push', ...tls, 'layered:latest', `${reg.host}/team/app:1`], { env: c.env });
    assert.is(anon.code, 1);
    assert.match(anon.stderr, /authentication required \(bale login/);

    const bad = await bale(c.root, ['login', ...tls, '-u', 'alice', '--password-stdin', reg.host], { env: c.env, input: 'wrong\n' });
    assert.is(bad.code, 1);
    assert.not.ok(existsSync(cfg), 'nothing stored for a refused login');
    assert.match(await baleOk(c.root, ['login', ...tls, '-u', 'alice', '--password-stdin', reg.host], { env: c.env, input: `${USERS.alice}\n` }), 'Login Succeeded');
    const stored = JSON.parse(readFileSync(cfg, 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.is(Buffer.from(stored.auths[reg.host]!.auth, 'base64').toString(), `alice:${USERS.alice}`);

    const first = await baleOk(c.root, ['push', ...tls, 'layered:latest', `${reg.host}/team/app:1`], { env: c.env });
    assert.is((first.match(/: Pushed$/gm) ?? []).length, 6, first);
    assert.match(first, `1: digest: ${c.manifest}`);
    const again = await baleOk(c.root, ['push', ...tls, 'layered:latest', `${reg.host}/team/app:1`], { env: c.env });
    assert.is((again.match(/: Layer already exists$/gm) ?? []).length, 6, again);
    const other = await baleOk(c.root, ['push', ...tls, 'layered:latest', `${reg.host}/other/app:2`], { env: c.env });
    assert.is((other.match(/: Mounted from team\/app$/gm) ?? []).length, 6, other);

    // The peers read what bale pushed, under the digest bale recorded.
    const certs = certDir(reg);
    assert.is(peer('skopeo', ['inspect', '--cert-dir', certs, '--authfile', cfg, '--format', '{{.Digest}}', `docker://${reg.host}/other/app:2`]).trim(), c.manifest);
    const podmanRoot = path.join(scratch.dir, 'podman-root');
    const pod = ['--root', podmanRoot, '--runroot', path.join(scratch.dir, 'podman-run'), '--storage-driver', 'vfs'];
    peer('podman', [...pod, 'pull', '-q', '--cert-dir', certs, '--authfile', cfg, `${reg.host}/team/app:1`]);
    assert.match(peer('podman', [...pod, 'images', '--digests', '--format', '{{.Digest}}']), c.manifest);

    // Pull into another store: same image, it runs.
    const other2 = path.join(scratch.dir, 'basic', 'store2');
    const pulled = await baleOk(other2, ['pull', ...tls, `${reg.host}/team/app:1`], { env: c.env });
    assert.match(pulled, `Digest: ${c.manifest}`);
    assert.match(await baleOk(other2, ['images', '-q', '--no-trunc'], { env: c.env }), c.id);
    assert.is((await baleOk(other2, ['run', '--rm', `${reg.host}/team/app:1`], { env: c.env })).trim(), 'alpha');
    const byDigest = await baleOk(other2, ['pull', ...tls, `${reg.host}/other/app@${c.manifest}`], { env: c.env });
    assert.is((byDigest.match(/Already exists/g) ?? []).length, 5, 'layers the store has are not fetched');

    assert.match(await baleOk(c.root, ['logout', reg.host], { env: c.env }), `Removing login credentials for ${reg.host}`);
    const after = await bale(path.join(scratch.dir, 'basic', 'store3'), ['pull', ...tls, `${reg.host}/team/app:1`], { env: c.env });
    assert.is(after.code, 1);
    assert.match(after.stderr, /authentication required/);
  } finally {
    await reg.stop();
  }
});

test('bearer tokens: the registry sends clients to a token server; bale asks it for the right scopes', async () => {
  const reg = await startRegistry(path.join(scratch.dir, 'reg-token'), { tls: true, auth: { kind: 'token', users: USERS } });
  try {
    const c = await seeded('token');
    const tls = ['--ca-cert', reg.ca!];
    const anon = await bale(c.root, ['push', ...tls, 'layered:latest', `${reg.host}/team/app:1`], { env: c.env });
    assert.is(anon.code, 1, 'the token server refuses anonymous pushes');
    await baleOk(c.root, ['login', ...tls, '-u', 'alice', '-p', USERS.alice, reg.host], { env: c.env });
    assert.match(await baleOk(c.root, ['push', ...tls, 'layered:latest', `${reg.host}/team/app:1`], { env: c.env }), `digest: ${c.manifest}`);
    assert.ok(reg.tokenScopes.includes('repository:team/app:pull,push'), reg.tokenScopes.join(' '));
    const s2 = path.join(scratch.dir, 'token', 'store2');
    await baleOk(s2, ['pull', '-q', ...tls, `${reg.host}/team/app:1`], { env: c.env });
    assert.match(await baleOk(s2, ['images', '-q', '--no-trunc'], { env: c.env }), c.id);

    // Blob bodies come over the 1 MiB-read path (TLS here, with the token earned for the scope);
    // without that token its 401 gives undefined, and request() answers the challenge instead.
    const layer = (JSON.parse(readFileSync(path.join(c.root, 'blobs', 'sha256', c.manifest.slice(7)), 'utf8')) as { layers: { digest: string; size: number }[] }).layers.sort((a, b) => b.size - a.size)[0]!;
    const client = new RegistryClient(reg.host, { ca: readFileSync(reg.ca!), credentials: { username: 'alice', password: USERS.alice } });
    const blobUrl = `/v2/team/app/blobs/${layer.digest}`;
    const scope = 'repository:team/app:pull';
    assert.is(await client.getLarge(blobUrl, scope), undefined, 'a 401 is left to request()');
    discard(await client.request('GET', `/v2/team/app/manifests/1`, scope));
    const res = await client.getLarge(blobUrl, scope);
    assert.ok(res, 'a plain 200 is read by getLarge');
    assert.is(res!.headers['content-length'], String(layer.size));
    const body = Buffer.concat(await res!.body.toArray());
    assert.is(body.length, layer.size);
    assert.is(sha256(body), layer.digest);
  } finally {
    await reg.stop();
  }
});

type Cut = 'answer' | 'body' | 'headers';

/**
 * A TCP proxy to `target` that cuts one upload request: the first PATCH whose Content-Range starts
 * at `from` or later. `headers`: only its head reaches the registry (no byte of the chunk lands);
 * `body`: its head and half its body; `answer`: all of it, but the answer is lost, so the client
 * cannot know how much landed. It also counts concurrent connections.
 */
async function cuttingProxy(target: number, mode: Cut, from: number): Promise<{ port: number; cut: () => boolean; maxOpen: () => number; close: () => void }> {
  let cut = false;
  let open = 0;
  let maxOpen = 0;
  const server = net.createServer((client) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    const up = net.connect(target, '127.0.0.1');
    let head: Buffer | undefined; // a PATCH head being collected
    let dropAnswer = false;
    let feeding = -1; // bytes of the cut request's body still to pass on
    const end = () => {
      client.destroy();
      up.destroy();
    };
    // What was let through reaches the registry, then its connection ends (and the client's).
    const pass = (c: Buffer) => {
      const part = c.subarray(0, feeding);
      feeding -= part.length;
      if (part.length) up.write(part);
      if (feeding === 0) {
        feeding = -2;
        client.destroy();
        up.end();
      }
    };
    client.on('data', (b: Buffer) => {
      if (feeding >= 0) return pass(b);
      if (cut || dropAnswer || feeding === -2) return void up.write(b);
      // A keep-alive connection carries one request after another; each starts a write.
      if (!head && b.subarray(0, 6).toString() !== 'PATCH ') return void up.write(b);
      head = head ? Buffer.concat([head, b]) : b;
      const at = head.indexOf('\r\n\r\n');
      if (at < 0) return;
      const all = head;
      head = undefined;
      const range = /\r\ncontent-range: *(\d+)-(\d+)/i.exec(all.subarray(0, at).toString());
      if (!range || Number(range[1]) < from) return void up.write(all);
      if (mode === 'answer') {
        dropAnswer = true;
        up.write(all);
        return;
      }
      cut = true;
      up.write(all.subarray(0, at + 4));
      feeding = mode === 'body' ? Math.floor((Number(range[2]) - Number(range[1]) + 1) / 2) : 0;
      pass(all.subarray(at + 4));
    });
    up.on('data', (b) => {
      if (dropAnswer && !cut) {
        cut = true;
        end();
        return;
      }
      if (feeding !== -2) client.write(b);
    });
    client.on('close', () => {
      open--;
      end();
    });
    client.on('error', end);
    up.on('close', end);
    up.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, cut: () => cut, maxOpen: () => maxOpen, close: () => server.close() };
}

// What distribution 2.8 does after a cut (registry/handlers/blobupload.go): every request on an
// upload, the status GET included, compares the bytes it holds with the offset signed into the
// upload's location (`_state`); if they differ it cancels the upload (404 BLOB_UPLOAD_INVALID). So a
// cut that let no byte of the chunk land is resumed at the registry's count (its `Range: 0-N`), and
// one that let some or all of it land loses the upload: bale starts that blob over. Either way the
// push completes with every digest right.
const CHUNK = 128 * 1024;
const cuts: [Cut, RegExp][] = [
  ['headers', new RegExp(`: Resuming at ${2 * CHUNK}$`, 'm')],
  ['body', /: Restarting the upload/],
  ['answer', /: Restarting the upload/],
];
test('plain HTTP (--insecure): a connection cut in a chunk upload is resumed where the registry can say, else the blob restarts; blobs go several at once', async () => {
  const reg = await startRegistry(path.join(scratch.dir, 'reg-plain'), { tls: false });
  try {
    for (const [mode, expect] of cuts) {
      const proxy = await cuttingProxy(Number(reg.host.split(':')[1]), mode, 2 * CHUNK);
      try {
        const c = await seeded(`plain-${mode}`);
        const via = `127.0.0.1:${proxy.port}`;
        const out = await baleOk(c.root, ['push', '--insecure', 'layered:latest', `${via}/${mode}/app:1`], { env: { ...c.env, BALE_PUSH_CHUNK_BYTES: String(CHUNK) } });
        assert.ok(proxy.cut(), `${mode}: the proxy cut an upload`);
        assert.match(out, expect, `${mode}: ${out}`);
        assert.is((out.match(/: (Resuming at \d+|Restarting the upload.*)$/gm) ?? []).length, 1, `${mode}: one recovery: ${out}`);
        assert.match(out, `digest: ${c.manifest}`);
        assert.ok(proxy.maxOpen() >= 2, `blobs went in parallel (${proxy.maxOpen()} connections at once)`);
        // The registry holds the whole image: skopeo copies it out and the layer digests check.
        const d = path.join(scratch.dir, `plain-${mode}`, 'skopeo-dir');
        peer('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/${mode}/app:1`, `dir:${d}`]);
        assert.is(sha256(readFileSync(path.join(d, 'manifest.json'))), c.manifest);
        const s2 = path.join(scratch.dir, `plain-${mode}`, 'store2');
        await baleOk(s2, ['pull', '-q', '--insecure', `${reg.host}/${mode}/app:1`], { env: c.env });
        assert.match(await baleOk(s2, ['images', '-q', '--no-trunc'], { env: c.env }), c.id);
      } finally {
        proxy.close();
      }
    }
  } finally {
    await reg.stop();
  }
});

test('a registry that serves bytes other than their digest, or records another manifest digest, is refused and nothing is recorded', async () => {
  const c = await seeded('fake');
  const real = readFileSync(path.join(c.root, 'blobs', 'sha256', c.manifest.slice(7)));
  const manifest = JSON.parse(real.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const server = createServer((req, res) => {
    const u = req.url ?? '';
    req.resume();
    if (u === '/v2/') return res.writeHead(200).end('{}');
    if (u.includes('/manifests/') && req.method === 'GET') return res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end(real);
    if (u.includes('/manifests/') && req.method === 'PUT') return res.writeHead(201, { 'Docker-Content-Digest': `sha256:${'0'.repeat(64)}` }).end();
    if (u.includes('/blobs/') && req.method === 'HEAD') return res.writeHead(200).end();
    const m = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(u);
    if (m) {
      // The config as stored; every layer a same-sized run of 'x' (not what its digest says).
      const file = path.join(c.root, 'blobs', 'sha256', m[1]!.slice(7));
      const body = m[1] === manifest.config.digest ? readFileSync(file) : Buffer.alloc(readFileSync(file).length, 'x');
      return res.writeHead(200, { 'Content-Length': body.length }).end(body);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  try {
    const s2 = path.join(scratch.dir, 'fake', 'store2');
    await baleOk(s2, ['images'], { env: c.env });
    const before = storeListing(s2);
    const r = await bale(s2, ['pull', '--insecure', `${host}/team/app:1`], { env: c.env });
    assert.is(r.code, 1);
    assert.match(r.stderr, /digest mismatch|not a tar|diff_id/);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(storeListing(s2), before, 'store unchanged');

    const listing = storeListing(c.root);
    const p = await bale(c.root, ['push', '--insecure', 'layered:latest', `${host}/team/app:1`], { env: c.env });
    assert.is(p.code, 1);
    assert.match(p.stderr, `recorded sha256:${'0'.repeat(64)}, not ${c.manifest}`);
    assert.equal(storeListing(c.root), listing, 'no remote recorded');
  } finally {
    server.close();
  }
});

test('a docker v2s2 manifest (podman docker-dir, gzip layers) goes up and comes back byte for byte: same digest for bale, skopeo and the second store', async () => {
  const reg = await startRegistry(path.join(scratch.dir, 'reg-v2s2'), { tls: false });
  try {
    const dir = path.join(PEERS, 'podman-layered.docker-dir');
    const manifest = readFileSync(path.join(dir, 'manifest.json'));
    const digest = sha256(manifest);
    const id = (JSON.parse(manifest.toString()) as { config: { digest: string } }).config.digest;
    const root = path.join(scratch.dir, 'v2s2', 'store');
    await baleOk(root, ['load', '-q', '-i', dir]);
    const ref = `${reg.host}/team/v2s2:1`;
    assert.match(await baleOk(root, ['push', '--insecure', id, ref]), `1: digest: ${digest} size: `);
    const raw = peer('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
    assert.is(sha256(Buffer.from(raw)), digest);
    assert.is(JSON.parse(raw).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const root2 = path.join(scratch.dir, 'v2s2', 'store2');
    assert.match(await baleOk(root2, ['pull', '--insecure', ref]), `Digest: ${digest}`);
    const rec = JSON.parse(readFileSync(path.join(root2, 'images', `${id.replace(/^sha256:/, '')}.json`), 'utf8')) as { manifest: { mediaType: string; digest: string } };
    assert.equal(rec.manifest, { ...rec.manifest, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest });
  } finally {
    await reg.stop();
  }
});

test('pull checks large layers as they arrive, several at once: a flipped byte or a cut body is refused in one line, nothing recorded, no temp file left', async () => {
  // Two 6 MiB layers (past the size examined in the calling thread: the worker's streaming path).
  const big = (seed: number) => Buffer.from(Array.from({ length: 6 * 1024 * 1024 }, (_, i) => (i * 7 + seed * 13 + (i >> 10)) & 0xff));
  const img = await buildImage({ layers: [[{ name: 'a', content: big(1) }], [{ name: 'b', content: big(2) }]], config: { Cmd: ['sh'] } });
  const blobs = new Map<string, Buffer>([[img.configDigest, img.config], ...img.layers.map((l, i) => [img.diffIds[i]!, l] as [string, Buffer])]);
  let open = 0;
  let maxOpen = 0;
  const server = createServer((req, res) => {
    const u = req.url ?? '';
    req.resume();
    if (u === '/v2/') return res.writeHead(200).end('{}');
    const mode = u.split('/')[2];
    if (u.includes('/manifests/')) return res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }).end(img.manifest);
    const body = blobs.get(/\/blobs\/(sha256:[a-f0-9]{64})$/.exec(u)?.[1] ?? '');
    if (!body) return res.writeHead(404).end();
    const sent = mode === 'flip' && body.length > 1024 * 1024 ? Buffer.from(body) : body;
    if (sent !== body) sent[sent.length >> 1]! ^= 1;
    res.writeHead(200, { 'Content-Length': body.length });
    open++;
    maxOpen = Math.max(maxOpen, open);
    void (async () => {
      // In pieces with pauses, so that blobs fetched at once overlap.
      for (let at = 0; at < sent.length; at += 256 * 1024) {
        if (mode === 'cut' && at >= sent.length / 2 && sent.length > 1024 * 1024) return res.destroy();
        res.write(sent.subarray(at, at + 256 * 1024));
        await new Promise((r) => setTimeout(r, 5));
      }
      res.end();
    })().finally(() => open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  try {
    const root = path.join(scratch.dir, 'large', 'store');
    await baleOk(root, ['images']);
    const before = storeListing(root);
    for (const [mode, expect] of [
      ['flip', /: blob sha256:[a-f0-9]{64}: digest mismatch \(content is sha256:/],
      ['cut', /connection closed with \d+ bytes of the body unsent/],
    ] as const) {
      const r = await bale(root, ['pull', '--insecure', `${host}/${mode}/app:1`]);
      assert.is(r.code, 1, mode);
      assert.match(r.stderr, expect, mode);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(storeListing(root), before, `${mode}: store unchanged`);
      assert.equal(readdirSync(path.join(root, 'tmp')), [], `${mode}: no temp file left`);
    }
    maxOpen = 0;
    await baleOk(root, ['pull', '-q', '--insecure', `${host}/good/app:1`]);
    assert.ok(maxOpen >= 2, `blobs fetched at once (${maxOpen} at most)`);
    assert.match(await baleOk(root, ['images', '-q', '--no-trunc']), img.configDigest);
    for (const [d, b] of blobs) assert.ok(readFileSync(path.join(root, 'blobs', 'sha256', d.slice(7))).equals(b), `${d} stored as served`);
  } finally {
    server.close();
  }
});

/**
 * A proxy to the registry at `target` that holds the answer to a GET of blob `digest` once `hold`
 * bytes of it have gone to the client, for `holdMs` or until the client hangs up; says how many
 * bytes of that answer the client was sent.
 */
async function holdingProxy(target: number, digest: string, hold: number, holdMs: number): Promise<{ port: number; served: () => number; close: () => void }> {
  let served = 0;
  const server = net.createServer((client) => {
    const up = net.connect(target, '127.0.0.1');
    let held = false;
    let timer: NodeJS.Timeout | undefined;
    client.on('data', (b: Buffer) => {
      if (b.toString('latin1').startsWith(`GET /v2/`) && b.includes(`/blobs/${digest} `)) held = true;
      up.write(b);
    });
    up.on('data', (b: Buffer) => {
      if (held) served += b.length;
      client.write(b);
      if (held && served >= hold && !timer) {
        up.pause();
        timer = setTimeout(() => up.resume(), holdMs);
      }
    });
    const end = () => {
      clearTimeout(timer);
      client.destroy();
      up.destroy();
    };
    up.on('end', () => client.end());
    client.on('close', end);
    up.on('close', end);
    client.on('error', end);
    up.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, served: () => served, close: () => server.close() };
}

test('the first blob of a pull that fails stops the other downloads: reported in one line, store unchanged, no temp file left', async () => {
  const reg = await startRegistry(path.join(scratch.dir, 'reg-stop'), { tls: false });
  try {
    const root = path.join(scratch.dir, 'stop', 'store');
    const big = Buffer.from(Array.from({ length: 16 * 1024 * 1024 }, (_, i) => (i * 7 + (i >> 10)) & 0xff));
    const rec = await seedImage(root, { layers: [[{ name: 'small', content: 'damaged on the registry\n' }], [{ name: 'big', content: big }]], tags: ['stop:1'] });
    await baleOk(root, ['push', '-q', '--insecure', 'stop:1', `${reg.host}/team/stop:1`]);
    // The small layer rots on the registry's disk; the big one is held by the proxy after 1 MiB.
    const [small, large] = rec.layers;
    const data = path.join(reg.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', small!.digest.slice(7, 9), small!.digest.slice(7), 'data');
    const rotten = readFileSync(data);
    rotten[rotten.indexOf('damaged')]! ^= 0x20;
    writeFileSync(data, rotten);
    const HOLD_MS = 60_000;
    const proxy = await holdingProxy(Number(reg.host.split(':')[1]), large!.digest, 1024 * 1024, HOLD_MS);
    try {
      const root2 = path.join(scratch.dir, 'stop', 'store2');
      await baleOk(root2, ['images']);
      const before = storeListing(root2);
      const started = Date.now();
      const r = await bale(root2, ['pull', '--insecure', `127.0.0.1:${proxy.port}/team/stop:1`]);
      const took = Date.now() - started;
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, `: blob ${small!.digest}: digest mismatch (content is sha256:`);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(proxy.served() < large!.size, `the big layer's download was stopped (${proxy.served()} of ${large!.size} bytes served)`);
      assert.ok(took < HOLD_MS, `the pull ended without waiting for the held download (${took} ms)`);
      assert.equal(storeListing(root2), before, 'store unchanged');
      assert.equal(readdirSync(path.join(root2, 'tmp')), [], 'no temp file left');
    } finally {
      proxy.close();
    }
  } finally {
    await reg.stop();
  }
});

test('push, pull, login, logout --help', async () => {
  for (const v of ['push', 'pull', 'login', 'logout']) assert.match(await baleOk('/nonexistent', [v, '--help']), `Usage: bale ${v}`);
});

test.run();
