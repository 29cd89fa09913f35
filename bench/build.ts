// Build time of the peer fixtures' Dockerfiles (../shared/fixtures/peers/README.md, "Exact commands":
// tiny FROM scratch + ADD of a busybox rootfs, layered FROM tiny with four RUN layers, alt FROM
// layered) by bale, `buildah bud` and `podman build`, on the same contexts, as ratios.
//
//   npm run bench:build [-- --rounds 7 --driver overlay --markdown]
//
// A round gives every builder, one after the other, a fresh store of its own in the work directory
// and builds tiny, layered and alt there ("cold": nothing cached, each FROM the image just built),
// then the same three again in that store ("warm": every step a cache hit). Rounds interleave the
// builders, so a busy moment of the shared machine hits each alike; the table gives medians.
//
// The peers run RUN steps with `--isolation chroot`: on this host crun refuses the hybrid cgroup
// layout and runc fails on rlimits, so their OCI isolation cannot run a container. chroot isolation
// has no network namespace, so every builder gets the host's network (bale: --network host) to
// compare like with like; `--layers` makes buildah keep a cache as podman does by default. A
// builder that is not installed or fails shows "n/a" and why.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import minimist from 'minimist';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BALE = path.join(REPO, 'bin', 'bale');

const HELP = `Usage: npm run bench:build -- [OPTIONS]

Time bale build, buildah bud and podman build on the peer fixtures' Dockerfiles (tiny, layered,
alt), cold (fresh store) and warm (every step cached), in interleaved rounds; print medians and
bale's ratio to each peer. Needs root.

Options:
  --rounds N      Rounds (default 7)
  --driver NAME   Storage driver of buildah and podman: overlay (default) or vfs
  --markdown      Print the table as Markdown (for the README)
  -h, --help      Show this help
`;

const TINY = `FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TINY_GREETING="hello world"
WORKDIR /srv
LABEL org.opencontainers.image.title="tiny" bale.fixture="tiny"
CMD ["/bin/sh","-c","echo hello from tiny"]
`;

const LD = '/data/long/dir-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/dir-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const LN = 'file-with-a-very-long-name-0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890.txt';
/** FROM is filled in per builder: the peers name their own images localhost/…, as the fixture script does. */
const LAYERED = (from: string) => `FROM ${from}
RUN mkdir -p /data/empty-dir /data/replace-me/sub /etc/app \\
 && echo alpha > /data/alpha.txt \\
 && ln /data/alpha.txt /data/alpha-hardlink.txt \\
 && ln -s alpha.txt /data/alpha-symlink \\
 && echo doomed > /data/delete-me.txt \\
 && echo old1 > /data/replace-me/old1.txt \\
 && echo old2 > /data/replace-me/sub/old2.txt \\
 && echo key=value > /etc/app/app.conf
RUN mkdir -p ${LD} \\
 && echo long > ${LD}/${LN} \\
 && ln -s ${LD}/${LN} /data/long-symlink \\
 && printf '#!/bin/sh\\necho suid\\n' > /data/suid-tool && chmod 4755 /data/suid-tool \\
 && echo owned > /data/owned-by-1000.txt && chown 1000:1000 /data/owned-by-1000.txt \\
 && mkdir -p /home/user && chown 1000:1000 /home/user
ENV LAYERED_STAGE=3
RUN rm /data/delete-me.txt \\
 && rm -rf /data/replace-me && mkdir /data/replace-me && echo new > /data/replace-me/new.txt
RUN echo key2=value2 >> /etc/app/app.conf
LABEL bale.fixture="layered"
CMD ["/bin/sh","-c","cat /data/alpha.txt"]
`;
const ALT = (from: string) => `FROM ${from}
RUN echo alt > /alt.txt
CMD ["/bin/cat","/alt.txt"]
`;

const IMAGES = ['tiny', 'layered', 'alt'] as const;
type ImageName = (typeof IMAGES)[number];

interface Builder {
  name: string;
  /** The command line building `image` from `ctx` (its Dockerfile named by `file`) in `store`. */
  argv: (store: string, image: ImageName, ctx: string, file: string) => string[];
  env: (store: string) => NodeJS.ProcessEnv;
  /** Its Dockerfile of each image (only FROM lines differ). */
  dockerfiles: Record<ImageName, string>;
  times: Record<'cold' | 'warm', Record<ImageName, number[]>>;
  failure?: string;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The fixture script's rootfs: busybox-static, its applets as symlinks, /etc/passwd and /etc/group, a few dirs. */
function rootfsTar(work: string, ctx: string): void {
  const root = path.join(work, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'root', 'srv', 'home', 'work']) mkdirSync(path.join(root, d), { recursive: true, mode: 0o755 });
  copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
  chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const applets = spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', path.join(root, 'bin', a));
  writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n');
  writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nuser:x:1000:\n');
  chmodSync(path.join(root, 'tmp'), 0o1777);
  chmodSync(path.join(root, 'root'), 0o700);
  const r = spawnSync('tar', ['-C', root, '-cf', path.join(ctx, 'rootfs.tar'), '.']);
  if (r.status !== 0) throw new Error(`tar of the rootfs: ${r.stderr}`);
}

/** Unmount whatever a builder left mounted under `dir` (deepest first), then remove it. */
function removeStore(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m === dir || m.startsWith(dir + '/'));
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

