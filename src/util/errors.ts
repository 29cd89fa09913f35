// Errors bale reports to users: one line each, and the exit code it maps to. Every layer below the
// CLI throws these (or lets system errors through); cli/main.ts is the one place that turns any
// error into the line a user sees. The error being explained travels along as `cause`.
export class BaleError extends Error {
  /** An exit code this failure has whatever the verb (else cli/main.ts chooses: see exitCode()). */
  readonly exitCode?: number;
  constructor(message: string, opts: { exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BaleError';
    if (opts.exitCode !== undefined) this.exitCode = opts.exitCode;
  }
}

/** A user error in how bale was called (exit code 2, or 125 in the verbs that run containers). */
export class UsageError extends BaleError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A malformed input (archive, tar, JSON): the data is at fault, not the host. */
export class FormatError extends BaleError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts);
    this.name = 'FormatError';
  }
}

/** One line for a user, whatever was thrown. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}

/** `err` with `what` in front of its message, keeping its class and exit code; `err` becomes the cause. */
export function wrap(what: string, err: unknown): BaleError {
  const msg = oneLine(err);
  const line = msg.startsWith(what) ? msg : `${what}: ${msg}`;
  if (err instanceof UsageError) return new UsageError(line);
  if (err instanceof FormatError) return new FormatError(line, { cause: err });
  return new BaleError(line, { exitCode: err instanceof BaleError ? err.exitCode : undefined, cause: err });
}
