// Bundles dist/src (tsc's output) into dist/bundle/cli: CommonJS, one file per entry point (the CLI,
// and each worker thread's module), so a bale process reads and compiles one file, and Node builds
// no ESM facades for its builtins. Dependencies are bundled but for zstd-napi (CommonJS, a native
// addon). Modules that are imported dynamically (verbs, apply) still run only when imported.
//
// Then the V8 code cache bin/bale loads cli.js with (bin/bale says when it trusts one): made by
// running a few verbs (WARM_UPS, each in a process of its own that starts from the cache the one
// before left), as V8 caches the functions compiled by then. `node src/bundle.mjs --warm-up OUT
// ARGS...` is one of those processes. Built by root (who can run containers), the last warm-up is
// a real `bale run --rm` of the sample image, so the cache holds the launcher's own path too (its
// image is loaded and unpacked first by plain bale processes, whose functions stay out of it);
// the native helper must be built by then.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const bale = createRequire(import.meta.url)('../bin/bale');

/** The verbs whose start-up the cache covers: the listing, and a run's (its help loads its modules). */
const WARM_UPS = [['images'], ['run', '--help'], ['ps']];
/** Then, as root: a run, of this image (loaded from SAMPLE, and run once to unpack it, beforehand). */
const RUN_WARM_UP = ['run', '--rm', 'busybox', 'true'];
const SAMPLE = fileURLToPath(new URL('../samples/busybox.tar.gz', import.meta.url));
const BALE = fileURLToPath(new URL('../bin/bale', import.meta.url));

// fs-xattr (ESM only) loads its addon relative to its own module URL, which bundling would move:
// find the package from the bundle's place instead (Node's resolution, as an external would be).
const fsXattrAddon = {
  name: 'fs-xattr-addon',
  setup(b) {
    b.onLoad({ filter: /[\\/]fs-xattr[\\/]index\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const from = "createRequire(import.meta.url)('./build/Release/xattr')";
      if (!text.includes(from)) throw new Error(`${args.path}: its addon is no longer loaded as ${from}`);
      const to = "require(require('node:path').join(require('node:path').dirname(require.resolve('fs-xattr')), 'build/Release/xattr'))";
      return { contents: text.replace(from, to), loader: 'js' };
    });
  },
};

// `await import('node:fs')` (a builtin loaded only when needed) would stay an import() in CommonJS,
// which a vm.Script cannot run and which would start the ESM loader: make it a require().
const builtinImports = {
  name: 'builtin-imports',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, namespace: 'builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

async function bundle() {
  rmSync('dist/bundle', { recursive: true, force: true });
  await build({
    entryPoints: {
      cli: 'dist/src/cli.js',
      'unpack-worker': 'dist/src/store/unpack-worker.js',
      'examine-worker': 'dist/src/archive/examine-worker.js',
    },
    outdir: 'dist/bundle/cli',
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['zstd-napi', '*.node'],
    // import.meta.url in dist/src: the bundle's own file URL. The bundle sits as deep under dist/ as
    // dist/src's modules did, so their relative URLs (../../native/, package.json) still resolve.
    define: { 'import.meta.url': '__bale_module_url' },
    banner: { js: "var __bale_module_url = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [fsXattrAddon, builtinImports],
    logLevel: 'warning',
    logOverride: { 'require-resolve-not-external': 'silent' }, // fs-xattr's, above: resolved at run time on purpose
  });
  // dist/bundle's files are CommonJS whatever the package's type says.
  writeFileSync('dist/bundle/package.json', '{ "type": "commonjs" }\n');
}

/** Make bin/bale's cache: each warm-up writes a temp file, renamed into place once it succeeded. */
function warmUp() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bale-warm-up-'));
  const env = { ...process.env, BALE_ROOT: root, BALE_DEBUG: '' };
  const stdio = ['ignore', 'ignore', 'inherit'];
  try {
    const runs = process.getuid?.() === 0 && existsSync(SAMPLE);
    for (const args of [...WARM_UPS, ...(runs ? [RUN_WARM_UP] : [])]) {
      if (args === RUN_WARM_UP) {
        // plain bale processes, not warm-ups: a load and an unpacking are no part of a run's start
        for (const prep of [['load', '-q', '-i', SAMPLE], RUN_WARM_UP]) {
          const r = spawnSync(process.execPath, [BALE, ...prep], { env, stdio });
          if (r.status !== 0) return warmUpFailed(prep, r);
        }
      }
      const tmp = `${bale.CACHE}.${process.pid}.tmp`;
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--warm-up', tmp, ...args], { env, stdio });
      if (r.status !== 0) {
        rmSync(tmp, { force: true });
        return warmUpFailed(args, r);
      }
      chmodSync(tmp, 0o644);
      renameSync(tmp, bale.CACHE);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** bale works without the cache (or with what the warm-ups before left): say so, don't fail the build. */
function warmUpFailed(args, r) {
  process.stderr.write(`bundle: code cache warm-up \`bale ${args.join(' ')}\` failed (${r.status ?? r.signal}): the cache stops short of it\n`);
}

if (process.argv[2] === '--warm-up') {
  const out = process.argv[3];
  process.argv.splice(2, 2); // the bundle's argv: [node, this file, ...ARGS]
  const { script, stat } = bale.load();
  process.on('exit', () => {
    const payload = script.createCachedData();
    writeFileSync(out, Buffer.concat([Buffer.from(bale.header(stat, payload.length), 'latin1'), payload]), { mode: 0o644 });
  });
  bale.run(script);
} else {
  await bundle();
  warmUp();
}
