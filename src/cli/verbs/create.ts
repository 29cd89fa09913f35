// bale create: make a container (record, init layer, empty read-write layer) without starting it.
import { Store } from '../../store/store.js';
import { createContainer, repairAll, requireRoot, type CreateOptions } from '../../runtime/lifecycle.js';
import { needArgs, parseFlagsUntilCommand, wantsHelp, type FlagSpec, type Parsed } from '../verb.js';
import { UsageError } from '../../util/errors.js';
import { RESOURCE_ALIASES, RESOURCE_FLAGS, RESOURCE_STRINGS, resourceOptions } from '../resources.js';
import { mountSpecs } from '../../runtime/mounts.js';
import type { Help } from '../help.js';

export const CREATE_FLAGS = `Options:
  -e, --env K=V         Set an environment variable (-e K takes the host's value); repeatable
      --env-file FILE   Read variables from FILE (K=V or K lines, # comments); repeatable
  -v, --volume SPEC     Bind /HOST:/CTR[:ro], named volume NAME:/CTR[:ro], or anonymous /CTR
      --mount SPEC      type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=N]
      --tmpfs /CTR      A tmpfs at /CTR; options after a colon: size=1m,mode=1777,ro,exec
      --read-only       Mount the container's root file system read-only
  -w, --workdir DIR     Working directory inside the container (overrides the image's)
  -u, --user USER       User: name, uid, name:group or uid:gid (overrides the image's)
      --entrypoint CMD  Replace the image's Entrypoint (and drop its Cmd); '' for none
      --hostname NAME   Hostname (default: the first 12 hex digits of the container id)
      --net MODE        none (default: own network namespace with only lo) or host
      --name NAME       Name the container (default: a generated adjective_name)
  -i, --interactive     Keep stdin attached
  -t, --tty             Give the container a terminal of its own (a new pty, relayed)
      --rm              Remove the container when it exits
      --cap-add CAP     Add a capability (SYS_ADMIN or CAP_SYS_ADMIN; ALL for every one); repeatable
      --cap-drop CAP    Drop a capability from docker's default 14 (ALL for every one); repeatable
      --security-opt O  seccomp=unconfined (no filter), seccomp=FILE.json (a docker seccomp profile),
                        no-new-privileges[=true|false] (setuid binaries and file capabilities do not
                        raise privileges); default: docker's seccomp profile; repeatable
      --privileged      Every capability, no seccomp filter, /proc and /sys unmasked (unsafe)
${RESOURCE_FLAGS}`;

export const help: Help = {
  usage: 'bale create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a container from an image without starting it; prints its id.',
  operands: 'image',
  options: [
    { flags: '-e, --env', arg: 'K=V', text: "Set an environment variable (-e K takes the host's value); repeatable" },
    { flags: '-w, --workdir', arg: 'DIR', text: "Working directory inside the container (overrides the image's)" },
    { flags: '-u, --user', arg: 'USER', text: "User: name, uid, name:group or uid:gid (overrides the image's)" },
    { flags: '--entrypoint', arg: 'CMD', text: "Replace the image's Entrypoint (and drop its Cmd); '' for none" },
    { flags: '--hostname', arg: 'NAME', text: 'Hostname (default: the first 12 hex digits of the container id)' },
    { flags: '--net', arg: 'MODE', text: 'none (default: own network namespace with only lo) or host', values: ['none', 'host'] },
    { flags: '--name', arg: 'NAME', text: 'Name the container (default: a generated adjective_name)' },
    { flags: '-i, --interactive', text: 'Keep stdin attached' },
    { flags: '-t, --tty', text: 'Give the container a terminal of its own (a new pty, relayed)' },
    { flags: '--rm', text: 'Remove the container when it exits' },
  ],
};

export const createSpec: FlagSpec = {
  boolean: ['interactive', 'tty', 'rm', 'privileged', 'read-only'],
  string: ['workdir', 'user', 'entrypoint', 'hostname', 'net', 'network', 'name', ...RESOURCE_STRINGS],
  multi: ['env', 'security-opt', 'cap-add', 'cap-drop', 'env-file', 'volume', 'mount', 'tmpfs'],
  alias: { e: 'env', v: 'volume', w: 'workdir', u: 'user', i: 'interactive', t: 'tty', ...RESOURCE_ALIASES },
};

/** --privileged hands the container the host: say so once. */
export function warnPrivileged(o: CreateOptions): void {
  if (o.security.privileged) process.stderr.write('bale: warning: --privileged: the container gets every capability, no seccomp filter and unmasked /proc and /sys; its root can take over the host\n');
}

/** Turn parsed create/run flags into create options. */
export function createOptions(p: Parsed, verb: string): CreateOptions {
  needArgs({ ...p, _: p._.slice(0, 1) }, 1, 1, verb);
  const net = String(p['net'] ?? p['network'] ?? 'none');
  if (net !== 'none' && net !== 'host') throw new UsageError(`--net takes none or host, not ${JSON.stringify(net)}`);
  const str = (k: string) => (p[k] === undefined ? undefined : String(p[k]));
  return {
    imageRef: p._[0]!,
    cmd: p._.slice(1),
    entrypoint: str('entrypoint'),
    env: p['env'] as string[],
    envFiles: p['env-file'] as string[],
    mounts: mountSpecs({ volume: p['volume'] as string[], mount: p['mount'] as string[], tmpfs: p['tmpfs'] as string[] }),
    readOnly: Boolean(p['read-only']),
    workdir: str('workdir'),
    user: str('user'),
    hostname: str('hostname'),
    name: str('name'),
    net,
    tty: Boolean(p['tty']),
    autoRemove: Boolean(p['rm']),
    security: {
      securityOpt: p['security-opt'] as string[],
      capAdd: p['cap-add'] as string[],
      capDrop: p['cap-drop'] as string[],
      privileged: Boolean(p['privileged']),
    },
    resources: resourceOptions(p),
  };
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlagsUntilCommand(args, createSpec, 'create');
  if (wantsHelp(p, help)) return 0;
  const o = createOptions(p, 'create');
  requireRoot('create');
  warnPrivileged(o);
  const store = await Store.open();
  await repairAll(store);
  const rec = await createContainer(store, o);
  process.stdout.write(rec.id + '\n');
  return 0;
}
