// bale tag: another name for an image.
import { Store } from '../../store/store.js';
import { canonicalTag } from '../../oci/reference.js';
import { UsageError } from '../../util/errors.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  summary: `Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE (a tag or an image id). A tag that already
exists is moved to the new image.`,
  operands: 'image',
  options: [
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, {}, 'tag');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 2, 2, 'tag');
  let target: string;
  try {
    target = canonicalTag(p._[1]!);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}`);
  }
  const store = await Store.open();
  await store.transaction(async () => {
    const rec = await store.resolve(p._[0]!);
    await store.setTags(rec.id, [target]);
  });
  return 0;
}
