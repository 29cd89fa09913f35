// The flags push, pull and login share: how to reach a registry and who to be there.
import { promises as fsp } from 'node:fs';
import { credentialsFor } from '../archive/auth-config.js';
import { RegistryClient, type Credentials } from '../archive/registry-http.js';
import { BaleError } from '../util/errors.js';
import type { Parsed } from './verb.js';

export const REGISTRY_FLAGS = { boolean: ['insecure'], string: ['ca-cert'] };

export const REGISTRY_HELP = `      --ca-cert FILE   Trust the PEM CA certificate(s) in FILE for the registry's TLS
      --insecure       Talk plain HTTP to the registry (no TLS)`;

/** A client for `host` with the flags' TLS settings and the stored (or given) credentials. */
export async function registryClient(p: Parsed, host: string, creds?: Credentials): Promise<RegistryClient> {
  let ca: Buffer | undefined;
  const caFile = p['ca-cert'] as string | undefined;
  if (caFile) {
    ca = await fsp.readFile(caFile).catch((e: NodeJS.ErrnoException) => {
      throw new BaleError(`--ca-cert ${caFile}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    });
  }
  return new RegistryClient(host, { insecure: Boolean(p['insecure']), ca, credentials: creds ?? (await credentialsFor(host)) });
}
