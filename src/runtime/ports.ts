// Published ports (-p [IP:][HOST:]CTR[/tcp|/udp]) as docker spells them, and how they are shown.
import { isIP } from 'node:net';
import { UsageError } from '../util/errors.js';

export interface PortSpec {
  /** Host address to listen on ('' for all: 0.0.0.0). */
  hostIp: string;
  /** Host port; 0 until started when -p named none (a free one is then chosen, as docker does). */
  hostPort: number;
  containerPort: number;
  proto: 'tcp' | 'udp';
}

function portNumber(text: string, spec: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new UsageError(`invalid port ${JSON.stringify(text)} in -p ${spec}: ports are 1-65535`);
  return n;
}

/** One -p value. Ranges (8000-8010:80) are not supported: one port each. */
export function parsePublish(spec: string): PortSpec {
  const slash = spec.lastIndexOf('/');
  const proto = slash < 0 ? 'tcp' : spec.slice(slash + 1);
  if (proto !== 'tcp' && proto !== 'udp') throw new UsageError(`invalid protocol ${JSON.stringify(proto)} in -p ${spec}: tcp or udp`);
  const rest = slash < 0 ? spec : spec.slice(0, slash);
  // An IPv6 host address is written in brackets: [::1]:8080:80.
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  const parts = v6 ? [v6[1]!, ...v6[2]!.split(':')] : rest.split(':');
  if (parts.length > 3 || parts.some((p, i) => p === '' && !(parts.length === 3 && i === 1))) {
    throw new UsageError(`invalid -p ${spec}: expected [IP:][HOST:]CTR[/tcp|/udp]`);
  }
  const [hostIp, hostPort, ctr] = parts.length === 3 ? parts : parts.length === 2 ? ['', parts[0]!, parts[1]!] : ['', '', parts[0]!];
  if (hostIp && !isIP(hostIp!)) throw new UsageError(`invalid IP address ${JSON.stringify(hostIp)} in -p ${spec}`);
  return { hostIp: hostIp!, hostPort: hostPort ? portNumber(hostPort, spec) : 0, containerPort: portNumber(ctr!, spec), proto };
}

/** `0.0.0.0:8080->80/tcp`, as docker ps shows a binding. */
export function portText(p: PortSpec): string {
  const ip = p.hostIp || '0.0.0.0';
  return `${ip.includes(':') ? `[${ip}]` : ip}:${p.hostPort}->${p.containerPort}/${p.proto}`;
}

/** docker's key for a container port: "80/tcp". */
export function portKey(p: PortSpec): string {
  return `${p.containerPort}/${p.proto}`;
}
