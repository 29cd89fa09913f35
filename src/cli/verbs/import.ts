// bale import: a tar (plain, gzip, zstd), a directory or stdin → a one-layer image.
import { applyChanges } from '../../image/change.js';
import { createImage, historyEntry, hostArchitecture } from '../../image/create.js';
import { importLayer } from '../../image/source.js';
import type { Compression } from '../../oci/media.js';
import { canonicalTag } from '../../oci/reference.js';
import { parsePlatform } from '../../oci/platform.js';
import type { ImageConfig } from '../../oci/types.js';
import { Store } from '../../store/store.js';
import { UsageError } from '../../util/errors.js';
import { humanSize, Progress } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale import [OPTIONS] FILE|DIR|- [REPOSITORY[:TAG]]',
  summary: `Create an image with one layer from a tar file (plain, gzip or zstd), a directory,
or a tar on stdin (-). Paths that climb out of the root are refused. A clean tar is
kept byte for byte (its diff_id is its sha256, as with docker import); one with names
to clean (./, /, a root entry) or overlay xattrs is rewritten. Prints the new image id.`,
  operands: 'file',
  options: [
    { flags: '-c, --change', arg: 'INSTR', text: 'Apply a Dockerfile instruction to the config (repeatable): CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR' },
    { flags: '-m, --message', arg: 'MSG', text: 'History comment (default "Imported from SOURCE")' },
    { flags: '--compress', arg: 'ALG', text: 'Store the layer as none (default), gzip or zstd', values: ['none', 'gzip', 'zstd'] },
    { flags: '--platform', arg: 'OS/ARCH', text: 'Platform to record (default linux/<this host>)' },
    { flags: '-q, --quiet', text: 'No progress (progress only shows on a terminal)' },
  ],
};

export function parseCompression(v: unknown, verb: string): Compression {
  if (v === undefined || v === '' || v === 'none') return 'none';
  if (v === 'gzip' || v === 'zstd') return v;
  throw new UsageError(`--compress takes none, gzip or zstd, not ${JSON.stringify(v)}`);
}

/** Progress of a layer being written (bytes of tar so far), on a terminal only. */
export function layerProgress(label: string, quiet: boolean): { update: (n: number) => void; done: () => void } {
  const p = new Progress(quiet);
  return { update: (n) => p.update(`${label}: ${humanSize(n)}`), done: () => p.done() };
}

export function parseTag(ref: string | undefined, verb: string): string[] {
  if (ref === undefined) return [];
  try {
    return [canonicalTag(ref)];
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['message', 'compress', 'platform'], multi: ['change'], boolean: ['quiet'], alias: { c: 'change', m: 'message', q: 'quiet' } }, 'import');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 2, 'import');
  const [src, ref] = p._ as [string, string | undefined];
  const tags = parseTag(ref, 'import');
  const compression = parseCompression(p['compress'], 'import');
  const { os, architecture, variant } = p['platform'] ? parsePlatform(String(p['platform'])) : { os: 'linux', architecture: hostArchitecture(), variant: undefined };
  // Every change is checked before anything is written.
  const runConfig = applyChanges({}, p['change'] as string[]);
  const message = typeof p['message'] === 'string' && p['message'] !== '' ? p['message'] : `Imported from ${src}`;

  const store = await Store.open();
  const lock = await store.writerLock();
  try {
    const progress = layerProgress(`importing ${src}`, Boolean(p['quiet']));
    const layer = await importLayer(store, src, compression, progress.update).finally(progress.done);
    const created = new Date().toISOString();
    const config: ImageConfig = {
      created,
      architecture,
      os,
      ...(variant ? { variant } : {}),
      config: runConfig,
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [historyEntry({ comment: message }, created)],
    };
    const rec = await createImage(store, { config, layers: [layer], tags });
    process.stdout.write(`${rec.id}\n`);
  } finally {
    await lock.release();
  }
  return 0;
}
