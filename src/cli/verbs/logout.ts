// bale logout: forget a registry's credentials in docker's config.json.
import { removeCredentials } from '../../archive/auth-config.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';

export const help = `Usage: bale logout REGISTRY

Remove the credentials stored for REGISTRY in $DOCKER_CONFIG/config.json (or ~/.docker/config.json).

Options:
  -h, --help   Show this help
`;

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, {}, 'logout');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'logout');
  const host = p._[0]!.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (await removeCredentials(host)) process.stdout.write(`Removing login credentials for ${host}\n`);
  else process.stdout.write(`Not logged in to ${host}\n`);
  return 0;
}
