// push, pull, login against a real registry (docker-registry, distribution 2.8) on 127.0.0.1: TLS
// with a CA made here, htpasswd (bcrypt) and token auth, plain HTTP; skopeo and podman read what
// bale pushed with the same manifest digest. Failures are made on the wire: a proxy that drops a
// connection in the middle of an upload, a fake registry that serves wrong bytes or records a
// different manifest digest.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, copyFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sha256 } from '../src/oci/digest.js';
import { bale, baleOk, have, SHARED, storeListing, tmpDir } from './helpers.js';
import { startRegistry, type Registry } from './registry.js';

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
  } finally {
    await reg.stop();
  }
});

/**
 * A TCP proxy to `target` that lets the first PATCH request longer than `after` bytes reach the
 * registry whole, then cuts the connection before the client sees the answer (the client cannot
 * know how much landed); it also counts concurrent connections.
 */
async function cuttingProxy(target: number, after: number): Promise<{ port: number; cut: () => boolean; maxOpen: () => number; close: () => void }> {
  let cut = false;
  let open = 0;
  let maxOpen = 0;
  const server = net.createServer((client) => {
    open++;
    maxOpen = Math.max(maxOpen, open);
    const up = net.connect(target, '127.0.0.1');
    let patchBytes = -1;
    let dropAnswer = false;
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('data', (b: Buffer) => {
      // Counted per request: a keep-alive connection carries one PATCH after another.
      if (!cut && b.includes('PATCH /v2/')) patchBytes = 0;
      if (!cut && patchBytes >= 0) {
        patchBytes += b.length;
        if (patchBytes > after) dropAnswer = true;
      }
      up.write(b);
    });
    up.on('data', (b) => {
      if (dropAnswer && !cut) {
        cut = true;
        end();
        return;
      }
      client.write(b);
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

// distribution 2.8 answers an upload's status (GET) only at the location whose state matches what
// it holds, so after a lost answer bale cannot learn where it stands there: it starts that blob's
// upload again (a registry that answers the status is resumed at its Range), and the push completes.
test('plain HTTP (--insecure): chunked upload recovers from a connection dropped mid-upload; blobs go several at once', async () => {
  const reg = await startRegistry(path.join(scratch.dir, 'reg-plain'), { tls: false });
  const proxy = await cuttingProxy(Number(reg.host.split(':')[1]), 64 * 1024);
  try {
    const c = await seeded('plain');
    const via = `127.0.0.1:${proxy.port}`;
    const out = await baleOk(c.root, ['push', '--insecure', 'layered:latest', `${via}/team/app:1`], { env: { ...c.env, BALE_PUSH_CHUNK_BYTES: String(128 * 1024) } });
    assert.ok(proxy.cut(), 'the proxy cut an upload');
    assert.is((out.match(/: (Resuming at \d+|Restarting the upload.*)$/gm) ?? []).length, 1, out);
    assert.match(out, `digest: ${c.manifest}`);
    assert.ok(proxy.maxOpen() >= 2, `blobs went in parallel (${proxy.maxOpen()} connections at once)`);
    // The registry holds the whole image: skopeo copies it out and the layer digests check.
    const d = path.join(scratch.dir, 'plain', 'skopeo-dir');
    peer('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/team/app:1`, `dir:${d}`]);
    assert.is(sha256(readFileSync(path.join(d, 'manifest.json'))), c.manifest);
    const s2 = path.join(scratch.dir, 'plain', 'store2');
    await baleOk(s2, ['pull', '-q', '--insecure', `${reg.host}/team/app:1`], { env: c.env });
    assert.match(await baleOk(s2, ['images', '-q', '--no-trunc'], { env: c.env }), c.id);
  } finally {
    proxy.close();
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

test('push, pull, login, logout --help', async () => {
  for (const v of ['push', 'pull', 'login', 'logout']) assert.match(await baleOk('/nonexistent', [v, '--help']), `Usage: bale ${v}`);
});

test.run();
