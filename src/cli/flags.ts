/** Commander's side of flag parsing: the repeatable-option collector; the value parsers live in src/flags.ts. */

/** Commander collector for a repeatable option (`--only a=1 --only b=2`). */
export function collectValues(value: string, previous: string[]): string[] {
  return [...previous, value];
}
