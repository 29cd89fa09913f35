// docker's --filter KEY=VALUE: parsed into values by key, and the matching rules every filter shares.
import { UsageError } from './errors.js';

/** Values by key. Values of one key are alternatives (any may match), except label (all must). */
export type Filters = Map<string, string[]>;

export function parseFilters(args: string[], keys: readonly string[], verb: string): Filters {
  const f: Filters = new Map();
  for (const a of args) {
    const i = a.indexOf('=');
    if (i <= 0) throw new UsageError(`bale ${verb}: bad format of filter ${JSON.stringify(a)} (expected name=value)`);
    const k = a.slice(0, i).toLowerCase();
    if (!keys.includes(k)) throw new UsageError(`bale ${verb}: invalid filter '${k}' (known: ${keys.join(', ')})`);
    f.set(k, [...(f.get(k) ?? []), a.slice(i + 1)]);
  }
  return f;
}

/** label=KEY or label=KEY=VALUE: every one given must hold. */
export function labelsMatch(values: string[] | undefined, labels: Record<string, string> | undefined): boolean {
  return (values ?? []).every((v) => {
    const i = v.indexOf('=');
    const [k, want] = i < 0 ? [v, undefined] : [v.slice(0, i), v.slice(i + 1)];
    return labels !== undefined && k in labels && (want === undefined || labels[k] === want);
  });
}

/** A yes/no filter value (dangling=true); anything else is a usage error. */
export function boolValue(key: string, v: string): boolean {
  if (/^(true|1)$/i.test(v)) return true;
  if (/^(false|0)$/i.test(v)) return false;
  throw new UsageError(`invalid filter '${key}=${v}': takes true or false`);
}

/** Go's path.Match for one pattern against a whole name: `*` and `?` stay within one `/` segment. */
export function globMatch(pattern: string, name: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) return false;
      const body = pattern.slice(i + 1, end);
      re += `[${body.startsWith('^') ? '^/' + body.slice(1) : body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(name);
}
