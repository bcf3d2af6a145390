/**
 * `worker.concurrency` read into a plan: a fixed number of queries in flight,
 * or the range `auto` seeks in (src/worker/autotune.ts). Kept apart from the
 * schema (zod) so the worker bundle, which needs these two functions, does not
 * load the spec validator.
 */

/** As the spec allows it: a number, `auto`, or auto within `{min, max}`. */
export type ConcurrencySetting = number | 'auto' | { min: number; max: number };

export type ConcurrencyPlan = { kind: 'fixed'; n: number } | { kind: 'auto'; min: number; max: number };

export function concurrencyPlan(c: ConcurrencySetting): ConcurrencyPlan {
  if (typeof c === 'number') return { kind: 'fixed', n: c };
  if (c === 'auto') return { kind: 'auto', min: 1, max: 32 };
  return { kind: 'auto', min: c.min, max: Math.max(c.min, c.max) };
}

/** The most queries a unit may have in flight (what the engine's socket pool is sized for). */
export function concurrencyCeiling(c: ConcurrencySetting): number {
  const p = concurrencyPlan(c);
  return p.kind === 'fixed' ? p.n : p.max;
}
