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
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import minimist from 'minimist';
import { ALT, LAYERED, TINY, rootfsTar } from '../test/peer-builds.js';

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
