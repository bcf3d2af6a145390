/**
 * Records per unit by status, counted while reading the merged results (the
 * manifest says how many configs each unit has, so what is missing follows).
 * Imports nothing: the report's reader threads load it.
 */
import type { AnyRecord } from '../results/record.js';

export interface StatusCounts {
  ok: number;
  skipped: number;
  error: number;
}

export function countStatus(perUnit: Map<string, StatusCounts>, r: AnyRecord): void {
  let c = perUnit.get(r.unit);
  if (!c) {
    c = { ok: 0, skipped: 0, error: 0 };
    perUnit.set(r.unit, c);
  }
  c[r.status]++;
}
