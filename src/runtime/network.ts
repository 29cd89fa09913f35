// A container's own network namespace with a way out to the host, for its published ports (-p),
// connected while its pid 1 waits before exec (bale-init --net-wait):
//
// - root: a veth pair, no bridge and no iptables. The host end `bale<11 hex of the id>` has
//   HOST_ADDR, the container's `eth0` one address of 10.199.0.0/16, point to point. The host's
//   published ports are relayed to that address by a userland proxy in the bale waiting for the
//   container (proxy.ts). Without NAT the container reaches the host end and nothing beyond it
//   (no default route). The kernel deletes the pair with the namespace when the container's last
//   process exits, whatever happened to bale.
// - rootless (in the store's user namespace, where no veth can reach the host's namespace):
//   pasta (Debian package passt) joins the namespace, gives it a tap `eth0` with the host's address
//   and routes (outbound traffic leaves through pasta's sockets, as the user's own) and listens on
//   the published ports. Neither the gateway address nor the namespace's loopback is mapped to the
//   host's loopback (--no-map-gw, -T none -U none): what the host binds on 127.0.0.1 stays out of
//   reach, as with docker's bridge. pasta runs as long as the container: bale stops it when the
//   container exits, or the next bale's repair (refresh) does when bale was killed.
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsc, openSync, promises as fsp } from 'node:fs';
import { BaleError } from '../util/errors.js';
import { inUserNamespace } from '../util/userns.js';
import { isAlive, procInfo } from './proc.js';
import { startProxies } from './proxy.js';
import type { PortSpec } from './ports.js';

/** The host end's address on every container's veth. */
export const HOST_ADDR = '10.199.0.1';

export interface Connected {
  /** The ports as bound (a chosen host port in place of 0). */
  bound: PortSpec[];
  /** The container's address (root: its veth's). */
  address?: string;
  /** pasta's pid and start time (rootless), for a later bale to stop it. */
  helper?: { pid: number; start?: number };
  close(): Promise<void>;
}

/** Connect the network namespace of the container process `pid` (its pid 1, waiting) to the host. */
export function connectNetwork(id: string, pid: number, ports: PortSpec[], runDir: string): Promise<Connected> {
  return inUserNamespace() ? withPasta(pid, ports, runDir) : withVeth(id, pid, ports);
}

/**
 * What this host cannot publish, in one line (undefined: all of it). Rootless UDP: Debian 12's
 * pasta (2023-03) delivers no UDP to a namespace port other than the host port it came to, so only
 * HOST:CTR/udp with HOST = CTR works.
 */
export function unpublishable(ports: PortSpec[]): string | undefined {
  if (!inUserNamespace()) return undefined;
  const p = ports.find((x) => x.proto === 'udp' && x.hostPort !== x.containerPort);
  if (!p) return undefined;
  return `-p ${p.hostPort || ''}:${p.containerPort}/udp: rootless, UDP is published only on the same port (-p ${p.containerPort}:${p.containerPort}/udp): this pasta does not translate UDP ports`;
}

/** Stop a pasta a killed bale left running (its container gone). */
export function stopHelper(helper: { pid: number; start?: number } | undefined): void {
  if (!helper || !isAlive(helper.pid, helper.start)) return;
  try {
    process.kill(helper.pid, 'SIGKILL');
  } catch {
    /* gone meanwhile */
  }
}

function runTool(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b: Buffer) => (out += b));
    c.stderr.on('data', (b: Buffer) => (err += b));
    c.on('error', (e) => reject(new BaleError(`-p needs ${cmd}: ${e.message}`)));
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new BaleError(`${cmd} ${args.join(' ')}: ${err.trim().split('\n').pop() ?? `exit ${code}`}`))));
  });
}

// ---- root: veth + proxy ------------------------------------------------------------------------

/** An address in 10.199.0.0/16 no other veth has, starting from one the id picks. */
export async function freeAddress(id: string): Promise<string> {
  const used = new Set((await runTool('ip', ['-4', 'route', 'show', 'root', '10.199.0.0/16'])).split('\n').map((l) => l.split(' ')[0]));
  const first = parseInt(id.slice(0, 4), 16);
  for (let i = 0; i < 65536; i++) {
    const n = (first + i) % 65536;
    const addr = `10.199.${n >> 8}.${n & 255}`;
    if (n > 1 && n < 65535 && !used.has(addr)) return addr;
  }
  throw new BaleError('-p: no address left in 10.199.0.0/16 for another container');
}

