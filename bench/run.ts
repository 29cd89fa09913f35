// bale's benchmarks: one command, one generated image, one table of ratios measured in one run.
//
//   npm run bench                     # 1 GiB image (default), 3 rounds
//   npm run bench -- --quick          # 128 MiB, 3 rounds: a few minutes, for iterating
//   npm run bench -- --only load,save # some rows only
//   npm run bench -- --scale          # the scale table: time and peak RSS from 256 MiB to 3 GiB
//
// Every row is a set of commands run as whole processes (start-up included) on the same bytes:
// bale, the limit (the least work that moves the same bytes: tar, plus `openssl dgst -sha256`
// where bale hashes; and the same with Debian's `sha256sum`, which has no SHA extensions, as a
// second column) and the peers doing the same job. One round runs each command of the row once, in
// an order that rotates from round to round, so drift in a shared machine's load falls on all of
// them alike; a ratio is the median over rounds of that round's ratio. Page cache warm, `sync`
// before each command so one command's writeback is not billed to the next.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import minimist from 'minimist';
import { generateDockerArchive, parseSize, type GenOptions, type GenResult } from './gen.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BALE = path.join(REPO, 'bin', 'bale');

const HELP = `Usage: npm run bench -- [OPTIONS]

Generate a ~SIZE image (large and small files, several layers) as a Docker archive and time bale's
load, save (plain, gzip, zstd), first run, export, import and squash, and the load of a layer of
100k symlinks, each against the limit (tar + openssl dgst -sha256; tar + sha256sum as a second
column) and against skopeo, podman and tar as peers, in interleaved rounds. Needs root and free
disk of about 8x SIZE in the work directory.

Options:
  --size SIZE     Content of the image, e.g. 1G (default), 200M
  --layers N      Layers (default 6)
  --rounds N      Rounds; each command runs once per round, medians taken (default 3)
  --quick         --size 128M (unless given): a few minutes, to iterate with
  --only LIST     Rows to run, by key: load,save,gzip,zstd,first-run,export,import,squash,symlinks
  --symlinks N    Symlinks in the symlink row's layer (default 100000)
  --scale         Instead: load and save time and peak RSS at 256 MiB, 1 GiB, 3 GiB, 50 layers,
                  200k files, 100k symlinks (--only picks cases: 256M,1G,3G,50-layers,200k-files,100k-symlinks)
  --dir DIR       Where to make the work directory (default: the system temp dir); removed after
  --keep          Keep the work directory
  --markdown      Print the table as Markdown (for the README)
  --json          Print the results as JSON
  -h, --help      Show this help
`;

interface Cmd {
  /** What the table calls it. */
  label: string;
  argv: string[];
  env?: Record<string, string>;
  /** Untimed, before each run (make a fresh store, remove an output). */
  before?: () => void;
  /** Untimed, after each run. */
  after?: () => void;
  /** Measure peak RSS with /usr/bin/time. */
  rss?: boolean;
}

interface Measured {
  label: string;
  seconds?: number;
  /** Median of the per-round ratios of bale to this command. */
  ratio?: number;
  rssMB?: number;
  error?: string;
}

interface Row {
  key: string;
  op: string;
  bytes: number;
  bale: Measured;
  limit?: Measured;
  limit2?: Measured;
  peers: Measured[];
}

interface Run {
  seconds: number;
  ok: boolean;
  error?: string;
  rssKB?: number;
}

const sh = (script: string, ...args: string[]) => ['sh', '-c', script, 'sh', ...args];

function runOnce(c: Cmd): Run {
  c.before?.();
  spawnSync('sync', { stdio: 'ignore' });
  const rssFile = c.rss ? path.join(os.tmpdir(), `bale-bench-rss-${process.pid}`) : undefined;
  const argv = rssFile ? ['/usr/bin/time', '-f', '%M', '-o', rssFile, ...c.argv] : c.argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...process.env, ...c.env }, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let rssKB: number | undefined;
  if (rssFile && existsSync(rssFile)) {
    rssKB = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
    rmSync(rssFile, { force: true });
  }
  c.after?.();
  const ok = r.status === 0;
  const last = r.error?.message ?? (r.stderr?.toString().trim().split('\n').filter((l) => !/^Command exited|^\d+$/.test(l)).pop() || `exit ${r.status ?? r.signal}`);
  return { seconds, ok, error: ok ? undefined : `${path.basename(c.argv[0]!)}: ${last}`.slice(0, 160), rssKB };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Run bale and the commands it is compared with, `rounds` times, interleaved: round i starts at
 * command i (mod n). A command that fails once is dropped from the row (its error shown).
 */
