// bale pull: an image from a registry into the store.
import { Store } from '../../store/store.js';
import { formatRemote, parseRemote, type RemoteReference } from '../../oci/reference.js';
import { hostPlatform, loadArchive } from '../../archive/load.js';
import { scanRegistry } from '../../archive/registry-source.js';
import { parsePlatform } from '../../oci/platform.js';
import { recordRepoBlobs } from '../../store/remotes.js';
import { UsageError } from '../../util/errors.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { humanSize, Progress } from '../output.js';
import { REGISTRY_FLAGS, REGISTRY_HELP, registryClient } from '../registry-flags.js';

export const help = `Usage: bale pull [OPTIONS] REGISTRY/REPOSITORY[:TAG|@DIGEST]

Pull an image from a registry (OCI distribution API) into the store. Layers the store has are
not fetched; the rest come several at once. Every blob is checked against its digest and size,
and every layer entry by entry, as bale load checks an archive: on any error nothing is recorded.
Credentials come from bale login (docker's config.json).

Options:
      --platform P     Pick P (os/arch[/variant]) from a multi-platform image (default: this host)
      --all-platforms  Pull every platform of a multi-platform image and keep its index, so
                       bale push and bale save send the same index on (tags go to --platform's)
${REGISTRY_HELP}
  -q, --quiet          Print nothing but the reference
  -h, --help           Show this help
`;

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['quiet', 'all-platforms', ...REGISTRY_FLAGS.boolean], string: ['platform', ...REGISTRY_FLAGS.string], alias: { q: 'quiet' } }, 'pull');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'pull');
  let ref: RemoteReference;
  try {
    ref = parseRemote(p._[0]!);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
  const platform = p['platform'] ? parsePlatform(String(p['platform'])) : hostPlatform();
  const quiet = Boolean(p['quiet']);
  const allPlatforms = Boolean(p['all-platforms']);
  const say = (line: string) => {
    if (!quiet) process.stdout.write(`${line}\n`);
  };
  const store = await Store.open();
  const client = await registryClient(p, ref.registry);
  const progress = new Progress(quiet);
  say(`${ref.digest ?? ref.tag}: Pulling from ${ref.registry}/${ref.repository}`);
  let result;
  let top: string | undefined;
  try {
    result = await loadArchive(
      store,
      {
        scan: (o) => scanRegistry(client, ref, { ...platform, allPlatforms, have: (d) => store.hasBlob(d), onEvent: say, onTop: (d) => (top = d) }, o),
      },
      { label: formatRemote(ref), platform, allPlatforms, onProgress: (n) => progress.update(() => `Pulling ${formatRemote(ref)}: ${humanSize(n)}`) },
    );
  } finally {
    progress.done();
  }
  for (const img of result.images) {
    const rec = await store.image(img.id);
    if (rec) await recordRepoBlobs(store, ref.registry, ref.repository, [rec.config.digest, ...rec.layers.map((l) => l.digest)]);
  }
  // As docker: the digest the reference names (an index's, for a multi-platform image).
  if (top) say(`Digest: ${top}`);
  process.stdout.write(`${formatRemote(ref)}\n`);
  return 0;
}
