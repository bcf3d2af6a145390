/**
 * `--only key=value[,key=value]`: which configs a run touches, by their params.
 * Pairs within one flag must all hold (AND); several flags are alternatives
 * (OR). Values compare as the spec wrote them (`--only threshold=25` selects
 * the config whose threshold is 25, whether the spec had 25 or "25").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import type { UnitIndex } from '../format/manifest.js';
import type { Params } from '../results/record.js';

export type OnlyClause = ReadonlyArray<readonly [string, string]>;

export interface ConfigSelection {
  clauses: OnlyClause[];
  /** The flags as given, to pass on to a worker's command line. */
  flags: string[];
}

/** Parse `--only` values; `paramNames` (when known) are checked so a typo is an error, not an empty selection. */
export function parseOnly(values: readonly string[], paramNames?: readonly string[]): ConfigSelection | undefined {
  if (values.length === 0) return undefined;
  const clauses = values.map((text) => {
    const pairs = text.split(',').map((pair): [string, string] => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UserError('FLAG_INVALID', `--only ${JSON.stringify(text)}: expected key=value[,key=value], found ${JSON.stringify(pair)}`);
      const key = pair.slice(0, eq).trim();
      if (paramNames && !paramNames.includes(key)) {
        throw new UserError('FLAG_INVALID', `--only ${JSON.stringify(text)}: expected a param name (one of: ${paramNames.join(', ')}), found ${JSON.stringify(key)}`);
      }
      return [key, pair.slice(eq + 1)];
    });
    return pairs;
  });
  return { clauses, flags: [...values] };
}

export function isSelected(selection: ConfigSelection | undefined, params: Params): boolean {
  if (!selection) return true;
  return selection.clauses.some((clause) => clause.every(([k, v]) => k in params && String(params[k]) === v));
}

/**
 * Units of the sweep dir `outDir` holding at least one config `selection`
 * picks (read from units/<unit>.json). Throws FLAG_INVALID when it picks none:
 * a value that matches nothing (`--only symbol=XRPUSDT`, `threshold=25.0` for
 * 25) would otherwise run nothing and say "complete".
 */
export function unitsSelecting(outDir: string, unitIds: readonly string[], selection: ConfigSelection): Set<string> {
  const out = new Set<string>();
  // Values of the selection's keys, for the refusal only: gathered until something matches.
  const keys = [...new Set(selection.clauses.flat().map(([k]) => k))];
  const seen = new Map<string, Set<string>>(keys.map((k) => [k, new Set<string>()]));
  for (const id of unitIds) {
    const index = JSON.parse(readFileSync(join(outDir, 'units', `${id}.json`), 'utf8')) as UnitIndex;
    for (const c of index.configs) {
      if (isSelected(selection, c.params)) {
        out.add(id);
        break; // one selected config puts the unit in; nothing is gathered after a match
      }
      if (out.size > 0) continue;
      for (const k of keys) {
        const vs = seen.get(k) as Set<string>;
        if (k in c.params && vs.size < 12) vs.add(String(c.params[k]));
      }
    }
  }
  if (out.size === 0) {
    const values = keys.map((k) => `${k}: ${[...(seen.get(k) ?? [])].join(', ')}${(seen.get(k)?.size ?? 0) >= 12 ? ', ...' : ''}`).join('; ');
    throw new UserError('FLAG_INVALID', `--only ${selection.flags.join(' --only ')}: expected it to select some configs, found none in the sweep (values as the spec wrote them: ${values})`);
  }
  return out;
}
