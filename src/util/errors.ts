// Errors bale reports to users: one line, and the exit code it maps to.
export class BaleError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'BaleError';
  }
}

/** A user error in how bale was called (exit code 2, like docker's usage errors are distinct). */
export class UsageError extends BaleError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** One line for a user, whatever was thrown. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}