function measureRow(bale: Cmd, others: Cmd[], rounds: number): Measured[] {
  const cmds = [bale, ...others];
  const runs: Run[][] = cmds.map(() => []);
  const failed: (string | undefined)[] = cmds.map(() => undefined);
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < cmds.length; j++) {
      const k = (i + j) % cmds.length;
      if (failed[k]) continue;
      const r = runOnce(cmds[k]!);
      if (!r.ok) failed[k] = r.error;
      runs[k]!.push(r);
    }
  }
  const baleOk = !failed[0];
  return cmds.map((c, k) => {
    if (failed[k]) return { label: c.label, error: failed[k] };
    const secs = runs[k]!.map((r) => r.seconds);
    const rss = runs[k]!.map((r) => r.rssKB).filter((x): x is number => x !== undefined);
    const m: Measured = { label: c.label, seconds: median(secs) };
    if (rss.length) m.rssMB = Math.max(...rss) / 1024;
    if (k > 0 && baleOk) m.ratio = median(runs[0]!.map((r, i) => r.seconds / runs[k]![i]!.seconds));
    return m;
  });
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function must(argv: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${argv.slice(0, 3).join(' ')}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
  return r.stdout;
}

/** The layer tars of an unpacked Docker archive, bottom first (as manifest.json lists them). */
function layerFiles(dir: string): string[] {
  const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
  return m[0]!.Layers.map((l) => path.join(dir, l));
}

const fresh = (p: string) => () => {
  rmSync(p, { recursive: true, force: true });
};
const freshDir = (p: string) => () => {
  rmSync(p, { recursive: true, force: true });
  mkdirSync(p, { recursive: true });
};

interface Ctx {
  work: string;
  rounds: number;
  only?: Set<string>;
  log: (s: string) => void;
  symlinks: number;
}

