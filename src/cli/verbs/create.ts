// bale create: make a container (record, init layer, empty read-write layer) without starting it.
import { Store } from '../../store/store.js';
import { createContainer, repairAll, requireRoot, type CreateOptions } from '../../runtime/lifecycle.js';
import { needArgs, parseFlagsUntilCommand, wantsHelp, type FlagSpec, type Parsed } from '../verb.js';
import { UsageError } from '../../util/errors.js';
import { RESOURCE_ALIASES, RESOURCE_STRINGS, resourceOptions } from '../resources.js';
import { mountSpecs } from '../../runtime/mounts.js';
import { parsePublish } from '../../runtime/ports.js';
import type { Help, HelpOption } from '../help.js';

/** The options of create and run: one list for --help, the man pages and completion. */
export const CREATE_OPTIONS: HelpOption[] = [
  { flags: '-e, --env', arg: 'K=V', text: "Set an environment variable (-e K takes the host's value); repeatable" },
  { flags: '--env-file', arg: 'FILE', text: 'Read variables from FILE (K=V or K lines, # comments); repeatable', values: 'file' },
  { flags: '-v, --volume', arg: 'SPEC', text: 'Bind /HOST:/CTR[:ro], named volume NAME:/CTR[:ro], or anonymous /CTR' },
  { flags: '--mount', arg: 'SPEC', text: 'type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=N]' },
  { flags: '--tmpfs', arg: 'DIR', text: 'A tmpfs at DIR in the container; options after a colon: size=1m,mode=1777,ro,exec' },
  { flags: '--read-only', text: "Mount the container's root file system read-only" },
  { flags: '-w, --workdir', arg: 'DIR', text: "Working directory inside the container (overrides the image's)" },
  { flags: '-u, --user', arg: 'USER', text: "User: name, uid, name:group or uid:gid (overrides the image's)" },
  { flags: '--entrypoint', arg: 'CMD', text: "Replace the image's Entrypoint (and drop its Cmd); '' for none" },
  { flags: '--hostname', arg: 'NAME', text: "Hostname (default: the first 12 hex digits of the container id; the host's with --net host)" },
  { flags: '--net', arg: 'MODE', text: 'none (default: own network namespace with only lo; with -p, one connected to the host) or host', values: ['none', 'host'] },
  { flags: '-p, --publish', arg: 'SPEC', text: "Publish a container port on the host: [IP:][HOST:]CTR[/tcp|/udp] (no HOST: a free one, see 'bale port'); the container gets its own network namespace connected to the host (root: a veth, rootless: pasta); not with --net; repeatable" },
  { flags: '--name', arg: 'NAME', text: 'Name the container (default: a generated adjective_name)' },
  { flags: '-i, --interactive', text: 'Keep stdin attached' },
  { flags: '-t, --tty', text: 'Give the container a terminal of its own (a new pty, relayed)' },
  { flags: '--rm', text: 'Remove the container when it exits' },
  { flags: '--cap-add', arg: 'CAP', text: 'Add a capability (SYS_ADMIN or CAP_SYS_ADMIN; ALL for every one); repeatable' },
  { flags: '--cap-drop', arg: 'CAP', text: "Drop a capability from docker's default 14 (ALL for every one); repeatable" },
  { flags: '--security-opt', arg: 'O', text: "seccomp=unconfined (no filter), seccomp=FILE.json (a docker seccomp profile), no-new-privileges[=true|false] (setuid binaries and file capabilities do not raise privileges); default: docker's seccomp profile; repeatable" },
  { flags: '--privileged', text: 'Every capability, no seccomp filter, /proc and /sys unmasked (unsafe)' },
  { flags: '-m, --memory', arg: 'SIZE', text: 'Memory limit: a number with b, k, m or g (at least 6m); the kernel kills past it' },
  { flags: '--memory-swap', arg: 'SIZE', text: 'Memory plus swap; -1 for unlimited swap (default: twice --memory)' },
  { flags: '--cpus', arg: 'N.N', text: 'CPUs the container may use (CFS quota per 100ms period; 0: unlimited)' },
  { flags: '--pids-limit', arg: 'N', text: 'Most processes and threads at once (0 or -1: unlimited)' },
];

export const help: Help = {
  usage: 'bale create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a container from an image without starting it; prints its id.',
  operands: 'image',
  options: CREATE_OPTIONS,
};

export const createSpec: FlagSpec = {
  boolean: ['interactive', 'tty', 'rm', 'privileged', 'read-only'],
  string: ['workdir', 'user', 'entrypoint', 'hostname', 'net', 'network', 'name', ...RESOURCE_STRINGS],
  multi: ['env', 'security-opt', 'cap-add', 'cap-drop', 'env-file', 'volume', 'mount', 'tmpfs', 'publish'],
  alias: { e: 'env', v: 'volume', w: 'workdir', u: 'user', i: 'interactive', t: 'tty', p: 'publish', ...RESOURCE_ALIASES },
};

/** --privileged hands the container the host: say so once. */
export function warnPrivileged(o: CreateOptions): void {
  if (o.security.privileged) process.stderr.write('bale: warning: --privileged: the container gets every capability, no seccomp filter and unmasked /proc and /sys; its root can take over the host\n');
}

/** Turn parsed create/run flags into create options. */
export function createOptions(p: Parsed, verb: string): CreateOptions {
  needArgs({ ...p, _: p._.slice(0, 1) }, 1, 1, verb);
  const given = p['net'] ?? p['network'];
  const net = given === undefined ? undefined : String(given);
  if (net !== undefined && net !== 'none' && net !== 'host') throw new UsageError(`--net takes none or host, not ${JSON.stringify(net)}`);
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
    ports: ((p['publish'] as string[] | undefined) ?? []).map(parsePublish),
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
