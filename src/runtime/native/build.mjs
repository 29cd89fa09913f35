// Builds the container init helper (src/runtime/native/*.c) with the system C compiler into dist/native/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

const srcDir = 'src/runtime/native';
if (existsSync(srcDir)) {
  mkdirSync('dist/native', { recursive: true });
  for (const f of readdirSync(srcDir).filter((n) => n.endsWith('.c'))) {
    const out = path.join('dist/native', f.replace(/\.c$/, ''));
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, path.join(srcDir, f)], { stdio: 'inherit' });
  }
}
