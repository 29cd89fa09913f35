// bale's benchmarks: one command, one generated image, one table of ratios measured in one run.
//
//   npm run bench                 # 1 GiB image (default)
//   npm run bench -- --size 200M  # quick
//
// Every operation is timed as a whole process (start-up included), on the same bytes, with the
// page cache warm: the image is generated first and read once before any timing. Ratios are to
//   - the limit: GNU tar extracting the archive plus sha256sum over every layer (copy + hash), and
//   - the peer doing the same job, where a Debian-packaged one exists: skopeo for load and save,
//     umoci for export (unpack), `unshare` for the overhead of `bale run IMAGE true`.
// A verb that is not built yet shows "n/a (verb missing)"; a peer that is not installed, "n/a".
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import minimist from 'minimist';
import { generateDockerArchive, parseSize, type GenResult } from './gen.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BALE = path.join(REPO, 'bin', 'bale');
const VERB_DIR = path.join(REPO, 'dist', 'src', 'cli', 'verbs');

const HELP = `Usage: npm run bench -- [OPTIONS]

Generate a ~SIZE image (large and small files, several layers) as a Docker archive and time bale's
load, save, export, import, squash and run against GNU tar + sha256sum (the limit) and against
skopeo, umoci and unshare (the peers). Prints one table. Needs root (run, unshare) and free disk of
about 6x SIZE in the work directory.

Options:
  --size SIZE     Content of the image, e.g. 1G (default), 200M
  --layers N      Layers (default 6)
  --runs N        Timed runs of the short operations (run, unshare), median taken (default 5)
  --dir DIR       Where to make the work directory (default: the system temp dir); removed after
  --keep          Keep the work directory
  --markdown      Print the table as Markdown (for the README)
  --json          Print the results as JSON
  -h, --help      Show this help
`;

interface Row {
  op: string;
  seconds?: number;
  /** Bytes the operation moved (for MB/s), if it is a throughput operation. */
  bytes?: number;
  note?: string;
  peer?: string;
  peerSeconds?: number;
  peerNote?: string;
  /** Whether "× limit" makes sense for this row. */
  vsLimit?: boolean;
}

interface Timed {
  seconds: number;
  ok: boolean;
  error?: string;
  stdout: string;
}

