// Registry credentials in docker's config.json (`$DOCKER_CONFIG/config.json`, else
// `~/.docker/config.json`): `{"auths": {"HOST": {"auth": base64("user:password")}}}`, the file
// docker login, podman login --authfile and skopeo read. Other keys in the file are kept as they are.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BaleError } from '../util/errors.js';
import { uniqueName } from '../util/fsx.js';
import type { Credentials } from './registry-http.js';

export function configFile(): string {
  const dir = process.env['DOCKER_CONFIG'] || path.join(os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  [k: string]: unknown;
}

async function readConfig(file: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BaleError(`${file}: ${(e as Error).message}`);
  }
  try {
    const c = JSON.parse(text) as DockerConfig;
    return c && typeof c === 'object' ? c : {};
  } catch (e) {
    throw new BaleError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Written under a temp name with mode 0600 (it holds passwords), then renamed over the file. */
async function writeSecret(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), uniqueName('.config.json'));
  await fsp.writeFile(tmp, text, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

/** The credentials stored for `host`, if any. */
export async function credentialsFor(host: string): Promise<Credentials | undefined> {
  const c = await readConfig(configFile());
  const a = c.auths?.[host] ?? c.auths?.[`https://${host}`] ?? c.auths?.[`http://${host}`];
  if (!a) return undefined;
  if (a.auth) {
    const s = Buffer.from(a.auth, 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i < 0) throw new BaleError(`${configFile()}: auths.${host}.auth is not base64 of user:password`);
    return { username: s.slice(0, i), password: s.slice(i + 1) };
  }
  if (a.username && a.password) return { username: a.username, password: a.password };
  return undefined;
}

export async function storeCredentials(host: string, creds: Credentials): Promise<string> {
  const file = configFile();
  const c = await readConfig(file);
  c.auths = { ...(c.auths ?? {}), [host]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } };
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeSecret(file, JSON.stringify(c, null, '\t') + '\n');
  return file;
}

/** Remove `host`'s credentials; false when there were none. */
export async function removeCredentials(host: string): Promise<boolean> {
  const file = configFile();
  const c = await readConfig(file);
  if (!c.auths?.[host]) return false;
  delete c.auths[host];
  await writeSecret(file, JSON.stringify(c, null, '\t') + '\n');
  return true;
}
