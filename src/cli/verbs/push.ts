// bale push: an image of the store to a registry.
import { Store } from '../../store/store.js';
import { formatRemote, parseRemote, type RemoteReference } from '../../oci/reference.js';
import { pushImage } from '../../archive/registry-sink.js';
import { parsePlatform } from '../../oci/platform.js';
import { platformImage } from '../../store/whole-index.js';
import { UsageError } from '../../util/errors.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { REGISTRY_FLAGS, REGISTRY_HELP, registryClient } from '../registry-flags.js';

export const help = `Usage: bale push [OPTIONS] IMAGE [REGISTRY/REPOSITORY[:TAG]]

Push an image of the store to a registry (OCI distribution API). IMAGE may itself be
REGISTRY/REPOSITORY[:TAG]; else name the target. Blobs the registry has are skipped, blobs
another repository of that registry holds are mounted, the rest are uploaded in chunks
(resumed after a dropped connection), several at once. The manifest goes last, byte for
byte as stored, so the registry's digest is the one bale save and inspect show. An image
loaded or pulled with --all-platforms goes with its whole index: every platform's image,
then the index under the tag, with the index digest it came with; --platform sends one
platform's image of it alone, with that platform's manifest digest.
Credentials come from bale login (docker's config.json).

Options:
      --platform P     Push only P's (os/arch[/variant]) image of a multi-platform image, as a
                       single-platform image (IMAGE itself must be of P if it has no index)
${REGISTRY_HELP}
  -q, --quiet          Print only the digest
  -h, --help           Show this help
`;

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['quiet', ...REGISTRY_FLAGS.boolean], string: ['platform', ...REGISTRY_FLAGS.string], alias: { q: 'quiet' } }, 'push');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 2, 'push');
  const [image, dest] = [p._[0]!, p._[1] ?? p._[0]!];
  let ref: RemoteReference;
  try {
    ref = parseRemote(dest);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
  const platform = p['platform'] ? parsePlatform(String(p['platform'])) : undefined;
  const quiet = Boolean(p['quiet']);
  const store = await Store.open();
  const named = await store.resolve(image);
  const rec = platform ? await platformImage(store, named, platform, image) : named;
  const client = await registryClient(p, ref.registry);
  const say = (line: string) => {
    if (!quiet) process.stdout.write(`${line}\n`);
  };
  say(`The push refers to repository [${ref.registry}/${ref.repository}]`);
  // rmi and gc wait while the blobs are read.
  const lock = await store.writerLock();
  try {
    const top = await pushImage(store, rec, client, ref, { onEvent: say, alone: Boolean(platform) });
    if (quiet) process.stdout.write(`${top.digest}\n`);
    else say(`${ref.digest ? formatRemote(ref) : ref.tag}: digest: ${top.digest} size: ${top.size}`);
  } finally {
    await lock.release();
  }
  return 0;
}
