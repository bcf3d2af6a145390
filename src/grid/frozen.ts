/**
 * Frozen values: what `{file}`, `{csv}` and `{sql}` params read the first time
 * `generate` ran, kept in `<out>/values.json` beside the manifest, so a sweep
 * stays what it was when the data behind it moves (a new symbol listed, a file
 * edited): later runs reuse them and say so; `--refresh-values` reads them
 * again and reports what changed. A param whose source itself changed in the
 * spec (another query, another file) is read again: that is a new grid, not a
 * refresh.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParamValue } from '../results/record.js';
import type { ExternalValues } from '../spec/schema.js';

export const VALUES_FILE = 'values.json';

export interface FrozenParam {
  /** The spec's mapping for the param, as validated: the identity of the source. */
  source: ExternalValues;
  values: ParamValue[];
  /** A file path or the engine the query ran on. */
  from: string;
  resolved_at: string;
}

export interface FrozenValues {
  v: 1;
  sweep: string;
  params: Record<string, FrozenParam>;
}

/** The frozen values in a sweep dir, or undefined when there are none (or the file is not ours). */
export function readFrozen(outDir: string): FrozenValues | undefined {
  const path = join(outDir, VALUES_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as FrozenValues;
    if (parsed.v !== 1 || typeof parsed.params !== 'object' || parsed.params === null) return undefined;
    return parsed;
  } catch {
    // A torn or hand-edited file: read the sources again rather than trust it.
    return undefined;
  }
}

export function sameSource(a: ExternalValues, b: ExternalValues): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(s: ExternalValues): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(s).sort()) out[key] = (s as unknown as Record<string, string>)[key] as string;
  return out;
}

/** What a refresh changed: values added and removed (by their text). */
export function diffValues(before: readonly ParamValue[], after: readonly ParamValue[]): { added: ParamValue[]; removed: ParamValue[] } {
  const was = new Set(before.map(String));
  const now = new Set(after.map(String));
  return { added: after.filter((v) => !was.has(String(v))), removed: before.filter((v) => !now.has(String(v))) };
}
