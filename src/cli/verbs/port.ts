// bale port: the host ports a running container's ports are published on (-p).
import { Store } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { refresh, repairAll } from '../../runtime/lifecycle.js';
import { portKey, type PortSpec } from '../../runtime/ports.js';
import { BaleError } from '../../util/errors.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale port CONTAINER [PORT[/PROTO]]',
  summary: `List a running container's published ports as CTR/PROTO -> HOSTIP:HOSTPORT, or only the host
addresses of one container port (PROTO: tcp, the default, or udp). Shows the host port bale chose
for -p CTR.`,
  operands: 'container',
  options: [],
};

function hostAddress(p: PortSpec): string {
  const ip = p.hostIp || '0.0.0.0';
  return `${ip.includes(':') ? `[${ip}]` : ip}:${p.hostPort}`;
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, {}, 'port');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 2, 'port');
  const store = await Store.open();
  await repairAll(store);
  const rec = await refresh(store, await findContainer(store, p._[0]!));
  const bound = rec?.state.status === 'running' ? (rec.state.ports ?? []) : [];
  const want = p._[1];
  if (want === undefined) {
    for (const b of bound) process.stdout.write(`${portKey(b)} -> ${hostAddress(b)}\n`);
    return 0;
  }
  const key = want.includes('/') ? want : `${want}/tcp`;
  const hits = bound.filter((b) => portKey(b) === key);
  if (!hits.length) throw new BaleError(`No public port '${key}' published for ${p._[0]}`);
  for (const b of hits) process.stdout.write(hostAddress(b) + '\n');
  return 0;
}
