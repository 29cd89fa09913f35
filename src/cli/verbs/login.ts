// bale login: check credentials against a registry and store them in docker's config.json.
import { configFile, storeCredentials } from '../../archive/auth-config.js';
import { discard, registryError } from '../../archive/registry-http.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { REGISTRY_FLAGS, REGISTRY_HELP, registryClient } from '../registry-flags.js';

export const help = `Usage: bale login [OPTIONS] REGISTRY

Log in to a registry: the credentials are checked (GET /v2/, answering its Basic or Bearer
challenge) and stored as docker does, in $DOCKER_CONFIG/config.json or ~/.docker/config.json
(auths.REGISTRY.auth = base64 of user:password), which docker, podman and skopeo also read.

Options:
  -u, --username USER  Username (required)
  -p, --password PASS  Password (visible to other users of this machine: prefer --password-stdin)
      --password-stdin Read the password from standard input
${REGISTRY_HELP}
  -h, --help           Show this help
`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(
    args,
    { boolean: ['password-stdin', ...REGISTRY_FLAGS.boolean], string: ['username', 'password', ...REGISTRY_FLAGS.string], alias: { u: 'username', p: 'password' } },
    'login',
  );
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'login');
  const host = p._[0]!.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  const username = p['username'] as string | undefined;
  if (!username) throw new UsageError('bale login: --username is required (bale reads no terminal prompts)');
  if (p['password'] !== undefined && p['password-stdin']) throw new UsageError('bale login: --password and --password-stdin are mutually exclusive');
  const password = p['password-stdin'] ? await readStdin() : (p['password'] as string | undefined);
  if (!password) throw new UsageError('bale login: give the password with --password-stdin (or -p)');
  const client = await registryClient(p, host, { username, password });
  const res = await client.request('GET', '/v2/', '');
  if (res.status !== 200) throw res.status === 401 ? new BaleError(`${host}: login failed: unauthorized`) : await registryError(res, `${host}: login`);
  discard(res);
  await storeCredentials(host, { username, password });
  process.stderr.write(`Credentials saved in ${configFile()}\n`);
  process.stdout.write('Login Succeeded\n');
  return 0;
}
