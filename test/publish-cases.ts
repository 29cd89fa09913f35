// Published ports (-p): reached from the host, shown as docker shows them, refused as docker refuses
// them, torn down with the container (also when bale was killed), and no way from the container to
// what the host keeps on its loopback. The same cases run as root (publish.test.ts: veth + proxy)
// and as a normal user's rootless bale (publish-rootless.test.ts: pasta).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { bale as baleRoot, baleOk as baleRootOk, tmpDir, waitFor, type BaleResult } from './helpers.js';
import { createSocket } from 'node:dgram';
import { seedBusybox, staticProgram } from './images.js';
import { freeAddress } from '../src/runtime/network.js';
import { baleAs, baleAsOk, handOver, userStore, type User } from './rootless.js';

/** A port nothing listens on now (the kernel's pick). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** What a TCP server at 127.0.0.1:port sends before closing ('' when refused or silent for 3 s). */
function readFrom(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const c = net.connect({ host, port });
    const done = () => {
      c.destroy();
      resolve(out);
    };
    c.setTimeout(3000, done);
    c.on('data', (b: Buffer) => (out += b.toString()));
    c.on('end', done).on('error', done).on('close', done);
  });
}

/**
 * Whether a socket of the host listens on `port` (TCP) or is bound to it (UDP), from /proc/net: a
 * bind test would also trip over the TIME_WAIT of a connection just relayed, which is no leak.
 */