/** The comparison table for one generated image. */
async function mainTable(ctx: Ctx, gen: GenResult, busybox: string | undefined): Promise<Row[]> {
  const { work, rounds, log } = ctx;
  const want = (k: string) => !ctx.only || ctx.only.has(k);
  const archive = gen.file;
  const image = gen.tag;
  const store = path.join(work, 'store');
  const env = { BALE_ROOT: store };
  const out = path.join(work, 'out');
  const rows: Row[] = [];
  const row = (key: string, op: string, bytes: number, bale: Cmd, limit: Cmd | undefined, limit2: Cmd | undefined, peers: Cmd[]) => {
    if (!want(key)) return;
    log(`${op}: ${rounds} rounds of ${1 + (limit ? 1 : 0) + (limit2 ? 1 : 0) + peers.length} commands`);
    const m = measureRow(bale, [limit, limit2, ...peers].filter((c): c is Cmd => c !== undefined), rounds);
    const [b, ...rest] = m;
    rows.push({ key, op, bytes, bale: b!, limit: limit ? rest.shift() : undefined, limit2: limit2 ? rest.shift() : undefined, peers: rest });
  };

  // Untimed set-up: the layers as files (what the limits read), the merged root filesystem (what
  // export's limit packs), the image in bale's store, in skopeo's OCI layout and in podman's store.
  const lim = path.join(work, 'layers');
  mkdirSync(lim);
  must(['tar', '-xf', archive, '-C', lim]);
  const layers = layerFiles(lim);
  const rootfs = path.join(work, 'rootfs');
  mkdirSync(rootfs);
  for (const l of layers) must(['tar', '-xf', l, '-C', rootfs]);
  must([BALE, 'load', '-q', '-i', archive], env);
  const skopeo = have('skopeo');
  const oci = path.join(work, 'skopeo-oci');
  if (skopeo) must(['skopeo', 'copy', '-q', '--dest-oci-accept-uncompressed-layers', `docker-archive:${archive}`, `oci:${oci}:bench`]);
  const podmanRoot = path.join(work, 'podman');
  const podman = (...a: string[]) => ['podman', '--root', `${podmanRoot}/root`, '--runroot', `${podmanRoot}/run`, '--storage-driver', 'vfs', ...a];
  let podmanCtr: string | undefined;
  if (have('podman')) {
    try {
      must(podman('load', '-q', '-i', archive));
      podmanCtr = must(podman('create', image, '/bin/true')).trim().split('\n').pop();
    } catch (e) {
      log(`podman: ${(e as Error).message} (its columns will show n/a)`);
    }
  }
  const layerArgs = layers.join(' ');
  const hash = (tool: string) => `${tool === 'openssl' ? 'openssl dgst -sha256' : 'sha256sum'} ${layerArgs} >/dev/null`;

  // load: archive in, every blob hashed and stored; each bale run into an empty store.
  const scratch = path.join(work, 'scratch-store');
  const x = path.join(work, 'x');
  const loadLimit = (tool: string): Cmd => ({
    label: `tar -xf + ${tool}`,
    argv: sh(`tar -xf "$1" -C "$2" && ${tool === 'openssl' ? 'openssl dgst -sha256' : 'sha256sum'} "$2"/*/layer.tar >/dev/null`, archive, x),
    before: freshDir(x),
    after: fresh(x),
  });
  // The limit leaves its files in the page cache; bale's are on the disk before it commits. The
  // durable limit makes them so too (`sync FILE...` fsyncs each): the disk's share of a load.
  const durableLimit: Cmd = {
    label: 'tar -xf + sync FILE... + openssl (durable limit)',
    argv: sh('tar -xf "$1" -C "$2" && sync "$2"/* "$2"/*/* && openssl dgst -sha256 "$2"/*/layer.tar >/dev/null', archive, x),
    before: freshDir(x),
    after: fresh(x),
  };
  const loadPeers: Cmd[] = [durableLimit];
  if (skopeo) loadPeers.push({ label: 'skopeo copy docker-archive: oci: (uncompressed)', argv: ['skopeo', 'copy', '-q', '--dest-oci-accept-uncompressed-layers', `docker-archive:${archive}`, `oci:${x}:bench`], after: fresh(x) });
  row(
    'load',
    'bale load',
    gen.layerBytes,
    { label: 'bale load', argv: [BALE, 'load', '-q', '-i', archive], env: { BALE_ROOT: scratch }, before: fresh(scratch), after: fresh(scratch) },
    loadLimit('openssl'),
    loadLimit('sha256sum'),
    loadPeers,
  );

  // save: the store out to one archive.
  const saveLimit = (tool: string): Cmd => ({ label: `tar -cf + ${tool}`, argv: sh(`tar -cf "$1" -C "$2" . && ${hash(tool)}`, out, lim), after: fresh(out) });
  const savePeers: Cmd[] = [];
  if (skopeo) savePeers.push({ label: 'skopeo copy oci: docker-archive:', argv: ['skopeo', 'copy', '-q', `oci:${oci}:bench`, `docker-archive:${out}:${image}`], after: fresh(out) });
  if (podmanCtr) savePeers.push({ label: 'podman save (docker-archive)', argv: podman('save', '-q', '--format', 'docker-archive', '-o', out, image), after: fresh(out) });
  row('save', 'bale save', gen.layerBytes, { label: 'bale save', argv: [BALE, 'save', '-q', '-o', out, image], env, after: fresh(out) }, saveLimit('openssl'), saveLimit('sha256sum'), savePeers);

  // save with gzip layers: every layer compressed; the limit is still the copy + hash.
  const gzPeers: Cmd[] = [];
  if (skopeo) gzPeers.push({ label: 'skopeo copy oci: oci-archive: (gzip)', argv: ['skopeo', 'copy', '-q', `oci:${oci}:bench`, `oci-archive:${out}:bench`], after: fresh(out) });
  if (podmanCtr) gzPeers.push({ label: 'podman save (oci-archive, gzip)', argv: podman('save', '-q', '--format', 'oci-archive', '-o', out, image), after: fresh(out) });
  if (have('gzip')) gzPeers.push({ label: 'gzip -1 of the layers (one core)', argv: sh(`gzip -1 -c ${layerArgs} > "$1"`, out), after: fresh(out) });
  row('gzip', 'bale save --compress gzip', gen.layerBytes, { label: 'bale save --compress gzip', argv: [BALE, 'save', '-q', '--compress', 'gzip', '-o', out, image], env, after: fresh(out) }, saveLimit('openssl'), undefined, gzPeers);

  // save with zstd layers (OCI only): against zstd -3 using every core, and skopeo.
  const zPeers: Cmd[] = [];
  if (have('zstd')) zPeers.push({ label: 'zstd -3 -T0 of the layers', argv: sh(`zstd -q -3 -T0 -c ${layerArgs} > "$1"`, out), after: fresh(out) });
  if (skopeo) zPeers.push({ label: 'skopeo copy oci: oci-archive: (zstd)', argv: ['skopeo', 'copy', '-q', '--dest-compress-format', 'zstd', `oci:${oci}:bench`, `oci-archive:${out}:bench`], after: fresh(out) });
  row(
    'zstd',
    'bale save --format oci --compress zstd',
    gen.layerBytes,
    { label: 'bale save zstd', argv: [BALE, 'save', '-q', '--format', 'oci', '--compress', 'zstd', '-o', out, image], env, after: fresh(out) },
    saveLimit('openssl'),
    undefined,
    zPeers,
  );

  // first run: unpack every layer, then start /bin/true; the limit extracts each layer on its own.
  if (busybox) {
    const unpacked = path.join(store, 'layers');
    row(
      'first-run',
      'bale run IMAGE true (first: unpacks)',
      gen.layerBytes,
      { label: 'bale run (first)', argv: [BALE, 'run', '--rm', image, '/bin/true'], env, before: fresh(unpacked) },
      { label: 'tar -xf of each layer', argv: sh(`i=0; for l in ${layerArgs}; do i=$((i+1)); mkdir -p "$1/$i" && tar -xf "$l" -C "$1/$i" || exit 1; done`, x), before: freshDir(x), after: fresh(x) },
      undefined,
      [],
    );
  }

  // export of a container: the merged tree as one tar.
  const ctr = want('export') ? must([BALE, 'create', image, '/bin/true'], env).trim().split('\n').pop()! : '';
  const flat = path.join(work, 'flat.tar');
  must(['tar', '-cf', flat, '-C', rootfs, '.']);
  const flatBytes = statSync(flat).size;
  row(
    'export',
    'bale export (container)',
    flatBytes,
    { label: 'bale export', argv: [BALE, 'export', '-o', out, ctr], env, after: fresh(out) },
    { label: 'tar -cf of the merged rootfs', argv: ['tar', '-cf', out, '-C', rootfs, '.'], after: fresh(out) },
    undefined,
    podmanCtr ? [{ label: 'podman export', argv: podman('export', '-o', out, podmanCtr), after: fresh(out) }] : [],
  );

  // import of that flat tar: read, hash, store.
  row(
    'import',
    'bale import',
    flatBytes,
    { label: 'bale import', argv: [BALE, 'import', flat, 'bench/imported:latest'], env },
    { label: 'cp + openssl dgst', argv: sh('cp "$1" "$2" && openssl dgst -sha256 "$2" >/dev/null', flat, out), after: fresh(out) },
    undefined,
    podmanCtr ? [{ label: 'podman import', argv: podman('import', '-q', flat, 'bench/imported:latest') }] : [],
  );

  // squash: the merged tree packed, hashed and stored as one layer.
  row(
    'squash',
    'bale squash',
    flatBytes,
    { label: 'bale squash', argv: [BALE, 'squash', image, 'bench/squashed:latest'], env },
    { label: 'tar -cf + openssl dgst', argv: sh('tar -cf "$1" -C "$2" . && openssl dgst -sha256 "$1" >/dev/null', out, rootfs), after: fresh(out) },
    undefined,
    [],
  );

  // The layer checks: a layer of many symlinks loads in time linear in its entries.
  if (want('symlinks')) {
    const sym = path.join(work, 'symlinks.tar');
    const g = await generateDockerArchive(sym, { totalBytes: 1 << 20, layers: 1, symlinks: ctx.symlinks, tag: 'bench/symlinks:latest' });
    const symLayers = path.join(work, 'symlink-layers');
    mkdirSync(symLayers);
    must(['tar', '-xf', sym, '-C', symLayers]);
    row(
      'symlinks',
      `bale load (${Math.round(ctx.symlinks / 1000)}k symlinks)`,
      g.layerBytes,
      { label: 'bale load', argv: [BALE, 'load', '-q', '-i', sym], env: { BALE_ROOT: scratch }, before: fresh(scratch), after: fresh(scratch) },
      { label: 'tar -xf + openssl', argv: sh('tar -xf "$1" -C "$2" && openssl dgst -sha256 "$2"/*/layer.tar >/dev/null', sym, x), before: freshDir(x), after: fresh(x) },
      undefined,
      [
        { label: 'tar -xf of the archive', argv: ['tar', '-xf', sym, '-C', x], before: freshDir(x), after: fresh(x) },
        // What bale does per entry (read every header) and no more: nothing is made on disk.
        { label: 'tar -tf of the layer (reads every header)', argv: sh('tar -tf "$1" >/dev/null', layerFiles(symLayers)[0]!) },
      ],
    );
  }
  return rows;
}

