// Image references: `name[:tag][@sha256:…]`, normalised the way docker shows them.
import { isDigest, type Digest } from './digest.js';

export interface Reference {
  /** Repository name in familiar form: `busybox`, `example.com:5000/team/app`. */
  name: string;
  tag?: string;
  digest?: Digest;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?|\\[[0-9a-fA-F:]+\\](?::[0-9]+)?)';
const NAME_RE = new RegExp(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;

/** Parse a reference; throws a one-line error when it is not one. */
export function parseReference(input: string): Reference {
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new Error(`invalid reference ${JSON.stringify(input)}: bad digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new Error(`invalid reference ${JSON.stringify(input)}: bad tag`);
  }
  if (!NAME_RE.test(rest) || rest.length > 255) {
    throw new Error(`invalid reference ${JSON.stringify(input)}: repository names are lowercase letters, digits and separators`);
  }
  return { name: familiarName(rest), tag, digest };
}

/** `docker.io/library/busybox` → `busybox`; `docker.io/x/y` → `x/y`. */
export function familiarName(name: string): string {
  for (const prefix of ['docker.io/library/', 'index.docker.io/library/', 'docker.io/', 'index.docker.io/']) {
    if (name.startsWith(prefix)) {
      const rest = name.slice(prefix.length);
      // `docker.io/library/a/b` keeps `library/a/b`
      return prefix.endsWith('library/') && rest.includes('/') ? `library/${rest}` : rest;
    }
  }
  return name;
}

/** The fully qualified name docker and podman use in OCI annotations: `docker.io/library/busybox`. */
export function qualifiedName(name: string): string {
  const first = name.split('/')[0]!;
  const hasDomain = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return name;
  return name.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
}

/** A tag reference in the store's canonical form, `name:tag` (tag defaults to latest). */
export function canonicalTag(input: string): string {
  const r = parseReference(input);
  if (r.digest && !r.tag) throw new Error(`${input}: a tag is needed here, not a digest`);
  return `${r.name}:${r.tag ?? 'latest'}`;
}


/** A reference to an image in a registry: `REGISTRY/REPO[:TAG|@DIGEST]`. */
export interface RemoteReference {
  /** `host[:port]` as given (never docker.io: bale talks to registries it is pointed at). */
  registry: string;
  /** The repository path inside that registry: `team/app`. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** Parse `REGISTRY/REPO[:TAG|@DIGEST]`; the first part must be a host (it has a `.` or `:`, or is `localhost`). */
export function parseRemote(input: string): RemoteReference {
  const r = parseReference(input);
  const slash = r.name.indexOf('/');
  const host = slash > 0 ? r.name.slice(0, slash) : '';
  if (!host || !(host.includes('.') || host.includes(':') || host === 'localhost')) {
    throw new Error(`${input}: name a registry first (REGISTRY/REPOSITORY[:TAG], e.g. localhost:5000/app:1)`);
  }
  return { registry: host, repository: r.name.slice(slash + 1), tag: r.digest ? r.tag : r.tag ?? 'latest', digest: r.digest };
}

/** `REGISTRY/REPO:TAG` or `REGISTRY/REPO@DIGEST` back as a string. */
export function formatRemote(r: RemoteReference): string {
  return `${r.registry}/${r.repository}${r.digest ? `@${r.digest}` : `:${r.tag ?? 'latest'}`}`;
}
