/**
 * `--only key=value[,key=value]`: which configs a run touches, by their params.
 * Pairs within one flag must all hold (AND); several flags are alternatives
 * (OR). Values compare as the spec wrote them (`--only threshold=25` selects
 * the config whose threshold is 25, whether the spec had 25 or "25").
 */
import { UserError } from '../errors.js';
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
