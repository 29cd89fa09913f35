// Names inside a layer tar: cleaning, and refusing the ones that climb out of the root.
import path from 'node:path';

/**
 * Clean a tar entry name (or hardlink target) into a relative path inside the root: leading `/` and
 * `./` dropped, `.` and empty components removed, `..` resolved. A name that climbs above the root
 * is refused. Returns '' for the root itself.
 */
export function cleanEntryPath(name: string, what = 'entry'): string {
  if (name.includes('\0')) throw new Error(`${what} ${JSON.stringify(name)}: NUL in path`);
  // Directory entries end in '/', which normalize keeps: drop it, a name is the same without it.
  const norm = path.posix.normalize('/' + name).replace(/(.)\/+$/, '$1');
  // normalize('/' + x) can never climb above '/', so compare against a naive resolution instead.
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) throw new Error(`${what} ${JSON.stringify(name)}: path traversal (climbs out of the layer root)`);
      parts.pop();
      continue;
    }
    parts.push(p);
  }
  const out = parts.join('/');
  if ('/' + out !== norm && !(out === '' && norm === '/')) {
    throw new Error(`${what} ${JSON.stringify(name)}: path does not normalise cleanly`);
  }
  return out;
}
