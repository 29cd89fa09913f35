// bale push and pull against skopeo copy: the same image (bench/gen.ts, uncompressed layers), the
// same bytes, the same local registry (Debian's docker-registry on 127.0.0.1, plain HTTP).
//
//   npm run bench:registry                      # 1 GiB image, 5 rounds
//   npm run bench:registry -- --size 200M --rounds 3
//
// Each round times one bale and one skopeo run of each operation, the order alternating from round
// to round (pairs interleaved, so a noisy neighbour hits both); the table shows medians and the
// median of the per-round ratios bale / skopeo. Every operation is a whole process, start-up
// included, after `sync`. Both move the same bytes: skopeo copies bale's own OCI layout with
// --preserve-digests (no re-compression), and both must report the same manifest digest.
//   push: a fresh registry per run (nothing to skip, nothing to mount), bale push vs skopeo copy
//         oci:DIR docker://;
//   pull: one registry holding the image, bale pull into an empty store (blobs verified, layers
//         checked entry by entry) vs skopeo copy docker:// oci:DIR (blobs verified).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import minimist from 'minimist';
import { generateDockerArchive, parseSize } from './gen.js';
import { startRegistry, type Registry } from '../test/registry.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BALE = path.join(REPO, 'bin', 'bale');
const IMAGE = 'bench/generated:latest';

const HELP = `Usage: npm run bench:registry -- [OPTIONS]

Time bale push and bale pull against skopeo copy of the same image to and from the same local
docker-registry (127.0.0.1, plain HTTP), in interleaved rounds; print medians and ratios.
Needs docker-registry and skopeo, and free disk of about 5x SIZE in the work directory.

Options:
  --size SIZE     Content of the image, e.g. 1G (default), 200M
  --layers N      Layers (default 6)
  --rounds N      Rounds (default 5); each times bale and skopeo once per operation
  --dir DIR       Where to make the work directory (default: the system temp dir); removed after
  --keep          Keep the work directory
  --markdown      Print the table as Markdown (for the README)
  --json          Print the results as JSON
  -h, --help      Show this help
`;

interface Timed {
  seconds: number;
  stdout: string;
}