async function withVeth(id: string, pid: number, ports: PortSpec[]): Promise<Connected> {
  const host = `bale${id.slice(0, 11)}`;
  const address = await freeAddress(id);
  const inside = (args: string[]) => runTool('nsenter', ['-t', String(pid), '-n', 'ip', ...args]);
  await runTool('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(pid)]);
  try {
    await runTool('ip', ['addr', 'add', HOST_ADDR, 'peer', `${address}/32`, 'dev', host]);
    await runTool('ip', ['link', 'set', host, 'up']);
    await inside(['addr', 'add', address, 'peer', `${HOST_ADDR}/32`, 'dev', 'eth0']);
    await inside(['link', 'set', 'eth0', 'up']);
    const proxies = await startProxies(ports, address);
    return { bound: proxies.bound, address, close: async () => proxies.close() };
  } catch (e) {
    await runTool('ip', ['link', 'del', host]).catch(() => undefined);
    throw e;
  }
}

// ---- rootless: pasta ---------------------------------------------------------------------------

function pastaPorts(flag: string, ports: PortSpec[]): string[] {
  if (!ports.length) return [flag, 'none'];
  return ports.flatMap((p) => [flag, `${p.hostIp ? `${p.hostIp}/` : ''}${p.hostPort}:${p.containerPort}`]);
}

async function withPasta(pid: number, ports: PortSpec[], runDir: string): Promise<Connected> {
  try {
    accessSync('/dev/net/tun', fsc.R_OK | fsc.W_OK);
  } catch {
    throw new BaleError("-p needs /dev/net/tun to be readable and writable by you, for pasta's tap (mode 0666, as Debian's udev makes it)");
  }
  // Bound and released first: docker's one-line refusal for a taken port, and a free one for -p CTR.
  const probe = await startProxies(ports, '127.0.0.1');
  probe.close();
  const bound = probe.bound;
  const pidFile = `${runDir}/pasta.pid`;
  await fsp.rm(pidFile, { force: true });
  // pasta drops its capabilities before opening the namespace, and so may not open the waiting
  // pid 1's /proc files: it gets the namespace as an open descriptor instead.
  const ns = openSync(`/proc/${pid}/ns/net`, 'r');
  const args = [
    '--config-net', '--foreground', '--quiet', '--ns-ifname', 'eth0', '--no-map-gw', '--runas', '0',
    '--netns', '/proc/self/fd/3', '--pid', pidFile,
    ...pastaPorts('-t', bound.filter((p) => p.proto === 'tcp')),
    ...pastaPorts('-u', bound.filter((p) => p.proto === 'udp')),
    '-T', 'none', '-U', 'none',
  ];
  const child = spawn('pasta', args, { stdio: ['ignore', 'ignore', 'pipe', ns], detached: true });
  closeSync(ns);
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (e) => {
      err += `cannot run pasta: ${e.message}\n`;
      resolve(-1);
    });
  });
  // Ready once it wrote its pid file (after setting up), or failed when it exits first.
  const ready = await Promise.race([waitFor(pidFile, 10_000), exited.then(() => false)]);
  if (!ready) {
    child.kill('SIGKILL');
    const why = err.split('\n').filter((l) => l && !l.startsWith('Failed to send')).pop();
    throw new BaleError(`-p: pasta (Debian package passt) failed: ${why ?? 'it did not start in 10 s'}`);
  }
  child.stderr!.destroy();
  child.unref();
  const helper = { pid: child.pid!, start: procInfo(child.pid!)?.start };
  return {
    bound,
    helper,
    close: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(2000)]);
      stopHelper(helper);
      await fsp.rm(pidFile, { force: true });
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(file: string, ms: number): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await sleep(20)) {
    if ((await fsp.stat(file).catch(() => undefined))?.size) return true;
  }
  return false;
}
