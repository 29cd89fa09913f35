// Builds the container init helper with the system C compiler into dist/native/bale-init: bale-init.c
// and every other *.c beside it (its modules: console, seccomp, mounts), linked with libseccomp when
// a module includes it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const srcDir = 'src/runtime/native';
if (existsSync(srcDir)) {
  mkdirSync('dist/native', { recursive: true });
  const sources = readdirSync(srcDir).filter((n) => n.endsWith('.c')).sort().map((n) => path.join(srcDir, n));
  const libs = sources.some((f) => readFileSync(f, 'utf8').includes('#include <seccomp.h>')) ? ['-lseccomp'] : [];
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', 'dist/native/bale-init', ...sources, ...libs], { stdio: 'inherit' });
}
