// HTTP for the OCI distribution API: one request helper over node:http/https (custom CA, plain HTTP
// with --insecure, streamed bodies), and the auth dance registries ask for: a 401 with
// `WWW-Authenticate: Basic` is answered with the user's credentials, one with `Bearer realm=…,
// service=…,scope=…` by fetching a token from the realm (with the credentials, if any) and retrying.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { BaleError } from '../util/errors.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** Plain HTTP instead of HTTPS. */
  insecure?: boolean;
  /** PEM CA certificate(s) to trust for HTTPS (besides the system's). */
  ca?: Buffer;
  credentials?: Credentials;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Readable;
}

export interface RequestInit {
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  /** Aborting it destroys the request, and the answer's body if it has come. */
  signal?: AbortSignal;
}

/** Read a whole (small) response body; refuses more than `max` bytes. */
export async function readBody(res: Response, max = 8 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      res.body.destroy();
      throw new BaleError(`response larger than ${max} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Drop a response body we do not want. */
export function discard(res: Response): void {
  res.body.resume();
}

/** Parse `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(h: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/.exec(h);
  const params: Record<string, string> = {};
  if (!m) return { scheme: '', params };
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

/** A client for one registry host: remembers the Authorization it earned per scope. */
export class RegistryClient {
  readonly base: string;
  private readonly auth = new Map<string, string>();

  constructor(readonly host: string, private readonly opts: RegistryOptions) {
    this.base = `${opts.insecure ? 'http' : 'https'}://${host}`;
  }

  /** One request, no auth handling. `url` is absolute or a path on this registry. */
  raw(method: string, url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url, this.base);
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        u,
        { method, headers: { 'User-Agent': 'bale', ...init.headers }, signal: init.signal, ...(u.protocol === 'https:' && this.opts.ca ? { ca: this.opts.ca } : {}) },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      req.on('error', (e) => reject(new BaleError(`${this.host}: ${method} ${u.pathname}: ${e.message}`, { cause: e })));
      const b = init.body;
      if (b === undefined) req.end();
      else if (Buffer.isBuffer(b)) req.end(b);
      else {
        const s = b();
        s.on('error', (e) => req.destroy(e));
        s.pipe(req);
      }
    });
  }

  /**
   * GET a large body (a blob) on a connection of its own that reads 1 MiB at a time. Node's http
   * client reads 64 KiB at a time and parses each piece; on a pull of the bench image this path
   * takes half the CPU per byte. Only for the plain answer: 200 with a Content-Length, no transfer
   * or content coding; anything else (a 401, a redirect, chunked) gives undefined, and the caller
   * asks again through request(), which handles those. Uses the Authorization earned for `scope`.
   * Aborting `signal` closes the connection: the promise, or the body once answered, fails.
   */
  async getLarge(url: string, scope: string, signal?: AbortSignal): Promise<Response | undefined> {
    const u = new URL(url, this.base);
    const secure = u.protocol === 'https:';
    const port = Number(u.port || (secure ? 443 : 80));
    const auth = this.auth.get(scope);
    const request = [`GET ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'User-Agent: bale', 'Accept-Encoding: identity', 'Connection: close', ...(auth ? [`Authorization: ${auth}`] : [])].join('\r\n') + '\r\n\r\n';
    return new Promise((resolve, reject) => {
      let head: Buffer | undefined = Buffer.alloc(0);
      let left = 0;
      let answered = false;
      const fail = (e: Error) => {
        const err = new BaleError(`${this.host}: GET ${u.pathname}: ${e.message}`, { cause: e });
        if (answered) body.destroy(err);
        else reject(err);
      };
      const body = new Readable({ read: () => void sock.resume(), destroy: (e, cb) => (sock.destroy(), cb(e)) });
      const onread = {
        buffer: Buffer.allocUnsafe(1024 * 1024),
        callback: (n: number, buf: Uint8Array): boolean => {
          let b = Buffer.from(buf.buffer, buf.byteOffset, n);
          if (head) {
            head = Buffer.concat([head, b]);
            const at = head.indexOf('\r\n\r\n');
            if (at < 0) {
              if (head.length > 64 * 1024) fail(new Error('answer head too long'));
              return true;
            }
            const lines = head.subarray(0, at).toString('latin1').split('\r\n');
            b = head.subarray(at + 4);
            head = undefined;
            const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
            const headers: http.IncomingHttpHeaders = {};
            for (const l of lines.slice(1)) {
              const i = l.indexOf(':');
              if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
            }
            const plain = status === 200 && /^\d+$/.test(String(headers['content-length'] ?? '')) && !headers['transfer-encoding'] && (!headers['content-encoding'] || headers['content-encoding'] === 'identity');
            if (!plain) {
              sock.destroy();
              resolve(undefined);
              return false;
            }
            left = Number(headers['content-length']);
            answered = true;
            resolve({ status, headers, body });
          }
          if (b.length === 0 && left > 0) return true;
          const part = Buffer.from(b.subarray(0, left)); // a copy: the read buffer is reused
          left -= part.length;
          const more = body.push(part);
          if (left === 0) {
            body.push(null);
            sock.destroy();
            return false;
          }
          return more;
        },
      };
      const sock = secure
        ? tls.connect({ host: u.hostname, port, servername: net.isIP(u.hostname) ? undefined : u.hostname, ...(this.opts.ca ? { ca: this.opts.ca } : {}), onread } as tls.ConnectionOptions)
        : net.connect({ host: u.hostname, port, onread });
      sock.once(secure ? 'secureConnect' : 'connect', () => sock.write(request));
      sock.on('error', fail);
      if (signal) {
        const abort = () => {
          fail(new Error('aborted'));
          sock.destroy();
        };
        if (signal.aborted) abort();
        signal.addEventListener('abort', abort, { once: true });
        sock.once('close', () => signal.removeEventListener('abort', abort));
      }
      sock.on('end', () => {
        if (head) fail(new Error('connection closed before an answer'));
        else if (left > 0) fail(new Error(`connection closed with ${left} bytes of the body unsent`));
      });
    });
  }

  /**
   * A request with auth: on a 401 the challenge is answered (Basic, or a Bearer token for `scope`)
   * and the request sent again, once. A body given as a function is re-made for the retry.
   */
  async request(method: string, url: string, scope: string, init: RequestInit = {}): Promise<Response> {
    const send = () => this.raw(method, url, { ...init, headers: { ...(this.auth.get(scope) ? { Authorization: this.auth.get(scope)! } : {}), ...init.headers } });
    const res = await send();
    if (res.status !== 401) return res;
    discard(res);
    const challenge = res.headers['www-authenticate'];
    if (!challenge) throw new BaleError(`${this.host}: ${method} ${new URL(url, this.base).pathname}: 401 Unauthorized without a challenge`);
    this.auth.set(scope, await this.answer(challenge, scope));
    const again = await send();
    if (again.status === 401) {
      discard(again);
      throw new BaleError(`${this.host}: unauthorized: ${this.opts.credentials ? 'the registry refused the credentials' : 'authentication required (bale login ' + this.host + ')'}`);
    }
    return again;
  }

  private async answer(header: string, scope: string): Promise<string> {
    const { scheme, params } = parseChallenge(header);
    const creds = this.opts.credentials;
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    if (scheme === 'basic') {
      if (!basic) throw new BaleError(`${this.host}: authentication required (bale login ${this.host})`);
      return basic;
    }
    if (scheme !== 'bearer' || !params['realm']) throw new BaleError(`${this.host}: unsupported authentication challenge ${JSON.stringify(header)}`);
    const realm = new URL(params['realm']);
    if (params['service']) realm.searchParams.set('service', params['service']);
    const want = scope || params['scope'];
    if (want) for (const s of want.split(' ')) realm.searchParams.append('scope', s);
    const res = await this.raw('GET', realm.toString(), { headers: basic ? { Authorization: basic } : {} });
    const body = await readBody(res, 1024 * 1024);
    if (res.status !== 200) throw new BaleError(`${this.host}: token server ${realm.host} answered ${res.status}${res.status === 401 ? ' (bad credentials?)' : ''}`);
    let tok: { token?: string; access_token?: string };
    try {
      tok = JSON.parse(body.toString('utf8')) as typeof tok;
    } catch {
      throw new BaleError(`${this.host}: token server ${realm.host} sent no JSON`);
    }
    const t = tok.token ?? tok.access_token;
    if (!t) throw new BaleError(`${this.host}: token server ${realm.host} sent no token`);
    return `Bearer ${t}`;
  }
}

/** The error a registry sent, as one line: `404 MANIFEST_UNKNOWN: manifest unknown`. */
export async function registryError(res: Response, what: string): Promise<BaleError> {
  let detail = '';
  try {
    const b = JSON.parse((await readBody(res, 64 * 1024)).toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    detail = (b.errors ?? []).map((e) => `${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`).join('; ');
  } catch {
    // not the spec's error JSON
  }
  return new BaleError(`${what}: ${res.status}${detail ? ` ${detail}` : ''}`);
}
