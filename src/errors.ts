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
