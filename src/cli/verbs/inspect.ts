// bale inspect: an image's (or container's) details as JSON, in the shape docker inspect prints.
import { Store, type ImageRecord } from '../../store/store.js';
import { findContainer } from '../../runtime/container.js';
import { hostConfig } from '../../runtime/security.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { printJson } from '../output.js';
import { renderTemplate } from '../template.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale inspect [OPTIONS] NAME|ID [NAME|ID...]',
  summary: `Show details of images or containers as a JSON array (docker inspect's fields: Id, RepoTags,
RepoDigests, Created, Config, Architecture, Os, Size, RootFS, History, Descriptor).`,
  operands: 'image',
  options: [
    { flags: '-f, --format', arg: 'T', text: 'Print each object through a template: {{.Config.Cmd}}, {{json .Config}}, {{index .Config.Labels "k"}}' },
    { flags: '--type', arg: 'T', text: 'image or container (default: image, then container)', values: ['image', 'container'] },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function imageDetails(store: Store, rec: ImageRecord): Promise<Record<string, unknown>> {
  const cfg = await store.config(rec);
  const tags = await store.tagsOf(rec.id);
  return {
    Id: rec.id,
    RepoTags: tags,
    // docker names digests here only for images pulled from or pushed to a registry, never for a
    // loaded, imported or committed one; bale has no registry.
    RepoDigests: [],
    Created: cfg.created ?? '',
    Author: cfg.author ?? '',
    Config: cfg.config ?? {},
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    Size: Store.imageSize(rec),
    RootFS: { Type: 'layers', Layers: rec.diffIds },
    History: cfg.history ?? [],
    Descriptor: rec.manifest,
    Layers: rec.layers,
    Metadata: { Added: rec.added },
  };
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['format', 'type'], alias: { f: 'format' } }, 'inspect');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'inspect');
  const type = p['type'] as string | undefined;
  if (type && type !== 'image' && type !== 'container') throw new UsageError(`--type takes image or container`);
  const store = await Store.open();
  const out: unknown[] = [];
  const errors: string[] = [];
  for (const name of p._) {
    try {
      let obj: unknown;
      if (type !== 'container') {
        const rec = await store.tryResolve(name);
        if (rec) obj = await imageDetails(store, rec);
      }
      if (obj === undefined && type !== 'image') {
        try {
          const rec = await findContainer(store, name);
          obj = { ...rec, HostConfig: hostConfig(rec.security) };
        } catch {
          obj = undefined;
        }
      }
      if (obj === undefined) throw new BaleError(`No such ${type ?? 'object'}: ${name}`);
      out.push(obj);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const tpl = p['format'] as string | undefined;
  if (tpl && tpl !== 'json') {
    for (const o of out) process.stdout.write(renderTemplate(tpl, o) + '\n');
  } else printJson(out);
  for (const e of errors) process.stderr.write(`bale: ${e}\n`);
  return errors.length ? 1 : 0;
}
