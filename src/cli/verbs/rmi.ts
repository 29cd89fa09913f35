// bale rmi: untag images, and delete those left with no tag (shared blobs stay while used).
import { Store } from '../../store/store.js';
import { canonicalTag } from '../../oci/reference.js';
import { listContainers } from '../../runtime/container.js';
import { BaleError } from '../../util/errors.js';
import { printError } from '../output.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale rmi [OPTIONS] IMAGE [IMAGE...]',
  summary: `Remove images. Naming a tag removes that tag, and the image too once no tag is left. Naming an
image id removes the image (with --force if it has several tags). Layers another image uses are
kept: blobs are reference-counted.`,
  operands: 'image',
  options: [
    { flags: '-f, --force', text: 'Remove an image with several tags, or one that containers use' },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { boolean: ['force'], alias: { f: 'force' } }, 'rmi');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'rmi');
  const force = Boolean(p['force']);
  const store = await Store.open();
  let failed = 0;
  for (const name of p._) {
    try {
      const rec = await store.resolve(name);
      const tags = await store.tagsOf(rec.id);
      let byTag: string | undefined;
      try {
        const t = canonicalTag(name);
        if (tags.includes(t)) byTag = t;
      } catch {
        byTag = undefined;
      }
      const users = (await listContainers(store)).filter((c) => c.image === rec.id);
      if (byTag && tags.length > 1) {
        await store.transaction(() => store.removeTags([byTag!]));
        process.stdout.write(`Untagged: ${byTag}\n`);
        continue;
      }
      if (!byTag && tags.length > 1 && !force) {
        throw new BaleError(`conflict: unable to delete ${name} (must be forced): image is tagged ${tags.join(', ')}`);
      }
      if (users.length && !force) {
        throw new BaleError(`conflict: unable to delete ${name}: container ${users[0]!.name} (${users[0]!.id.slice(0, 12)}) uses it (rm it first, or --force)`);
      }
      const res = await store.deleteImage(rec.id);
      for (const t of res.untagged) process.stdout.write(`Untagged: ${t}\n`);
      process.stdout.write(`Deleted: ${rec.id}\n`);
    } catch (e) {
      failed++;
      printError(e);
    }
  }
  return failed ? 1 : 0;
}
