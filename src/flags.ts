/**
 * Flag values read one way for every command, the CLI's (commander) and the
 * worker bundle's (parseArgs): each bad value a UserError naming the flag,
 * what was expected and what was found (exit 2).
 */
import { UserError } from './errors.js';
import type { ConcurrencySetting } from './spec/concurrency.js';
import type { RerunMode } from './worker/todo.js';

/** A positive integer; `orAuto` only changes the wording of the message (the caller handles 'auto'). */
export function positiveIntFlag(flag: string, value: string, orAuto = false): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UserError('FLAG_INVALID', `${flag}: expected a positive integer${orAuto ? " or 'auto'" : ''}, found ${JSON.stringify(value)}`);
  }
  return n;
}

/** `--concurrency N|auto`. */
export function concurrencyFlag(value: string): ConcurrencySetting {
  return value === 'auto' ? 'auto' : positiveIntFlag('--concurrency', value, true);
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

/** Seconds as a number (may be fractional), at least `min`. */
export function secondsFlag(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new UserError('FLAG_INVALID', `${flag}: expected a number of seconds >= ${min}, found ${JSON.stringify(value)}`);
  return n;
}
