/** Flag parsing shared by the commands: repeatable values, --rerun, positive integers. */
import { UserError } from '../errors.js';
import type { RerunMode } from '../worker/todo.js';

/** Commander collector for a repeatable option (`--only a=1 --only b=2`). */
export function collectValues(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--rerun errors|skipped|all`; `--no-retry-errors` is `none`. */
export function rerunFlag(value: string | undefined, retryErrors = true): RerunMode {
  if (value === undefined) return retryErrors ? 'errors' : 'none';
  if (value === 'errors' || value === 'skipped' || value === 'all') {
    if (!retryErrors) throw new UserError('FLAG_INVALID', `--rerun ${value} and --no-retry-errors: expected one of them, found both`);
    return value;
  }
  throw new UserError('FLAG_INVALID', `--rerun: expected errors, skipped or all, found ${JSON.stringify(value)}`);
}

/** A positive integer flag value, or a UserError naming the flag. */
export function positiveIntFlag(flag: string, value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UserError('FLAG_INVALID', `${flag}: expected a positive integer, found ${JSON.stringify(value)}`);
  return n;
}

/** Seconds as a number flag (may be fractional), at least `min`. */
export function secondsFlag(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new UserError('FLAG_INVALID', `${flag}: expected a number of seconds >= ${min}, found ${JSON.stringify(value)}`);
  return n;
}