interface ScaleCase {
  key: string;
  gen: Omit<GenOptions, 'busybox' | 'tag'>;
}

const SCALE: ScaleCase[] = [
  { key: '256M', gen: { totalBytes: 256 << 20 } },
  { key: '1G', gen: { totalBytes: 1 << 30 } },
  { key: '3G', gen: { totalBytes: 3 * 2 ** 30 } },
  { key: '50-layers', gen: { totalBytes: 1 << 30, layers: 50 } },
  { key: '200k-files', gen: { totalBytes: 512 << 20, smallShare: 0.7, smallMax: 3072 } },
  { key: '100k-symlinks', gen: { totalBytes: 1 << 20, layers: 1, symlinks: 100_000 } },
];

/** Load and save of each scale case: seconds, ratio to tar + openssl, peak RSS. */
async function scaleTable(ctx: Ctx): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of SCALE) {
    if (ctx.only && !ctx.only.has(c.key)) continue;
    const dir = path.join(ctx.work, c.key);
    mkdirSync(dir);
    const archive = path.join(dir, 'image.tar');
    ctx.log(`scale ${c.key}: generating`);
    const g = await generateDockerArchive(archive, { ...c.gen, tag: 'bench/scale:latest' });
    const scratch = path.join(dir, 'scratch');
    const store = path.join(dir, 'store');
    const x = path.join(dir, 'x');
    const out = path.join(dir, 'out.tar');
    const op = `${c.key}: ${g.layers} layers, ${g.files + g.symlinks} entries`;
    ctx.log(`scale ${op}: load`);
    const [load, loadLimit] = measureRow(
      { label: 'load', argv: [BALE, 'load', '-q', '-i', archive], env: { BALE_ROOT: scratch }, before: fresh(scratch), after: fresh(scratch), rss: true },
      [{ label: 'tar -xf + openssl', argv: sh('tar -xf "$1" -C "$2" && openssl dgst -sha256 "$2"/*/layer.tar >/dev/null', archive, x), before: freshDir(x), after: fresh(x) }],
      ctx.rounds,
    );
    rows.push({ key: c.key, op: `${op}: load`, bytes: g.layerBytes, bale: load!, limit: loadLimit, peers: [] });
    must([BALE, 'load', '-q', '-i', archive], { BALE_ROOT: store });
    must(['tar', '-xf', archive, '-C', (freshDir(x)(), x)]);
    ctx.log(`scale ${op}: save`);
    const [save, saveLimit] = measureRow(
      { label: 'save', argv: [BALE, 'save', '-q', '-o', out, g.tag], env: { BALE_ROOT: store }, after: fresh(out), rss: true },
      [{ label: 'tar -cf + openssl', argv: sh('tar -cf "$1" -C "$2" . && openssl dgst -sha256 "$2"/*/layer.tar >/dev/null', out, x), after: fresh(out) }],
      ctx.rounds,
    );
    rows.push({ key: c.key, op: `${op}: save`, bytes: g.layerBytes, bale: save!, limit: saveLimit, peers: [] });
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

function fmtSeconds(s: number | undefined): string {
  return s === undefined ? '' : s < 0.1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}
const fmtRatio = (r: number | undefined) => (r === undefined ? '' : `${r.toFixed(2)}x`);
const cell = (m: Measured | undefined) => (m ? (m.seconds !== undefined ? fmtSeconds(m.seconds) : `n/a (${m.error})`) : '');

function render(rows: Row[], scale: boolean): { header: string[]; table: string[][]; left: Set<number> } {
  if (scale) {
    const header = ['case', 'seconds', 'MB/s', 'peak RSS', 'tar + openssl', 'x limit'];
    const table = rows.map((r) => [
      r.op,
      cell(r.bale),
      r.bale.seconds ? (r.bytes / 1e6 / r.bale.seconds).toFixed(0) : '',
      r.bale.rssMB !== undefined ? `${r.bale.rssMB.toFixed(0)} MB` : '',
      cell(r.limit),
      fmtRatio(r.limit?.ratio),
    ]);
    return { header, table, left: new Set([0]) };
  }
  const header = ['operation', 'seconds', 'MB/s', 'limit', 'limit s', 'x limit', 'x sha256sum limit', 'peer', 'peer s', 'x peer'];
  const table: string[][] = [];
  for (const r of rows) {
    const first = r.peers[0];
    table.push([
      r.op,
      cell(r.bale),
      r.bale.seconds ? (r.bytes / 1e6 / r.bale.seconds).toFixed(0) : '',
      r.limit?.label ?? '',
      cell(r.limit),
      fmtRatio(r.limit?.ratio),
      fmtRatio(r.limit2?.ratio),
      first?.label ?? '',
      cell(first),
      fmtRatio(first?.ratio),
    ]);
    for (const p of r.peers.slice(1)) table.push(['', '', '', '', '', '', '', p.label, cell(p), fmtRatio(p.ratio)]);
  }
  return { header, table, left: new Set([0, 3, 7]) };
}

export async function main(argv: string[]): Promise<number> {
  const a = minimist(argv, {
    string: ['size', 'layers', 'rounds', 'dir', 'only', 'symlinks'],
    boolean: ['keep', 'markdown', 'json', 'help', 'quick', 'scale'],
    alias: { h: 'help' },
  });
  if (a['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const size = parseSize(String(a['size'] ?? (a['quick'] ? '128M' : '1G')));
  const layers = Number(a['layers'] ?? 6);
  const rounds = Math.max(1, Number(a['rounds'] ?? 3));
  const parent = a['dir'] ? path.resolve(String(a['dir'])) : os.tmpdir();
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(path.join(parent, 'bale-bench-'));
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
  const ctx: Ctx = {
    work,
    rounds,
    log,
    only: a['only'] ? new Set(String(a['only']).split(',')) : undefined,
    symlinks: Number(a['symlinks'] ?? 100_000),
  };
  try {
    let rows: Row[];
    let what: string;
    if (a['scale']) {
      rows = await scaleTable(ctx);
      what = `scale: load and save, ${rounds} rounds each, interleaved with tar + openssl dgst; peak RSS is the largest of the rounds`;
    } else {
      log(`generating a ${(size / 1024 ** 2).toFixed(0)} MiB image in ${layers} layers under ${work}`);
      const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
      const gen = await generateDockerArchive(path.join(work, 'image.tar'), { totalBytes: size, layers, tag: 'bench/generated:latest', busybox });
      log(`${gen.files} files, archive ${(gen.archiveBytes / 1e6).toFixed(0)} MB`);
      rows = await mainTable(ctx, gen, busybox);
      what = `${(size / 1024 ** 2).toFixed(0)} MiB of content, ${gen.layers} layers, ${gen.files} files, archive ${(gen.archiveBytes / 1e6).toFixed(0)} MB; ${rounds} rounds, interleaved, medians`;
    }
    const version = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    const cpu = os.cpus()[0]?.model?.trim() ?? '?';
    const title = `bale ${version} bench, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ${what}; ${os.cpus().length} x ${cpu}, node ${process.version}, load average ${os.loadavg()[0]!.toFixed(1)} at the end`;
    const { header, table, left } = render(rows, Boolean(a['scale']));
    if (a['json']) {
      process.stdout.write(JSON.stringify({ title, rows }, null, 2) + '\n');
    } else if (a['markdown']) {
      const esc = (s: string) => s.replace(/\|/g, '\\|');
      const lines = [title, '', `| ${header.join(' | ')} |`, `|${header.map((_, i) => (left.has(i) ? ' --- ' : ' ---: ')).join('|')}|`];
      for (const r of table) lines.push(`| ${r.map(esc).join(' | ')} |`);
      process.stdout.write(lines.join('\n') + '\n');
    } else {
      const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
      const line = (c: string[]) => c.map((s, i) => (left.has(i) ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  ').trimEnd();
      process.stdout.write([title, '', line(header), ...table.map(line)].join('\n') + '\n');
    }
    return rows.some((r) => r.bale.error) ? 1 : 0;
  } finally {
    if (!a['keep']) rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
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
