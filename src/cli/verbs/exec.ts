// bale exec: run a command in a running container (its namespaces and root, its env by default).
import { Store } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { execInContainer, repairAll, requireRoot } from '../../runtime/lifecycle.js';
import { mergeEnv } from '../../runtime/spec.js';
import { needArgs, parseFlagsUntilCommand, wantsHelp } from '../verb.js';
import { BaleError, UsageError } from '../../util/errors.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  summary: `Run a command in a running container, with the container's environment, user and working
directory unless overridden. bale's exit code is the command's. Needs root.`,
  operands: 'container',
  options: [
    { flags: '-e, --env', arg: 'K=V', text: 'Set an environment variable; repeatable' },
    { flags: '-w, --workdir', arg: 'DIR', text: 'Working directory inside the container' },
    { flags: '-u, --user', arg: 'USER', text: 'User: name, uid, name:group or uid:gid' },
    { flags: '-i, --interactive', text: 'Keep stdin attached' },
    { flags: '-t, --tty', text: 'Give the command a terminal of its own (a new pty, relayed)' },
    { flags: '-d, --detach', text: 'Run it in the background' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlagsUntilCommand(
    args,
    { boolean: ['interactive', 'tty', 'detach'], string: ['workdir', 'user'], multi: ['env'], alias: { e: 'env', w: 'workdir', u: 'user', i: 'interactive', t: 'tty', d: 'detach' } },
    'exec',
  );
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 2, Infinity, 'exec');
  const tty = Boolean(p['tty']);
  if (tty && p['interactive'] && !p['detach'] && !process.stdin.isTTY) throw new BaleError('the input device is not a TTY', { exitCode: 1 }); // docker's CLI check: 1, not 125
  const workdir = p['workdir'] === undefined ? undefined : String(p['workdir']);
  if (workdir !== undefined && !workdir.startsWith('/')) throw new UsageError(`the working directory '${workdir}' is invalid, it needs to be an absolute path`);
  requireRoot('exec');
  const store = await Store.open();
  await repairAll(store);
  const rec = await findContainer(store, p._[0]!);
  let env = rec.process.env;
  if (tty && !env.some((e) => e.startsWith('TERM='))) env = [...env, 'TERM=xterm'];
  return execInContainer(store, rec, {
    args: p._.slice(1),
    env: mergeEnv(env, p['env'] as string[]),
    cwd: workdir ?? rec.process.cwd,
    user: p['user'] === undefined ? rec.process.user : String(p['user']),
    stdin: p['interactive'] ? 'inherit' : 'ignore',
    tty,
    detach: Boolean(p['detach']),
  });
}
