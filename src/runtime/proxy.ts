// The userland proxy of a root container's published ports (docker-proxy's job): it listens on the
// host's port and relays each TCP connection, or each UDP peer's datagrams, to the container's
// address on its veth. It lives in the bale that waits for the container, so it ends with that
// bale: nothing to clean up after a kill -9 (the container then runs on, unpublished).
import { createServer, connect, type Server } from 'node:net';
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { BaleError } from '../util/errors.js';
import type { PortSpec } from './ports.js';

export interface Listener {
  /** The port bound (the chosen one when the spec named 0). */
  port: number;
  close(): void;
}

function taken(p: PortSpec, e: Error): BaleError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EADDRINUSE' ? 'port is already allocated' : e.message;
  return new BaleError(`Bind for ${p.hostIp || '0.0.0.0'}:${p.hostPort} failed: ${why}`);
}

function tcpProxy(p: PortSpec, target: string): Promise<Listener> {
  const server: Server = createServer((client) => {
    const up = connect({ host: target, port: p.containerPort });
    client.pipe(up).pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(taken(p, e)));
    server.listen({ host: p.hostIp || '0.0.0.0', port: p.hostPort, exclusive: true }, () => {
      const addr = server.address();
      resolve({ port: typeof addr === 'object' && addr ? addr.port : p.hostPort, close: () => server.close() });
    });
  });
}

/** UDP: one socket towards the container per host peer, so replies find their way back. */
function udpProxy(p: PortSpec, target: string): Promise<Listener> {
  const outer = createSocket(p.hostIp.includes(':') ? 'udp6' : 'udp4');
  const peers = new Map<string, UdpSocket>();
  outer.on('message', (msg: Buffer, from: RemoteInfo) => {
    const key = `${from.address}:${from.port}`;
    let inner = peers.get(key);
    if (!inner) {
      inner = createSocket('udp4');
      inner.on('message', (reply) => outer.send(reply, from.port, from.address));
      inner.on('error', () => peers.delete(key));
      peers.set(key, inner);
    }
    inner.send(msg, p.containerPort, target);
  });
  return new Promise((resolve, reject) => {
    outer.once('error', (e) => reject(taken(p, e)));
    outer.bind({ address: p.hostIp || '0.0.0.0', port: p.hostPort, exclusive: true }, () => {
      resolve({
        port: outer.address().port,
        close: () => {
          for (const s of peers.values()) s.close();
          outer.close();
        },
      });
    });
  });
}

/** Listen on every published port, relaying to `target`; all or none (a failure closes the rest). */
export async function startProxies(ports: PortSpec[], target: string): Promise<{ bound: PortSpec[]; close(): void }> {
  const open: Listener[] = [];
  const bound: PortSpec[] = [];
  const close = () => open.forEach((l) => l.close());
  try {
    for (const p of ports) {
      const l = await (p.proto === 'tcp' ? tcpProxy(p, target) : udpProxy(p, target));
      open.push(l);
      bound.push({ ...p, hostPort: l.port });
    }
  } catch (e) {
    close();
    throw e;
  }
  return { bound, close };
}
