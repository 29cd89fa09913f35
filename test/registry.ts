// A real registry for the push/pull tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1,
// with its own config file and storage dir, over TLS with a CA made here by openssl, or plain HTTP;
// auth none, htpasswd (bcrypt) or token (a JWT signed by a key this helper makes, served by a tiny
// token server in the test process).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createPrivateKey, createSign, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface Registry {
  host: string;
  dir: string;
  /** The CA certificate file (TLS registries). */
  ca?: string;
  stop: () => Promise<void>;
  /** Token requests the token server saw (scope parameters). */
  tokenScopes: string[];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A CA and a server certificate for 127.0.0.1 signed by it. */
export function makeCerts(dir: string): { ca: string; cert: string; key: string; caKey: string } {
  const f = (n: string) => path.join(dir, n);
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=bale test CA', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr')]);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.crt')]);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key'), caKey: f('ca.key') };
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/** A token server: checks Basic credentials (if `users`), grants what was asked for. */
async function tokenServer(keyPem: string, certPem: string, service: string, users: Record<string, string> | undefined, scopes: string[]): Promise<{ url: string; server: Server }> {
  const key = createPrivateKey(keyPem);
  const der = Buffer.from(certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    let sub = '';
    if (users) {
      const m = /^Basic (.+)$/.exec(auth ?? '');
      const [user, pass] = m ? Buffer.from(m[1]!, 'base64').toString().split(':') : [];
      if (!user || users[user] !== pass) {
        res.writeHead(401).end();
        return;
      }
      sub = user;
    }
    const access = u.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean).map((s) => {
      scopes.push(s);
      const [type, name, actions] = s.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = { iss: 'bale-test-issuer', sub, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signing).sign(key);
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `${signing}.${b64url(sig)}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`, server };
}

export interface RegistrySpec {
  tls: boolean;
  auth?: { kind: 'htpasswd' | 'token'; users: Record<string, string> };
}

export async function startRegistry(dir: string, spec: RegistrySpec): Promise<Registry> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${path.join(dir, 'data')}`, '  delete:', '    enabled: true', 'http:', `  addr: ${host}`, `  secret: ${randomBytes(8).toString('hex')}`];
  let ca: string | undefined;
  const tokenScopes: string[] = [];
  let token: Server | undefined;
  if (spec.tls || spec.auth?.kind === 'token') {
    const c = makeCerts(dir);
    ca = c.ca;
    if (spec.tls) lines.push('  tls:', `    certificate: ${c.cert}`, `    key: ${c.key}`);
    if (spec.auth?.kind === 'token') {
      // The token signing certificate is the CA itself: the registry trusts tokens whose x5c chains to it.
      const t = await tokenServer(readFileSync(c.caKey, 'utf8'), readFileSync(c.ca, 'utf8'), host, spec.auth.users, tokenScopes);
      token = t.server;
      lines.push('auth:', '  token:', `    realm: ${t.url}`, `    service: ${host}`, '    issuer: bale-test-issuer', `    rootcertbundle: ${c.ca}`);
    }
  }
  if (spec.auth?.kind === 'htpasswd') {
    const file = path.join(dir, 'htpasswd');
    writeFileSync(file, '');
    for (const [u, pw] of Object.entries(spec.auth.users)) run('htpasswd', ['-B', '-b', file, u, pw]);
    lines.push('auth:', '  htpasswd:', '    realm: bale-test', `    path: ${file}`);
  }
  const config = path.join(dir, 'config.yml');
  writeFileSync(config, lines.join('\n') + '\n');
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  // Ready when it accepts connections.
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (up) break;
    if (i > 100 || child.exitCode !== null) throw new Error(`docker-registry did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    dir,
    ca,
    tokenScopes,
    stop: async () => {
      token?.close();
      // Once: a child ended by a signal has a signalCode and no exitCode, and exits only once.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}
