// Legacy (v1) layer ids and their `<id>/json` documents for the Docker archive's per-layer dirs.
//
// Docker image spec v1.2 names every layer of an image by a v1 id and gives each a dir with
// `VERSION` ("1.0"), `json` (a v1 image json: id, parent, created, container_config, and on the
// top layer the image's config) and `layer.tar`. Docker derived those ids from a hash of the v1
// json; bale derives them so that they depend only on what the layer *is* in its stack:
//
//   lower layer i:  id = sha256( {"chain_id":"<chain id of layer i>","parent":"<v1 id of i-1>"} )
//   top layer:      id = sha256( {"chain_id":…,"parent":…,"config":"<image config digest>"} )
//
// (compact JSON, keys in that order, no "parent" key on the bottom layer). So images sharing a
// stack of lower layers share those dirs, and every image's top dir is its own (its json holds the
// image's config). The json of a lower layer is a function of its id alone, which keeps the archive
// byte-identical whatever images are saved alongside.
import { createHash } from 'node:crypto';
import { chainIds } from '../oci/chain.js';
import type { Digest } from '../oci/digest.js';
import type { ImageConfig } from '../oci/types.js';

export interface V1Layer {
  /** 64 hex digits: the dir name. */
  id: string;
  /** The `<id>/json` document. */
  json: Buffer;
}

const EPOCH = '1970-01-01T00:00:00Z';

function hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The v1 layers of an image, bottom first (one per diff id). */
export function v1Layers(configDigest: Digest, config: ImageConfig): V1Layer[] {
  const diffIds = config.rootfs?.diff_ids ?? [];
  const chains = chainIds(diffIds);
  const out: V1Layer[] = [];
  let parent: string | undefined;
  chains.forEach((chain, i) => {
    const top = i === chains.length - 1;
    const key: Record<string, string> = { chain_id: chain };
    if (parent) key['parent'] = parent;
    if (top) key['config'] = configDigest;
    const id = hex(JSON.stringify(key));
    const doc: Record<string, unknown> = { id };
    if (parent) doc['parent'] = parent;
    doc['created'] = top ? config.created ?? EPOCH : EPOCH;
    doc['container_config'] = {};
    if (top) {
      if (config.author) doc['author'] = config.author;
      doc['config'] = config.config ?? {};
      doc['architecture'] = config.architecture;
      if (config.variant) doc['variant'] = config.variant;
      doc['os'] = config.os;
    }
    out.push({ id, json: Buffer.from(JSON.stringify(doc)) });
    parent = id;
  });
  return out;
}
