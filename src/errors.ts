/**
 * The error vocabulary. A `UserError` is the user's to fix (bad spec, bad flag,
 * unreachable host): it prints its message and exits 2. `WorkFailed` means the
 * tool ran correctly but the work did not finish cleanly (errors remain, results
 * incomplete): exit 1. Anything else is a bug and prints its stack.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  /** A stable machine-readable code, e.g. `SPEC_INVALID`, `LOCK_HELD`. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export class WorkFailed extends Error {
  override readonly name = 'WorkFailed';
  constructor(message: string) {
    super(message);
  }
}

export const EXIT_OK = 0;
export const EXIT_WORK_FAILED = 1;
export const EXIT_USAGE = 2;

/**
 * The exit code for an error, after printing it: a UserError's message and 2,
 * WorkFailed's and 1, anything else is a bug and prints its stack (1).
 */
export function exitCodeForError(err: unknown, stderr: (text: string) => void): number {
  if (err instanceof UserError) {
    stderr(`sweep: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof WorkFailed) {
    stderr(`sweep: ${err.message}\n`);
    return EXIT_WORK_FAILED;
  }
  const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
  stderr(`sweep: internal error (a bug; please report it):\n${stack}\n`);
  return EXIT_WORK_FAILED;
}
