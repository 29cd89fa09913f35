// Runs every compiled test file (dist/test/**/*.test.js) in its own process with uvu, sums the
// results and ends with the line CI reads: "N passed, N failed". Exit code 1 on any failure.
// Usage: node test/run.mjs [substring ...]   (only files whose path contains one of the substrings)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = 'dist/test';
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const n of readdirSync(dir).sort()) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.test.js') && (filters.length === 0 || filters.some((f) => p.includes(f)))) files.push(p);
  }
})(root);

const perFileTimeoutMs = Number(process.env.BALE_TEST_TIMEOUT_MS || 15 * 60 * 1000);
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

for (const file of files) {
  const started = Date.now();
  const { code, out } = await new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let out = '';
    child.stdout.on('data', (b) => { out += b; process.stdout.write(b); });
    child.stderr.on('data', (b) => { out += b; process.stderr.write(b); });
    const timer = setTimeout(() => { out += `\n${file}: timed out after ${perFileTimeoutMs} ms\n`; child.kill('SIGKILL'); }, perFileTimeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
  const num = (label) => {
    const m = out.match(new RegExp(`${label}:\\s+(\\d+)`));
    return m ? Number(m[1]) : 0;
  };
  const total = num('Total');
  const p = num('Passed');
  const s = num('Skipped');
  let f = total - p - s;
  if (code !== 0 && f === 0) f = 1; // crashed before or after its tests: count the file as a failure
  passed += p;
  failed += f;
  skipped += s;
  if (f > 0) failures.push(file);
  process.stdout.write(`-- ${file}: ${p} passed, ${f} failed (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

if (files.length === 0) {
  process.stdout.write('no test files found\n');
  failed = 1;
}
if (failures.length) process.stdout.write(`failing files:\n${failures.map((f) => `  ${f}`).join('\n')}\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 ? 1 : 0);
