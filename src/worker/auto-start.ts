/**
 * Where `worker.concurrency: auto` starts a unit's search: the level the last
 * unit of this sweep directory ended at against the same target, else 2.
 *
 * Why: a sweep of 300,000 configs in 1,000 units gives each unit ~300 configs,
 * well under a second of short queries; a search that starts from 2 in every
 * unit spends most of each unit searching. Carrying the level over makes the
 * search continue across units instead. The file is a hint, not a record: a
 * missing, unreadable or foreign one means "start at 2", and it is written by
 * atomic rename (units finishing at once: the last one wins, each write whole).
 *
 * File: `<sweep dir>/auto-concurrency.json`, `{"v":1,"target":string,"level":number,"unit":string}`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fs/atomic.js';

const FILE = 'auto-concurrency.json';
const DEFAULT_START = 2;

export interface AutoStart {
  /** Queries in flight to begin with, within [min, max]. */
  level: number;
  /** Where it came from, for the unit's log line. */
  from: string;
}

/** The start level for a unit against `target` (the record's target string), clamped to [min, max]. Never throws. */
export function readAutoStart(dir: string, target: string, range: { min: number; max: number }): AutoStart {
  const clamp = (n: number): number => Math.min(range.max, Math.max(range.min, n));
  try {
    const saved = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as { v?: unknown; target?: unknown; level?: unknown; unit?: unknown };
    if (saved.v === 1 && saved.target === target && Number.isInteger(saved.level) && (saved.level as number) >= 1) {
      return { level: clamp(saved.level as number), from: `where unit ${String(saved.unit)} ended` };
    }
  } catch {
    // No earlier unit (or a torn hint): the search starts from the bottom.
  }
  return { level: clamp(DEFAULT_START), from: 'the default' };
}

/** Remember where this unit's search ended. A failed write is logged by the caller, never fatal. */
export function recordAutoEnd(dir: string, target: string, level: number, unit: string): void {
  writeFileAtomicSync(join(dir, FILE), JSON.stringify({ v: 1, target, level, unit }) + '\n', { durable: false });
}
