// Names inside a layer tar: cleaning, and refusing the ones that climb out of the root.
/**
 * Clean a tar entry name (or hardlink target) into a relative path inside the root: leading `/` and
 * `./` dropped, `.` and empty components removed, `..` resolved. A name that climbs above the root
 * is refused. Returns '' for the root itself.
 */
const ANY_UNCLEAN = /(^|\/)\.{0,2}(\/|$)/;

/** `what` for an error message (a function when making the text costs more than the check). */
function describe(what: string | (() => string)): string {
  return typeof what === 'string' ? what : what();
}

export function cleanEntryPath(name: string, what: string | (() => string) = 'entry'): string {
  if (name.includes('\0')) throw new Error(`${describe(what)} ${JSON.stringify(name)}: NUL in path`);
  // Already clean (no leading or trailing slash, no empty, `.` or `..` component): as it is.
  if (!ANY_UNCLEAN.test(name)) return name;
  // The common unclean form, `./name` as `tar -C dir .` writes it: the rest may be clean.
  if (name.startsWith('./')) {
    const rest = name.slice(2);
    if (rest !== '' && !ANY_UNCLEAN.test(rest)) return rest;
  }
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) throw new Error(`${describe(what)} ${JSON.stringify(name)}: path traversal (climbs out of the layer root)`);
      parts.pop();
      continue;
    }
    parts.push(p);
  }
  return parts.join('/');
}
