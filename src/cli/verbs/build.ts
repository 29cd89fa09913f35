// bale build: flags and output; the build itself is image/build/.
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildImage, readDockerfile } from '../../image/build/build.js';
import { receiveContext } from '../../image/build/context.js';
import { shortId } from '../../oci/digest.js';
import { requireRoot } from '../../runtime/lifecycle.js';
import { Store } from '../../store/store.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { uniqueName } from '../../util/fsx.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { parseTag } from './import.js';

export const help = `Usage: bale build [OPTIONS] CONTEXT|-

Build an image from a Dockerfile, offline: FROM names an image in the store (or
scratch), RUN steps run in bale's own containers (no network unless --network host),
COPY and ADD take files from the CONTEXT directory (less what its .dockerignore
excludes). One layer per step that changes files; a cache in the store skips the
steps whose inputs (the image so far, the instruction, the files copied) did not
change. With SOURCE_DATE_EPOCH set, every timestamp is that time, so two builds of
the same inputs give the same image id. Needs root (RUN). CONTEXT - reads stdin: a
Dockerfile (no context), or a tar of the context (plain, gzip or zstd). As BuildKit:
here-documents in RUN, COPY and ADD (<<EOF), RUN --mount=type=bind|cache|tmpfs (cache
directories stay in the store until gc --build-cache) and RUN --network=none|host.

Options:
  -f, --file FILE        The Dockerfile (default CONTEXT/Dockerfile; - reads stdin)
  -t, --tag NAME[:TAG]   Name the image (repeatable)
      --build-arg K=V    Set a build argument (K alone takes the host's value); repeatable
      --target STAGE     Build up to this stage and make it the image
      --no-cache         Run every step again (results still go to the cache)
      --network MODE     Network for RUN: none (default) or host
      --label K=V        Set a label on the image (repeatable)
      --iidfile FILE     Write the image id to FILE
      --progress MODE    auto, plain, tty (the steps, as without it) or quiet (as -q)
  -q, --quiet            Print only the image id (RUN output only when a step fails)
`;

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['file', 'target', 'network', 'iidfile', 'progress'], multi: ['tag', 'build-arg', 'label'], boolean: ['no-cache', 'quiet'], alias: { f: 'file', t: 'tag', q: 'quiet' } }, 'build');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'build');
  const fromStdin = p._[0] === '-';
  const fileFlag = typeof p['file'] === 'string' && p['file'] !== '' ? String(p['file']) : undefined;
  if (fromStdin && fileFlag === '-') throw new UsageError('bale build: the context and the Dockerfile cannot both come from stdin');
  if (!fromStdin) {
    const contextDir = p._[0]!;
    if (/^[a-z]+:\/\//i.test(contextDir) || contextDir.startsWith('git@')) throw new BaleError(`bale build: ${contextDir}: bale builds offline from a local directory`);
    if (!statSync(contextDir, { throwIfNoEntry: false })?.isDirectory()) throw new BaleError(`bale build: ${contextDir}: no such directory`);
  }
  const progress = typeof p['progress'] === 'string' ? String(p['progress']) : 'auto';
  if (!['auto', 'plain', 'tty', 'quiet'].includes(progress)) throw new UsageError(`bale build: --progress takes auto, plain, tty or quiet, not ${JSON.stringify(progress)}`);
  const labels: string[] = [];
  for (const l of p['label'] as string[]) {
    const eq = l.indexOf('=');
    if (eq === 0) throw new UsageError(`bale build: --label wants K=V, not ${JSON.stringify(l)}`);
    labels.push(eq < 0 ? `${l}=` : l);
  }
  const tags = (p['tag'] as string[]).flatMap((t) => parseTag(t, 'build'));
  const buildArgs = new Map<string, string>();
  for (const a of p['build-arg'] as string[]) {
    const eq = a.indexOf('=');
    const k = eq < 0 ? a : a.slice(0, eq);
    if (k === '') throw new UsageError(`bale build: --build-arg wants K=V, not ${JSON.stringify(a)}`);
    if (eq >= 0) buildArgs.set(k, a.slice(eq + 1));
    else if (process.env[k] !== undefined) buildArgs.set(k, process.env[k]!);
  }
  const network = String(p['network'] ?? 'none');
  if (network !== 'none' && network !== 'host') throw new UsageError(`bale build: --network takes none or host, not ${JSON.stringify(network)}`);
  let epoch: number | undefined;
  const sde = process.env['SOURCE_DATE_EPOCH'];
  if (sde !== undefined && sde !== '') {
    if (!/^\d+$/.test(sde)) throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not ${JSON.stringify(sde)}`);
    epoch = Number(sde);
  }
  const quiet = Boolean(p['quiet']) || progress === 'quiet';
  requireRoot('build');

  const store = await Store.open();
  let contextDir = p._[0]!;
  let dockerfile: { text: string; name: string };
  if (fromStdin) {
    // a context of its own in the store's tmp/, gone with the build
    contextDir = store.tmpPath('context');
    await fsp.mkdir(contextDir, { mode: 0o700 });
  }
  try {
    if (fromStdin) {
      const got = await receiveContext(process.stdin, contextDir);
      dockerfile = got.dockerfile !== undefined ? { text: got.dockerfile, name: 'Dockerfile' } : readDockerfile(path.join(contextDir, fileFlag ?? 'Dockerfile'));
    } else dockerfile = readDockerfile(fileFlag ?? path.join(contextDir, 'Dockerfile'));
    await buildWith(store, { contextDir, dockerfile, tags, buildArgs, network, epoch, quiet, labels, iidfile: typeof p['iidfile'] === 'string' && p['iidfile'] !== '' ? String(p['iidfile']) : undefined, target: typeof p['target'] === 'string' && p['target'] !== '' ? String(p['target']) : undefined, noCache: Boolean(p['no-cache']) });
  } finally {
    if (fromStdin) await fsp.rm(contextDir, { recursive: true, force: true });
  }
  return 0;
}

interface CliBuild {
  contextDir: string;
  dockerfile: { text: string; name: string };
  tags: string[];
  buildArgs: Map<string, string>;
  network: 'none' | 'host';
  epoch?: number;
  quiet: boolean;
  labels: string[];
  iidfile?: string;
  target?: string;
  noCache: boolean;
}

async function buildWith(store: Store, o: CliBuild): Promise<void> {
  const { quiet, tags } = o;
  // Quiet: RUN output goes to a file, shown only when the build fails.
  const logFile = quiet ? path.join(os.tmpdir(), uniqueName('bale-build')) : undefined;
  const fd = logFile ? openSync(logFile, 'w', 0o600) : undefined;
  try {
    const rec = await buildImage(store, {
      contextDir: o.contextDir,
      dockerfile: o.dockerfile,
      tags,
      buildArgs: o.buildArgs,
      labels: o.labels,
      target: o.target,
      noCache: o.noCache,
      net: o.network,
      epoch: o.epoch,
      log: (line) => {
        if (!quiet) process.stdout.write(line + '\n');
      },
      runOutput: fd ?? 'inherit',
    }).catch((e: unknown) => {
      if (logFile) process.stderr.write(readFileSync(logFile, 'utf8'));
      throw e;
    });
    if (o.iidfile) writeFileSync(o.iidfile, rec.id);
    if (quiet) process.stdout.write(`${rec.id}\n`);
    else {
      process.stdout.write(`Successfully built ${shortId(rec.id)}\n`);
      for (const t of tags) process.stdout.write(`Successfully tagged ${t}\n`);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (logFile) rmSync(logFile, { force: true });
  }
}
