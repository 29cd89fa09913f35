// Where the store lives on disk.
import os from 'node:os';
import path from 'node:path';

export function defaultRoot(): string {
  const env = process.env['BALE_ROOT'];
  if (env) return path.resolve(env);
  if (process.getuid?.() === 0) return '/var/lib/bale';
  const xdg = process.env['XDG_DATA_HOME'] || path.join(os.homedir(), '.local', 'share');
  return path.join(xdg, 'bale');
}
