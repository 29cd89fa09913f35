// docker's --env-file: one variable a line, `K=V` (V taken as is, quotes included), `K` alone takes
// the host's value (dropped when the host has none), `#` starts a comment line, blank lines skipped,
// leading whitespace ignored.
import { promises as fsp } from 'node:fs';
import { BaleError } from '../util/errors.js';

export function parseEnvFile(text: string, file: string, hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === '') throw new BaleError(`${file}: no variable name on line '${raw}'`);
    if (/\s/.test(key)) throw new BaleError(`${file}: variable '${key}' contains whitespaces (line ${i + 1})`);
    if (eq >= 0) out.push(line);
    else if (hostEnv[key] !== undefined) out.push(`${key}=${hostEnv[key]}`);
  });
  return out;
}

/** The variables of every --env-file, in order (later files and -e flags override earlier ones). */
export async function readEnvFiles(files: string[], hostEnv: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    let buf: Buffer;
    try {
      buf = await fsp.readFile(f);
    } catch (e) {
      throw new BaleError(`open ${f}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
    }
    const text = new TextDecoder('utf-8', { fatal: true });
    let s: string;
    try {
      s = text.decode(buf);
    } catch {
      throw new BaleError(`env file ${f} contains invalid utf8 bytes`);
    }
    out.push(...parseEnvFile(s, f, hostEnv));
  }
  return out;
}
