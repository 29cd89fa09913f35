// Which containers docker's `ps --filter` keys select: id, name, label, status, exited, ancestor, before, since.
import type { Store } from '../store/store.js';
import { BaleError, UsageError } from '../util/errors.js';
import { labelsMatch, type Filters } from '../util/filters.js';
import { findContainer, type ContainerRecord } from './container.js';

export const CONTAINER_FILTERS = ['id', 'name', 'label', 'status', 'exited', 'ancestor', 'before', 'since'] as const;
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** Filters on status or exit code look at stopped containers too, as if -a were given. */
export function filtersWantAll(f: Filters): boolean {
  return f.has('status') || f.has('exited');
}

export async function containerFilter(store: Store, f: Filters): Promise<(c: ContainerRecord) => boolean> {
  for (const s of f.get('status') ?? []) if (!STATUSES.includes(s)) throw new UsageError(`invalid filter 'status=${s}' (one of ${STATUSES.join(', ')})`);
  for (const e of f.get('exited') ?? []) if (!/^-?\d+$/.test(e)) throw new UsageError(`invalid filter 'exited=${e}': takes an exit code`);
  const createdOf = async (ref: string) => (await findContainer(store, ref)).created;
  const before = await Promise.all((f.get('before') ?? []).map(createdOf));
  const since = await Promise.all((f.get('since') ?? []).map(createdOf));
  const ancestors = await Promise.all(
    (f.get('ancestor') ?? []).map(async (ref) => {
      const rec = await store.tryResolve(ref);
      if (!rec) throw new BaleError(`No such image: ${ref}`);
      return rec.id;
    }),
  );
  const names = (f.get('name') ?? []).map((n) => new RegExp(n));
  const any = <T>(k: string, vs: T[], ok: (v: T) => boolean) => !f.has(k) || vs.some(ok);
  return (c) =>
    any('id', f.get('id') ?? [], (v) => c.id.startsWith(v)) &&
    any('name', names, (re) => re.test(c.name)) &&
    labelsMatch(f.get('label'), (c as { labels?: Record<string, string> }).labels ?? {}) &&
    any('status', f.get('status') ?? [], (s) => s === c.state.status) &&
    any('exited', f.get('exited') ?? [], (e) => c.state.status === 'exited' && c.state.exitCode === Number(e)) &&
    any('ancestor', ancestors, (id) => c.image === id) &&
    before.every((t) => c.created < t) &&
    since.every((t) => c.created > t);
}