function portHeld(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return ['tcp', 'tcp6', 'udp', 'udp6'].some((f) =>
    readFileSync(`/proc/net/${f}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .some((c) => c[1]?.endsWith(hex) && (f.startsWith('udp') || c[3] === '0A')),
  );
}

/** Host processes whose command line names the container (its waiting bale, a pasta). */
function processesOf(id: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(id)) out.push(`${pid}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The host end of a root container's veth, if it is there. */
function vethOf(id: string): boolean {
  return spawnSync('ip', ['link', 'show', `bale${id.slice(0, 11)}`], { stdio: 'ignore' }).status === 0;
}

// Answers each UDP datagram on the port it is given with "got:" and the datagram (busybox's nc has
// no -u).
const UDP_ECHO = `#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
  for (;;) {
    char buf[512] = "got:";
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(s, buf + 4, sizeof buf - 4, 0, (struct sockaddr *)&from, &len);
    if (n > 0) sendto(s, buf, (size_t)n + 4, 0, (struct sockaddr *)&from, len);
  }
}
`;

/** Send one datagram to 127.0.0.1:port until a reply comes (the server may not be up yet). */
async function udpAsk(port: number, text: string): Promise<string> {
  const s = createSocket('udp4');
  try {
    const reply = new Promise<string>((resolve) => s.once('message', (m: Buffer) => resolve(m.toString())));
    for (let i = 0; i < 40; i++) {
      s.send(text, port, '127.0.0.1');
      const got = await Promise.race([reply, new Promise<undefined>((r) => setTimeout(r, 500))]);
      if (got !== undefined) return got;
    }
    return '';
  } finally {
    s.close();
  }
}

// A server that answers every connection with one line, for as long as the container runs.
const HELLO = ['sh', '-c', 'while true; do echo hello-from-container | nc -l -p 80; done'];

export function publishTests(as?: User): void {
  const test = suite(as ? `publish, rootless as ${as.name}` : 'publish');
  const work = tmpDir('bale-publish-');
  const owned = as && userStore(as);
  const root = owned ? owned.root : path.join(work.dir, 'store');
  const bale = (args: string[]): Promise<BaleResult> => (as ? baleAs(as, root, args) : baleRoot(root, args));
  const baleOk = (args: string[]): Promise<string> => (as ? baleAsOk(as, root, args) : baleRootOk(root, args));
  const started: string[] = [];
  const runD = async (args: string[]): Promise<string> => {
    const id = (await baleOk(['run', '-d', ...args])).trim();
    started.push(id);
    return id;
  };

  test.before(async () => {
    const applets = ['nc', 'ip', 'timeout'].map((a) => ({ name: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' }));
    const udpEcho = { name: 'bin/udpecho', content: staticProgram(work.dir, 'udpecho', UDP_ECHO), mode: 0o755 };
    await seedBusybox(root, { layers: [[...applets, udpEcho]] });
    if (as) handOver(as, root);
  });
  test.after(async () => {
    for (const id of started) await bale(['rm', '-f', id]);
    owned?.cleanup();
    work.cleanup();
  });

  /** Stop and remove the container, then nothing of its network may be left on the host. */
  async function assertTornDown(id: string, port: number): Promise<void> {
    await baleOk(['rm', '-f', id]);
    await waitFor('the container\'s processes to end', async () => (processesOf(id).length ? undefined : true), 10_000).catch(() => undefined);
    assert.equal(processesOf(id), [], 'no proxy or pasta left');
    // The kernel may close a killed pasta's sockets a moment after /proc no longer lists it.
    await waitFor(`host port ${port} released`, async () => (portHeld(port) ? undefined : true), 10_000).catch(() => undefined);
    assert.not.ok(portHeld(port), `nothing holds host port ${port}`);
    assert.not.ok(vethOf(id), 'no veth left');
  }

  test('-p HOST:80 reaches the container\'s server from the host\'s 127.0.0.1; ps, inspect and port show it', async () => {
    const port = await freePort();
    const id = await runD(['-p', `${port}:80`, 'busybox', ...HELLO]);
    const got = await waitFor('the published port to answer', async () => ((await readFrom(port)).includes('hello-from-container') ? true : undefined), 20_000);
    assert.ok(got);
    assert.ok(portHeld(port), 'the host port is held while it runs');
    const row = JSON.parse((await baleOk(['ps', '--no-trunc', '--format', 'json'])).trim().split('\n').find((l) => l.includes(id))!) as { Ports: string; Networks: string };
    assert.is(row.Ports, `0.0.0.0:${port}->80/tcp`);
    assert.is(row.Networks, 'private');
    const [info] = JSON.parse(await baleOk(['inspect', id])) as { HostConfig: { PortBindings: unknown; NetworkMode: string }; NetworkSettings: { Ports: unknown } }[];
    assert.equal(info!.HostConfig.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: String(port) }] });
    assert.equal(info!.NetworkSettings.Ports, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(port) }] });
    assert.is(await baleOk(['port', id]), `80/tcp -> 0.0.0.0:${port}\n`);
    if (!as) {
      assert.ok(vethOf(id), 'a root container has its veth');
      // The next container whose id starts the same gets another address.
      const ip = JSON.parse(await baleOk(['inspect', '-f', '{{json .NetworkSettings.IPAddress}}', id])) as string;
      assert.match(ip, /^10\.199\.\d+\.\d+$/);
      const next = await freeAddress(id);
      assert.match(next, /^10\.199\.\d+\.\d+$/);
      assert.is.not(next, ip);
    }
    await assertTornDown(id, port);
  });

  test('-p CTR: a free host port, shown by bale port; -p given twice publishes both', async () => {
    const id = await runD(['-p', '80', '-p', '127.0.0.1::81', 'busybox', ...HELLO]);
    const shown = (await baleOk(['port', id, '80'])).trim();
    const m = /^0\.0\.0\.0:(\d+)$/.exec(shown);
    assert.ok(m, shown);
    const port = Number(m![1]);
    assert.ok(port > 0);
    assert.match(await baleOk(['port', id, '81/tcp']), /^127\.0\.0\.1:\d+\n$/);
    const r = await bale(['port', id, '82']);
    assert.is(r.code, 1);
    assert.is(r.stderr, `bale: No public port '82/tcp' published for ${id}\n`);
    await waitFor('the chosen port to answer', async () => ((await readFrom(port)).includes('hello-from-container') ? true : undefined), 20_000);
    await assertTornDown(id, port);
  });

  test('-p HOST:CTR/udp relays datagrams both ways (rootless: HOST = CTR only, else refused)', async () => {
    if (as) {
      const r = await bale(['run', '--rm', '-p', '5001:5000/udp', 'busybox', 'udpecho', '5000']);
      assert.is(r.code, 125);
      assert.is(r.stderr, 'bale: -p 5001:5000/udp: rootless, UDP is published only on the same port (-p 5000:5000/udp): this pasta does not translate UDP ports\n');
    }
    // Rootless, the container listens on the host port chosen (free here), as pasta needs.
    const port = await freePort();
    const ctr = as ? port : 5000;
    const id = await runD(['-p', `${port}:${ctr}/udp`, 'busybox', 'udpecho', String(ctr)]);
    assert.is(await baleOk(['port', id]), `${ctr}/udp -> 0.0.0.0:${port}\n`);
    assert.is(await udpAsk(port, 'ping'), 'got:ping');
    assert.ok(portHeld(port), 'the host port is held while it runs');
    await assertTornDown(id, port);
  });

  test('kill -9 of the bale waiting for it: the container runs on, and stopping it leaves nothing', async () => {
    const port = await freePort();
    const id = await runD(['-p', `${port}:80`, 'busybox', ...HELLO]);
    await waitFor('the published port to answer', async () => ((await readFrom(port)).includes('hello-from-container') ? true : undefined), 20_000);
    const rec = JSON.parse(readFileSync(path.join(root, 'containers', id, 'container.json'), 'utf8')) as { state: { monitorPid: number } };
    process.kill(rec.state.monitorPid, 'SIGKILL');
    await waitFor('its bale to be gone', async () => (processesOf(id).some((p) => p.includes('--monitor')) ? undefined : true), 10_000);
    assert.match(await baleOk(['ps', '--no-trunc']), new RegExp(`${id}.*Up`), 'still running');
    await assertTornDown(id, port);
  });

  test('refused in one line: -p with --net host or none, a host port already taken', async () => {
    for (const mode of ['host', 'none']) {
      const r = await bale(['run', '--rm', '--net', mode, '-p', '8080:80', 'busybox', 'true']);
      assert.is(r.code, 125, mode);
      assert.is(r.stderr, 'bale: conflicting options: port publishing and the container type network mode\n');
    }
    const r = await bale(['run', '--rm', '-p', '99999:80', 'busybox', 'true']);
    assert.is(r.stderr, 'bale: invalid port "99999" in -p 99999:80: ports are 1-65535\n');
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(port, '0.0.0.0', resolve));
    try {
      const before = await baleOk(['ps', '-a', '-q']);
      const taken = await bale(['run', '--rm', '-p', `${port}:80`, 'busybox', 'true']);
      assert.is(taken.code, 125);
      assert.is(taken.stderr, `bale: Bind for 0.0.0.0:${port} failed: port is already allocated\n`);
      assert.is(await baleOk(['ps', '-a', '-q']), before, '--rm: the container is gone');
    } finally {
      holder.close();
    }
  });

  test('the container cannot reach what the host binds on 127.0.0.1, see host interfaces or remove its link', async () => {
    // A host service on loopback only: pasta without --no-map-gw (the gateway) or with -T auto
    // (the container's own 127.0.0.1) would hand the container a connection to it.
    const secret = net.createServer((c) => c.end('host-secret\n'));
    const port = await new Promise<number>((resolve) => secret.listen(0, '127.0.0.1', () => resolve((secret.address() as net.AddressInfo).port)));
    try {
      assert.match(await readFrom(port), /host-secret/, 'the host service answers on the host');
      const script = [
        'gw=$(ip route | sed -n "s/.* via \\([0-9.]*\\).*/\\1/p;s/^\\([0-9.]*\\) dev eth0.*/\\1/p" | head -n1)',
        'echo "gateway $gw"',
        `for a in 127.0.0.1 $gw; do timeout 5 nc $a ${port} </dev/null; done`,
        'ip -o link | cut -d: -f2',
        'ip link del eth0 && echo DELETED',
        'true',
      ].join('; ');
      const out = await baleOk(['run', '--rm', '-p', `${await freePort()}:80`, 'busybox', 'sh', '-c', script]);
      assert.match(out, /gateway \d+\.\d+\.\d+\.\d+/, out);
      assert.not.match(out, /host-secret/, out);
      const links = out.split('\n').filter((l) => /^ \S+$/.test(l)).map((l) => l.trim().replace(/@.*/, ''));
      assert.equal(links.sort(), ['eth0', 'lo'], out);
      assert.not.match(out, /DELETED/, 'without CAP_NET_ADMIN the container cannot delete its eth0 (and with it the host end)');
    } finally {
      secret.close();
    }
  });

  test.run();
}
