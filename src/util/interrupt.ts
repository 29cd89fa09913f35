// What to undo when bale is interrupted (SIGINT, SIGTERM, SIGHUP) in the middle of a write: each
// registered function removes a partial file, synchronously, before bale exits 128+N. Handlers are
// installed only while something is registered, so verbs that pass signals on (run, start) keep
// theirs.
import { constants } from 'node:os';

const pending = new Set<() => void>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onSignal(sig: NodeJS.Signals): void {
  for (const fn of pending) {
    try {
      fn();
    } catch {
      // best effort: the next gc removes what is left
    }
  }
  process.exit(128 + constants.signals[sig]);
}

/** Run `undo` if bale is interrupted before the returned function is called. */
export function onInterrupt(undo: () => void): () => void {
  if (pending.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  pending.add(undo);
  return () => {
    if (!pending.delete(undo) || pending.size > 0) return;
    for (const s of SIGNALS) process.off(s, onSignal);
  };
}
