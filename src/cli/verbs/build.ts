// bale build: flags and output; the build itself is image/build/.
import { closeSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildImage, readDockerfile } from '../../image/build/build.js';
import { shortId } from '../../oci/digest.js';
import { requireRoot } from '../../runtime/lifecycle.js';
import { Store } from '../../store/store.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { uniqueName } from '../../util/fsx.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { parseTag } from './import.js';

export const help = `Usage: bale build [OPTIONS] CONTEXT

Build an image from a Dockerfile, offline: FROM names an image in the store (or
scratch), RUN steps run in bale's own containers (no network unless --network host),
COPY and ADD take files from the CONTEXT directory (less what its .dockerignore
excludes). One layer per step that changes files; a cache in the store skips the
steps whose inputs (the image so far, the instruction, the files copied) did not
change. With SOURCE_DATE_EPOCH set, every timestamp is that time, so two builds of
the same inputs give the same image id. Needs root (RUN).

Options:
  -f, --file FILE        The Dockerfile (default CONTEXT/Dockerfile; - reads stdin)
  -t, --tag NAME[:TAG]   Name the image (repeatable)
      --build-arg K=V    Set a build argument (K alone takes the host's value); repeatable
      --target STAGE     Build up to this stage and make it the image
      --no-cache         Run every step again (results still go to the cache)
      --network MODE     Network for RUN: none (default) or host
  -q, --quiet            Print only the image id (RUN output only when a step fails)
`;

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['file', 'target', 'network'], multi: ['tag', 'build-arg'], boolean: ['no-cache', 'quiet'], alias: { f: 'file', t: 'tag', q: 'quiet' } }, 'build');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'build');
  const contextDir = p._[0]!;
  if (contextDir === '-') throw new UsageError('bale build: a context read from stdin is not supported; give a directory');
  if (/^[a-z]+:\/\//i.test(contextDir) || contextDir.startsWith('git@')) throw new BaleError(`bale build: ${contextDir}: bale builds offline from a local directory`);
  if (!statSync(contextDir, { throwIfNoEntry: false })?.isDirectory()) throw new BaleError(`bale build: ${contextDir}: no such directory`);
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
  const quiet = Boolean(p['quiet']);
  const dockerfile = readDockerfile(typeof p['file'] === 'string' && p['file'] !== '' ? String(p['file']) : path.join(contextDir, 'Dockerfile'));
  requireRoot('build');

  const store = await Store.open();
  // Quiet: RUN output goes to a file, shown only when the build fails.
  const logFile = quiet ? path.join(os.tmpdir(), uniqueName('bale-build')) : undefined;
  const fd = logFile ? openSync(logFile, 'w', 0o600) : undefined;
  try {
    const rec = await buildImage(store, {
      contextDir,
      dockerfile,
      tags,
      buildArgs,
      target: typeof p['target'] === 'string' && p['target'] !== '' ? String(p['target']) : undefined,
      noCache: Boolean(p['no-cache']),
      net: network,
      epoch,
      log: (line) => {
        if (!quiet) process.stdout.write(line + '\n');
      },
      runOutput: fd ?? 'inherit',
    }).catch((e: unknown) => {
      if (logFile) process.stderr.write(readFileSync(logFile, 'utf8'));
      throw e;
    });
    if (quiet) process.stdout.write(`${rec.id}\n`);
    else {
      process.stdout.write(`Successfully built ${shortId(rec.id)}\n`);
      for (const t of tags) process.stdout.write(`Successfully tagged ${t}\n`);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (logFile) rmSync(logFile, { force: true });
  }
  return 0;
}