function peer(tool: 'buildah' | 'podman', driver: string): Builder {
  const global = (store: string) => ['--root', path.join(store, 'root'), '--runroot', path.join(store, 'run'), '--storage-driver', driver];
  const verb = tool === 'buildah' ? ['bud'] : ['build'];
  return {
    name: `${tool} ${verb[0]} --isolation chroot --layers (${driver})`,
    argv: (store, image, ctx, file) => [tool, ...global(store), ...verb, '--isolation', 'chroot', '--layers', '-q', '-f', file, '-t', `${image}:latest`, ctx],
    env: () => ({ ...process.env }),
    dockerfiles: { tiny: TINY, layered: LAYERED('localhost/tiny:latest'), alt: ALT('localhost/layered:latest') },
    times: { cold: { tiny: [], layered: [], alt: [] }, warm: { tiny: [], layered: [], alt: [] } },
  };
}

function main(): void {
  const argv = minimist(process.argv.slice(2), { string: ['rounds', 'driver'], boolean: ['markdown', 'help'], alias: { h: 'help' } });
  if (argv.help) {
    process.stdout.write(HELP);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('the build bench needs root (RUN steps run containers)');
  const rounds = Number(argv.rounds ?? 7);
  const driver = String(argv.driver ?? 'overlay');
  if (!(rounds >= 1) || !['overlay', 'vfs'].includes(driver)) throw new Error('--rounds wants a positive number, --driver overlay or vfs');
  const work = mkdtempSync(path.join(os.tmpdir(), 'bale-bench-build-'));
  try {
    const builders: Builder[] = [
      {
        name: 'bale build --network host',
        argv: (_store, image, ctx, file) => [BALE, 'build', '-q', '--network', 'host', '-f', file, '-t', `${image}:latest`, ctx],
        env: (store) => ({ ...process.env, BALE_ROOT: store }),
        dockerfiles: { tiny: TINY, layered: LAYERED('tiny:latest'), alt: ALT('layered:latest') },
        times: { cold: { tiny: [], layered: [], alt: [] }, warm: { tiny: [], layered: [], alt: [] } },
      },
    ];
    const missing: string[] = [];
    for (const tool of ['buildah', 'podman'] as const) {
      if (have(tool)) builders.push(peer(tool, driver));
      else missing.push(tool);
    }
    // One context directory per image, shared by every builder; each builder's Dockerfile beside it.
    const ctx: Record<ImageName, string> = { tiny: '', layered: '', alt: '' };
    for (const image of IMAGES) {
      ctx[image] = path.join(work, 'ctx', image);
      mkdirSync(ctx[image], { recursive: true });
    }
    rootfsTar(work, ctx.tiny);
    const files = builders.map((b, i) => {
      const f = {} as Record<ImageName, string>;
      for (const image of IMAGES) {
        f[image] = path.join(work, `${image}.${i}.Dockerfile`);
        writeFileSync(f[image], b.dockerfiles[image]);
      }
      return f;
    });
    for (let r = 0; r < rounds; r++) {
      builders.forEach((b, i) => {
        if (b.failure) return;
        const store = path.join(work, `store-${i}`);
        try {
          for (const phase of ['cold', 'warm'] as const) {
            for (const image of IMAGES) {
              const [cmd, ...args] = b.argv(store, image, ctx[image], files[i]![image]);
              const t0 = process.hrtime.bigint();
              const res = spawnSync(cmd!, args, { env: b.env(store), encoding: 'utf8', cwd: work });
              const s = Number(process.hrtime.bigint() - t0) / 1e9;
              if (res.status !== 0) {
                const why = `${res.stderr || res.stdout}`.trim().split('\n').filter(Boolean).pop() ?? `exit ${res.status}`;
                b.failure = `${phase} ${image}: ${why}`;
                return;
              }
              b.times[phase][image].push(s);
            }
          }
        } finally {
          removeStore(store);
        }
      });
    }
    print(builders, missing, rounds, driver, Boolean(argv.markdown));
  } finally {
    removeStore(work);
  }
}

function print(builders: Builder[], missing: string[], rounds: number, driver: string, markdown: boolean): void {
  const bale = builders[0]!;
  const peers = builders.slice(1);
  const lines = [
    `bale build vs buildah/podman, ${rounds} interleaved rounds, medians in ms; ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}; peers' storage driver ${driver}`,
    '',
  ];
  const head = ['build', 'bale', ...peers.map((p) => p.name.split(' ')[0]!), ...peers.map((p) => `bale / ${p.name.split(' ')[0]}`)];
  lines.push(`| ${head.join(' | ')} |`, `| --- | ${head.slice(1).map(() => '---:').join(' | ')} |`);
  const ms = (b: Builder, phase: 'cold' | 'warm', image: ImageName) => (b.failure || b.times[phase][image].length < rounds ? undefined : median(b.times[phase][image]) * 1000);
  for (const phase of ['cold', 'warm'] as const) {
    for (const image of IMAGES) {
      const mine = ms(bale, phase, image);
      const cells = [`${image} (${phase})`, mine === undefined ? 'n/a' : mine.toFixed(0)];
      for (const p of peers) cells.push(ms(p, phase, image)?.toFixed(0) ?? 'n/a');
      for (const p of peers) {
        const theirs = ms(p, phase, image);
        cells.push(mine !== undefined && theirs !== undefined ? `${(mine / theirs).toFixed(2)}x` : 'n/a');
      }
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  lines.push('');
  for (const b of builders) if (b.failure) lines.push(`${b.name}: n/a, ${b.failure}`);
  for (const m of missing) lines.push(`${m}: n/a, not installed`);
  lines.push(`builders: ${builders.map((b) => b.name).join('; ')}`);
  process.stdout.write((markdown ? lines : lines.map((l) => l.replace(/\|/g, ' ').replace(/ +/g, ' ').trim())).join('\n') + '\n');
}

main();
