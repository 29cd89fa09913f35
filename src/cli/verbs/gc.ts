// bale gc: reclaim what nothing uses: blobs no image names, leftovers of interrupted writes.
import { Store } from '../../store/store.js';
import { collectLayers } from '../../store/layers.js';
import { sweepOutputs } from '../../store/outputs.js';
import { containerLayers } from '../../runtime/container.js';
import { clearBuildCache, pruneCache } from '../../image/build/cache.js';
import { pruneFilterCache } from '../../runtime/seccomp-cache.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { humanSize, outputFormat, printJson } from '../output.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale gc [OPTIONS]',
  summary: `Remove blobs that no image uses, unpacked layers that no image or container uses, and temp files
left by interrupted commands (a killed load, or the temp file of a killed save -o or
export -o beside its output), build-cache entries whose layers are gone, and compiled seccomp
filters no container uses. Waits for loads in progress. With --build-cache, also the whole build
cache: every cached step and every RUN --mount=type=cache directory (as docker builder prune -a).`,
  options: [
    { flags: '--build-cache', text: 'Also remove every build-cache entry and cache mount' },
    { flags: '-q, --quiet', text: 'Print nothing' },
    { flags: '--format', arg: 'F', text: 'table (default) or json', values: ['table', 'json'] },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['quiet', 'build-cache'], string: ['format'], alias: { q: 'quiet' } }, 'gc');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 0, 0, 'gc');
  const format = outputFormat(p['format'], 'gc');
  const store = await Store.open();
  let cleared: { entries: number; mounts: number } | undefined;
  if (p['build-cache']) {
    // first, so the layers only the cache named go with the blobs below
    const lock = await store.writerLock();
    try {
      cleared = await clearBuildCache(store);
    } finally {
      await lock.release();
    }
  }
  const blobs = await store.collect();
  blobs.tmp += await sweepOutputs(store);
  const { layers } = await collectLayers(store, () => containerLayers(store));
  // build-cache entries whose layers just went are misses from now on: drop them too
  await pruneCache(store);
  // compiled seccomp filters of no container's rules: made again by the next run that needs one
  await pruneFilterCache(store);
  const res = { ...blobs, layers, ...(cleared ? { buildCacheEntries: cleared.entries, cacheMounts: cleared.mounts } : {}) };
  if (format === 'json') printJson(res);
  else if (!p['quiet']) {
    const cache = cleared ? `, ${cleared.entries} build-cache entries, ${cleared.mounts} cache mounts` : '';
    process.stdout.write(`Removed ${res.blobs} blobs (${humanSize(res.bytes)}), ${res.layers} unpacked layers${cache} and ${res.tmp} temp files\n`);
  }
  return 0;
}
