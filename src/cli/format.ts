// --format for listing verbs (images, ps, history, volume ls...): `table` (the verb's default
// columns), `json` (one object per line, docker's field names), `table TEMPLATE` (a header from the
// same template, columns aligned as docker's), or any other Go template, one line per row.
import { compileTemplate, ESCAPE_HTML, goJson } from './template.js';
import { tabulate } from './output.js';

export interface Listing {
  /** The default table, as a template: 'table {{.ID}}\t{{.Image}}'. */
  table: string;
  /** Column headers by field name; a field not named here is headed by its name in capitals. */
  headers: Record<string, string>;
}

/** The help line every listing verb shows for --format. */
export const FORMAT_HELP = "table (default), json (one object per line), or a Go template: 'table {{.ID}}\\t{{.Size}}'";

/** Rows are objects of strings with docker's field names; keys are printed sorted in json, as docker does. */
export function renderRows(plain: object[], format: string | undefined, l: Listing): string {
  const rows = plain.map((r) => Object.defineProperty({ ...r }, ESCAPE_HTML, { value: true, enumerable: false }));
  const f = format === undefined || format === '' || format === 'table' ? l.table : format;
  if (f === 'json') {
    return rows.map((r) => goJson(r) + '\n').join('');
  }
  const table = /^table(\s|$)/.test(f);
  const tpl = compileTemplate(table ? f.replace(/^table\s*/, '') : f);
  const lines = rows.map((r) => tpl.render(r, true));
  if (!table) return lines.map((s) => s + '\n').join('');
  const fields = rows[0] ? Object.keys(rows[0]) : Object.keys(l.headers);
  const header = Object.fromEntries(fields.map((k) => [k, l.headers[k] ?? k.toUpperCase()]));
  return tabulate([tpl.render(header), ...lines].flatMap((s) => s.split('\n')));
}

export function printRows(rows: object[], format: string | undefined, l: Listing): void {
  process.stdout.write(renderRows(rows, format, l));
}
