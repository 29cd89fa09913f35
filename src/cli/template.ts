// The small part of Go templates people pass to `inspect -f`: `{{.A.B}}`, `{{json .A}}`, `{{index .M "k"}}`.
import { UsageError } from '../util/errors.js';

function lookup(root: unknown, path: string): unknown {
  if (path === '.') return root;
  let cur: unknown = root;
  for (const key of path.replace(/^\./, '').split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Go's fmt %v for the values JSON can hold: [a b], map[k:v], <nil>. */
function goString(v: unknown): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${goString(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

export function renderTemplate(tpl: string, data: unknown): string {
  return tpl.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
    let m: RegExpExecArray | null;
    if ((m = /^json\s+(\.\S*)$/.exec(expr))) return JSON.stringify(lookup(data, m[1]!) ?? null);
    if ((m = /^index\s+(\.\S*)\s+"([^"]*)"$/.exec(expr))) {
      const obj = lookup(data, m[1]!);
      return goString(obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[m[2]!] : undefined);
    }
    if ((m = /^(\.\S*)$/.exec(expr))) return goString(lookup(data, m[1]!));
    throw new UsageError(`unsupported template expression {{${expr}}} (supported: {{.Field}}, {{json .Field}}, {{index .Map "key"}})`);
  });
}