/** Time one process. Dirty pages are flushed first so one operation's writeback is not billed to the next. */
function time(cmd: string, args: string[], env: Record<string, string> = {}, cwd?: string): Timed {
  spawnSync('sync', { stdio: 'ignore' });
  const t0 = process.hrtime.bigint();
  const r: SpawnSyncReturns<Buffer> = spawnSync(cmd, args, {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ok = r.status === 0;
  const err = r.error?.message ?? (r.stderr?.toString().trim().split('\n').pop() || `exit ${r.status ?? r.signal}`);
  return { seconds, ok, error: ok ? undefined : `${path.basename(cmd)}: ${err}`, stdout: r.stdout?.toString() ?? '' };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function hasVerb(v: string): boolean {
  return existsSync(path.join(VERB_DIR, `${v}.js`));
}

function du(p: string): number {
  const r = spawnSync('du', ['-sb', p], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split(/\s/)[0]) : 0;
}

function fmtSeconds(s: number | undefined): string {
  return s === undefined ? '' : s < 0.1 ? `${(s * 1000).toFixed(1)} ms` : `${s.toFixed(2)} s`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? '' : `${(a / b).toFixed(2)}x`;
}

export async function main(argv: string[]): Promise<number> {
  const a = minimist(argv, { string: ['size', 'layers', 'runs', 'dir'], boolean: ['keep', 'markdown', 'json', 'help'], alias: { h: 'help' } });
  if (a['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const size = parseSize(String(a['size'] ?? '1G'));
  const layers = Number(a['layers'] ?? 6);
  const runs = Math.max(1, Number(a['runs'] ?? 5));
  const parent = a['dir'] ? path.resolve(String(a['dir'])) : os.tmpdir();
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(path.join(parent, 'bale-bench-'));
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
  const rows: Row[] = [];
  let gen: GenResult | undefined;
  try {
    log(`generating a ${(size / 1024 ** 2).toFixed(0)} MiB image in ${layers} layers under ${work}`);
    const archive = path.join(work, 'image.tar');
    const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
    gen = await generateDockerArchive(archive, { totalBytes: size, layers, tag: 'bench/generated:latest', busybox });
    const g = gen;
    log(`${g.files} files, archive ${(g.archiveBytes / 1e6).toFixed(0)} MB`);
    time('cat', [archive]); // warm the page cache
    const mb = g.layerBytes;
    const store = path.join(work, 'store');
    const env = { BALE_ROOT: store };
    const bale = (args: string[]) => time(BALE, args, env);
    const missing = (v: string) => !hasVerb(v);

    // The limit: copy the archive's layers out and hash them.
    const x = path.join(work, 'limit');
    mkdirSync(x);
    const limit = time('sh', ['-c', `tar -xf "$1" -C "$2" && sha256sum "$2"/*/layer.tar >/dev/null`, 'sh', archive, x]);
    rmSync(x, { recursive: true, force: true });
    rows.push({ op: 'limit: tar -xf + sha256sum', seconds: limit.ok ? limit.seconds : undefined, note: limit.error, bytes: mb, vsLimit: true });

    // load vs skopeo docker-archive -> oci layout (read, verify, store blobs).
    const ociDir = path.join(work, 'skopeo-oci');
    const skopeo = have('skopeo');
    const sLoad = skopeo ? time('skopeo', ['copy', '-q', `docker-archive:${archive}`, `oci:${ociDir}:bench`]) : undefined;
    const load = missing('load') ? undefined : bale(['load', '-q', '-i', archive]);
    rows.push({
      op: 'bale load',
      seconds: load?.ok ? load.seconds : undefined,
      note: load ? load.error : 'n/a (verb missing)',
      bytes: mb,
      vsLimit: true,
      peer: 'skopeo copy docker-archive: oci:',
      peerSeconds: sLoad?.ok ? sLoad.seconds : undefined,
      peerNote: sLoad ? sLoad.error : 'n/a',
    });
    const loaded = Boolean(load?.ok);
    const image = 'bench/generated:latest';

    // save vs skopeo oci layout -> docker-archive (blob store to one archive).
    const sSave = sLoad?.ok ? time('skopeo', ['copy', '-q', `oci:${ociDir}:bench`, `docker-archive:${path.join(work, 'skopeo-save.tar')}:${image}`]) : undefined;
    rmSync(path.join(work, 'skopeo-save.tar'), { force: true });
    const save = missing('save') ? undefined : loaded ? bale(['save', '-q', '-o', path.join(work, 'save.tar'), image]) : undefined;
    rmSync(path.join(work, 'save.tar'), { force: true });
    rows.push({
      op: 'bale save',
      seconds: save?.ok ? save.seconds : undefined,
      note: missing('save') ? 'n/a (verb missing)' : !loaded ? 'n/a (load failed)' : save?.error,
      bytes: mb,
      vsLimit: true,
      peer: 'skopeo copy oci: docker-archive:',
      peerSeconds: sSave?.ok ? sSave.seconds : undefined,
      peerNote: sSave ? sSave.error : 'n/a',
    });

    // run overhead, measured before anything else unpacks the image: the first run unpacks the
    // layers, later runs are the launcher alone.
    const unshare = have('unshare') ? Array.from({ length: runs }, () => time('unshare', ['-m', '-u', '-i', '-n', '-p', '-f', 'true'])) : [];
    const unshareOk = unshare.length > 0 && unshare.every((t) => t.ok);
    if (missing('run')) {
      rows.push({ op: 'bale run IMAGE true', note: 'n/a (verb missing)' });
    } else if (!loaded || !busybox) {
      rows.push({ op: 'bale run IMAGE true', note: !busybox ? 'n/a (no busybox in the image)' : 'n/a (load failed)' });
    } else {
      const first = bale(['run', '--rm', image, '/bin/true']);
      rows.push({ op: 'bale run IMAGE true (first: unpacks)', seconds: first.ok ? first.seconds : undefined, note: first.error, bytes: mb });
      const warm = Array.from({ length: runs }, () => bale(['run', '--rm', image, '/bin/true']));
      const bad = warm.find((t) => !t.ok);
      rows.push({
        op: `bale run IMAGE true (median of ${runs})`,
        seconds: bad ? undefined : median(warm.map((t) => t.seconds)),
        note: bad?.error,
        peer: 'unshare -m -u -i -n -p -f true',
        peerSeconds: unshareOk ? median(unshare.map((t) => t.seconds)) : undefined,
        peerNote: unshareOk ? undefined : (unshare.find((t) => !t.ok)?.error ?? 'n/a'),
      });
    }
    // The whole move, archive in to archive out: load + save vs skopeo docker-archive -> oci-archive.
    const sBoth = skopeo ? time('skopeo', ['copy', '-q', `docker-archive:${archive}`, `oci-archive:${path.join(work, 'skopeo.oci.tar')}:bench`]) : undefined;
    rmSync(path.join(work, 'skopeo.oci.tar'), { force: true });
    rows.push({
      op: 'bale load + save',
      seconds: load?.ok && save?.ok ? load.seconds + save.seconds : undefined,
      note: load?.ok && save?.ok ? undefined : missing('load') || missing('save') ? 'n/a (verb missing)' : 'n/a (load or save failed)',
      bytes: mb,
      vsLimit: false,
      peer: 'skopeo copy docker-archive: oci-archive:',
      peerSeconds: sBoth?.ok ? sBoth.seconds : undefined,
      peerNote: sBoth ? sBoth.error : 'n/a',
    });

    // export (of a container if create exists, else of the image) vs umoci unpack.
    const flat = path.join(work, 'export.tar');
    let exp: Timed | undefined;
    let expNote: string | undefined;
    let exportOf = 'image';
    if (missing('export')) expNote = 'n/a (verb missing)';
    else if (!loaded) expNote = 'n/a (load failed)';
    else {
      let target = image;
      if (hasVerb('create')) {
        const c = bale(['create', image, 'true']);
        if (c.ok && c.stdout.trim()) target = c.stdout.trim().split('\n').pop()!.trim();
      }
      exp = bale(['export', '-o', flat, target]);
      expNote = exp.error;
      if (target !== image) exportOf = 'container';
    }
    const bundle = path.join(work, 'umoci-bundle');
    const umoci = have('umoci') && sLoad?.ok ? time('umoci', ['unpack', '--image', `${ociDir}:bench`, bundle]) : undefined;
    rmSync(bundle, { recursive: true, force: true });
    rows.push({
      op: `bale export (${exportOf})`,
      seconds: exp?.ok ? exp.seconds : undefined,
      note: expNote,
      bytes: mb,
      vsLimit: true,
      peer: 'umoci unpack',
      peerSeconds: umoci?.ok ? umoci.seconds : undefined,
      peerNote: umoci ? umoci.error : 'n/a',
    });

    // import of the exported tar.
    const imp = missing('import') ? undefined : exp?.ok ? bale(['import', flat, 'bench/imported:latest']) : undefined;
    const flatBytes = existsSync(flat) ? statSync(flat).size : mb;
    rows.push({
      op: 'bale import',
      seconds: imp?.ok ? imp.seconds : undefined,
      note: missing('import') ? 'n/a (verb missing)' : !exp?.ok ? 'n/a (no export)' : imp?.error,
      bytes: flatBytes,
      vsLimit: true,
    });
    rmSync(flat, { force: true });

    // squash.
    const sq = missing('squash') ? undefined : loaded ? bale(['squash', image, 'bench/squashed:latest']) : undefined;
    rows.push({
      op: 'bale squash',
      seconds: sq?.ok ? sq.seconds : undefined,
      note: missing('squash') ? 'n/a (verb missing)' : !loaded ? 'n/a (load failed)' : sq?.error,
      bytes: mb,
      vsLimit: true,
    });

    const storeBytes = du(store);
    const limitSeconds = rows[0]!.seconds;

    // ---- output ----
    const version = (() => {
      try {
        return (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
      } catch {
        return '?';
      }
    })();
    const header = ['operation', 'seconds', 'MB/s', 'x limit', 'peer', 'peer s', 'x peer'];
    // Shown in the order of the issue: the data verbs, then the launcher.
    const isRun = (r: Row) => r.op.startsWith('bale run');
    rows.splice(0, rows.length, ...rows.filter((r) => !isRun(r)), ...rows.filter(isRun));
    const table = rows.map((r) => [
      r.op,
      r.seconds !== undefined ? fmtSeconds(r.seconds) : r.note ?? 'failed',
      r.seconds !== undefined && r.bytes ? ((r.bytes / 1e6) / r.seconds).toFixed(0) : '',
      r.vsLimit && r !== rows[0] ? ratio(r.seconds, limitSeconds) : '',
      r.peer ?? '',
      r.peer ? (r.peerSeconds !== undefined ? fmtSeconds(r.peerSeconds) : r.peerNote ?? 'failed') : '',
      ratio(r.seconds, r.peerSeconds),
    ]);
    const cpu = os.cpus()[0]?.model ?? '?';
    const title =
      `bale ${version} bench: ${(size / 1024 ** 2).toFixed(0)} MiB of content, ${g.layers} layers, ${g.files} files, ` +
      `archive ${(g.archiveBytes / 1e6).toFixed(0)} MB; store after ${(storeBytes / 1e6).toFixed(0)} MB; ` +
      `${os.cpus().length} x ${cpu.trim()}, node ${process.version}`;
    if (a['json']) {
      process.stdout.write(JSON.stringify({ title, size, layers: g.layers, files: g.files, archiveBytes: g.archiveBytes, rows }, null, 2) + '\n');
    } else if (a['markdown']) {
      const esc = (s: string) => s.replace(/\|/g, '\\|');
      const lines = [`${title}`, '', `| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 || i === 4 ? ' --- ' : ' ---: ')).join('|')}|`];
      for (const r of table) lines.push(`| ${r.map(esc).join(' | ')} |`);
      process.stdout.write(lines.join('\n') + '\n');
    } else {
      const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
      const line = (c: string[]) => c.map((s, i) => (i === 0 || i === 4 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  ').trimEnd();
      process.stdout.write([title, '', line(header), ...table.map(line)].join('\n') + '\n');
    }
    const failed = rows.filter((r) => r.seconds === undefined && r.note && !r.note.startsWith('n/a'));
    return failed.length ? 1 : 0;
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