/** Time one process (after flushing dirty pages, so one run's writeback is not billed to the next); throws if it fails. */
function time(cmd: string, args: string[], env: Record<string, string> = {}): Timed {
  spawnSync('sync', { stdio: 'ignore' });
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')}: ${r.error?.message ?? r.stderr?.toString().trim().split('\n').pop() ?? `exit ${r.status}`}`);
  return { seconds, stdout: r.stdout.toString() };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

interface Row {
  op: string;
  peer: string;
  bale: number[];
  skopeo: number[];
}

export async function main(argv: string[]): Promise<number> {
  const a = minimist(argv, { string: ['size', 'layers', 'rounds', 'dir'], boolean: ['keep', 'markdown', 'json', 'help'], alias: { h: 'help' } });
  if (a['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  for (const tool of ['docker-registry', 'skopeo']) if (!have(tool)) throw new Error(`${tool} is needed (apt-get install ${tool})`);
  const size = parseSize(String(a['size'] ?? '1G'));
  const layers = Number(a['layers'] ?? 6);
  const rounds = Math.max(1, Number(a['rounds'] ?? 5));
  const parent = a['dir'] ? path.resolve(String(a['dir'])) : os.tmpdir();
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(path.join(parent, 'bale-bench-registry-'));
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
  const registries: Registry[] = [];
  const registry = async (name: string) => {
    const r = await startRegistry(path.join(work, name), { tls: false });
    registries.push(r);
    return r;
  };
  const drop = async (r: Registry) => {
    registries.splice(registries.indexOf(r), 1);
    await r.stop();
    rmSync(r.dir, { recursive: true, force: true });
  };
  try {
    log(`generating a ${(size / 1024 ** 2).toFixed(0)} MiB image in ${layers} layers under ${work}`);
    const gen = await generateDockerArchive(path.join(work, 'image.tar'), { totalBytes: size, layers, tag: IMAGE });
    const store = path.join(work, 'store');
    const env = { BALE_ROOT: store };
    time(BALE, ['load', '-q', '-i', gen.file], env);
    rmSync(gen.file);
    // skopeo's source: bale's own OCI layout of the image, so both send the same blobs and manifest.
    const layout = path.join(work, 'oci');
    time(BALE, ['save', '-q', '--format', 'oci', '-o', `${layout}/`, IMAGE], env);
    const bytes = gen.layerBytes;

    const push: Row = { op: 'push', peer: 'skopeo copy oci: docker://', bale: [], skopeo: [] };
    const pull: Row = { op: 'pull', peer: 'skopeo copy docker:// oci:', bale: [], skopeo: [] };
    let manifest = '';
    const same = (who: string, d: string) => {
      manifest ||= d;
      if (d !== manifest) throw new Error(`${who} recorded ${d}, not ${manifest}: not the same bytes`);
    };
    const remotes = path.join(store, 'remotes.json');
    const runs = {
      bale: {
        push: async (i: number) => {
          const r = await registry(`push-bale-${i}`);
          rmSync(remotes, { force: true }); // no cross-repository mount hints from an earlier round
          const t = time(BALE, ['push', '-q', '--insecure', IMAGE, `${r.host}/bench/bale:${i}`], env);
          same('bale push', t.stdout.trim());
          await drop(r);
          return t.seconds;
        },
        pull: async (i: number, r: Registry) => {
          const into = path.join(work, `pull-bale-${i}`);
          const t = time(BALE, ['pull', '-q', '--insecure', `${r.host}/bench/image:1`], { BALE_ROOT: into });
          rmSync(into, { recursive: true, force: true });
          return t.seconds;
        },
      },
      skopeo: {
        push: async (i: number) => {
          const r = await registry(`push-skopeo-${i}`);
          const digest = path.join(work, 'digest');
          const t = time('skopeo', ['copy', '-q', '--preserve-digests', '--dest-tls-verify=false', '--digestfile', digest, `oci:${layout}:${IMAGE}`, `docker://${r.host}/bench/skopeo:${i}`]);
          same('skopeo copy', readFileSync(digest, 'utf8').trim());
          await drop(r);
          return t.seconds;
        },
        pull: async (i: number, r: Registry) => {
          const into = path.join(work, `pull-skopeo-${i}`);
          const t = time('skopeo', ['copy', '-q', '--preserve-digests', '--dest-oci-accept-uncompressed-layers', '--src-tls-verify=false', `docker://${r.host}/bench/image:1`, `oci:${into}:bench`]);
          rmSync(into, { recursive: true, force: true });
          return t.seconds;
        },
      },
    };

    const source = await registry('pull-source');
    time(BALE, ['push', '-q', '--insecure', IMAGE, `${source.host}/bench/image:1`], env);
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? (['bale', 'skopeo'] as const) : (['skopeo', 'bale'] as const);
      for (const who of order) push[who].push(await runs[who].push(i));
      for (const who of order) pull[who].push(await runs[who].pull(i, source));
      log(`round ${i + 1}/${rounds}: push ${push.bale.at(-1)!.toFixed(2)} s vs ${push.skopeo.at(-1)!.toFixed(2)} s, pull ${pull.bale.at(-1)!.toFixed(2)} s vs ${pull.skopeo.at(-1)!.toFixed(2)} s`);
    }

    const rows = [push, pull].map((r) => {
      const ratios = r.bale.map((b, i) => b / r.skopeo[i]!);
      return {
        op: `bale ${r.op}`,
        seconds: median(r.bale),
        mbs: bytes / 1e6 / median(r.bale),
        peer: r.peer,
        peerSeconds: median(r.skopeo),
        peerMbs: bytes / 1e6 / median(r.skopeo),
        ratio: median(ratios),
        ratioRange: [Math.min(...ratios), Math.max(...ratios)],
      };
    });
    const cpu = os.cpus()[0]?.model?.trim() ?? '?';
    const skopeoVersion = spawnSync('skopeo', ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^skopeo version /, '');
    const title =
      `${new Date().toISOString().slice(0, 10)}: ${(size / 1024 ** 2).toFixed(0)} MiB of content in ${gen.layers} uncompressed layers (${(bytes / 1e6).toFixed(0)} MB), ` +
      `${rounds} interleaved rounds, medians; docker-registry on 127.0.0.1, skopeo ${skopeoVersion}; manifest ${manifest.slice(0, 19)}… for both; ` +
      `${os.cpus().length} x ${cpu}, node ${process.version}`;
    const header = ['operation', 'seconds', 'MB/s', 'peer', 'peer s', 'peer MB/s', 'x peer (range)'];
    const table = rows.map((r) => [
      r.op,
      r.seconds.toFixed(2),
      r.mbs.toFixed(0),
      r.peer,
      r.peerSeconds.toFixed(2),
      r.peerMbs.toFixed(0),
      `${r.ratio.toFixed(2)}x (${r.ratioRange[0]!.toFixed(2)}–${r.ratioRange[1]!.toFixed(2)})`,
    ]);
    if (a['json']) {
      process.stdout.write(JSON.stringify({ title, size, layers: gen.layers, bytes, rounds, push, pull, rows }, null, 2) + '\n');
    } else if (a['markdown']) {
      const lines = [title, '', `| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 || i === 3 ? ' --- ' : ' ---: ')).join('|')}|`];
      for (const r of table) lines.push(`| ${r.join(' | ')} |`);
      process.stdout.write(lines.join('\n') + '\n');
    } else {
      const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
      const line = (c: string[]) => c.map((s, i) => (i === 0 || i === 3 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  ').trimEnd();
      process.stdout.write([title, '', line(header), ...table.map(line)].join('\n') + '\n');
    }
    return 0;
  } finally {
    await Promise.allSettled(registries.map((r) => r.stop()));
    if (!a['keep']) rmSync(work, { recursive: true, force: true });
    else if (existsSync(work)) log(`kept ${work}`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
