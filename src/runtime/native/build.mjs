// Builds bale's native parts with the system C compiler:
//   dist/native/bale-init   the container init helper: bale-init.c and every other *.c beside it (its
//                           modules: console, seccomp, mounts), linked with libseccomp when a module
//                           includes it
//   dist/native/flock.node  flock(2) for util/lock.ts (src/util/native/flock.c), a Node-API module
//                           built against the running Node's headers (<prefix>/include/node)
//   dist/native/xattr.node  every xattr of a file in one call, for layer/pack.ts
//                           (src/util/native/xattr.c), built the same way
//   dist/native/filecopy.node  a file's bytes copied into another at a position on the thread
//                           pool (copy_file_range), for export -o (src/util/native/filecopy.c)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const cc = (args) => execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', ...args], { stdio: 'inherit' });

const srcDir = 'src/runtime/native';
if (existsSync(srcDir)) {
  mkdirSync('dist/native', { recursive: true });
  const sources = readdirSync(srcDir).filter((n) => n.endsWith('.c')).sort().map((n) => path.join(srcDir, n));
  const libs = sources.some((f) => readFileSync(f, 'utf8').includes('#include <seccomp.h>')) ? ['-lseccomp'] : [];
  cc(['-o', 'dist/native/bale-init', ...sources, ...libs]);
}

const headers = path.join(path.dirname(process.execPath), '..', 'include', 'node');
if (!existsSync(path.join(headers, 'node_api.h'))) {
  process.stderr.write(`build: no Node-API header at ${headers}/node_api.h (Debian's nodejs package has it; so do the nodejs.org tarballs)\n`);
  process.exit(1);
}
for (const m of ['flock', 'xattr', 'filecopy']) cc(['-shared', '-fPIC', '-I', headers, '-o', `dist/native/${m}.node`, `src/util/native/${m}.c`]);
