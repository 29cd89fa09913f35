// Man pages, written at build time (`node dist/src/cli/man.js DIR`) from the verb catalog: bale(1)
// and one bale-VERB(1) per verb (bale-image-prune(1) for two-word verbs), from the same help data
// that `bale VERB --help` prints.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { catalog, type VerbEntry } from './catalog.js';
import { renderMan, type Help } from './help.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export const pageName = (e: VerbEntry) => `bale-${e.words.join('-')}`;

/** bale(1): the verbs, each pointing at its own page, and what the environment changes. */
function mainPage(entries: VerbEntry[]): Help {
  const top = entries.filter((e) => e.words.length === 1);
  const width = Math.max(...top.map((e) => e.words[0]!.length));
  return {
    usage: 'bale VERB [OPTIONS] [ARGS]',
    summary: `Container images on hosts with no registry and no daemon: load and save archives (Docker archive and
OCI layout), export, import, squash, commit and diff, and run images in containers with a built-in
launcher.

Verbs (see bale-VERB(1) for each):

${top.map((e) => `  ${e.words[0]!.padEnd(width)}  ${e.summary}`).join('\n')}`,
    options: [
      { flags: '-h, --help', text: 'Show the verbs; bale VERB --help shows a verb\'s options' },
      { flags: '-v, --version', text: 'Print bale\'s version' },
    ],
    notes: `Environment: BALE_ROOT is the store (default /var/lib/bale for root, else $XDG_DATA_HOME/bale);
NO_COLOR turns colour off (colour is only ever used on a terminal); BALE_DEBUG prints stack traces.

Rootless: a normal user's bale runs the verbs that unpack layers or touch containers as root of a
user namespace of its store (its uid is 0 there, its /etc/subuid and /etc/subgid ranges the other
ids, through newuidmap and newgidmap), held by a pause process recorded in the store's
locks/userns.pid; image verbs (load, save, push, pull, images, inspect, tag, rmi...) run on the host.
Containers get no cgroups there. Their root is mounted with overlayfs, else with fuse-overlayfs
(kernels before 5.11); BALE_OVERLAY=overlay or fuse-overlayfs chooses one.

Exit codes: 0 success, 1 failure, 2 usage error, 125 bale's own failure around a container; bale run
exits with the container's code.`,
  };
}

export async function writeManPages(dir: string): Promise<string[]> {
  const entries = await catalog();
  const v = version();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'bale.1'), renderMan('bale', 'container images on hosts with no registry', mainPage(entries), v));
  for (const e of entries) writeFileSync(path.join(dir, `${pageName(e)}.1`), renderMan(pageName(e), e.summary, e.help, v));
  return readdirSync(dir).sort();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await writeManPages(process.argv[2] ?? 'dist/man');
}
