/** Flag parsing shared by the commands: repeatable values, --rerun, positive integers. */
import { UserError } from '../errors.js';

/** Commander collector for a repeatable option (`--only a=1 --only b=2`). */
export function collectValues(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export { rerunFlag } from '../worker/command.js';

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
