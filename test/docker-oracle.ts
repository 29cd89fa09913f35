// docker 20.10's CLI as an oracle for formatting, without a daemon: a fake Engine API on a unix
// socket serves the same images and containers bale has, and `docker images --format ...` formats
// them with docker's own code. Only the formatting is docker's; the data is ours.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Debian's docker.io (20.10); /usr/local/bin may hold another version. */
export const DOCKER = '/usr/bin/docker';

export interface FakeEngine {
  docker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

/** Serve `routes` (path without the /vX.Y prefix → JSON body) on a fresh socket. */
export async function fakeEngine(routes: (p: string) => unknown): Promise<FakeEngine> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bale-fake-engine-'));
  const sock = path.join(dir, 'docker.sock');
  const server = http.createServer((req, res) => {
    res.setHeader('Api-Version', '1.41');
    res.setHeader('Content-Type', 'application/json');
    const p = decodeURIComponent((req.url ?? '').replace(/^\/v[0-9.]+/, '').split('?')[0]!);
    if (p === '/_ping') return void res.end('OK');
    const body = routes(p);
    if (body === undefined) {
      res.statusCode = 404;
      return void res.end(JSON.stringify({ message: `no route ${p}` }));
    }
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    docker(args) {
      // Asynchronously: the server answering it lives in this process.
      return new Promise((resolve, reject) => {
        const env = { PATH: process.env['PATH'] ?? '', TZ: 'UTC', DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: dir, HOME: dir };
        const c = spawn(DOCKER, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        c.stdout.on('data', (b: Buffer) => (stdout += b));
        c.stderr.on('data', (b: Buffer) => (stderr += b));
        c.on('error', reject);
        c.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      });
    },
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
