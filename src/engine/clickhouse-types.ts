/**
 * ClickHouse type names (as a JSON result's `meta` reports them) parsed into a
 * small tree, so values can be normalised per type and exports can be typed.
 *
 * Grammar handled: `Nullable(T)`, `LowCardinality(T)`, `Array(T)`,
 * `Tuple(T, ...)` and named `Tuple(a T, ...)`, `Map(K, V)`, `Decimal(P, S)` and
 * `Decimal32/64/128/256(S)`, `Int8`..`Int256`, `UInt8`..`UInt256`, `Float32`,
 * `Float64`, `BFloat16`, `Nothing`, `Bool`; every other name (String,
 * FixedString(N), Date, DateTime('tz'), DateTime64(3), Enum8('a' = 1), UUID,
 * IPv4, ...) is kept as `other` with its full text. Written by hand (a few dozen
 * lines) because no maintained npm package parses ClickHouse type names; the
 * official client's own parser is internal to @clickhouse/client-common.
 */

export type ChType =
  | { kind: 'int'; bits: number; signed: boolean; text: string }
  | { kind: 'float'; text: string }
  | { kind: 'decimal'; precision: number; scale: number; text: string }
  | { kind: 'bool'; text: string }
  | { kind: 'nothing'; text: string }
  | { kind: 'nullable'; inner: ChType; text: string }
  | { kind: 'array'; inner: ChType; text: string }
  | { kind: 'tuple'; items: ChType[]; names: Array<string | null>; text: string }
  | { kind: 'map'; key: ChType; value: ChType; text: string }
  | { kind: 'other'; name: string; text: string };

const DECIMAL_PRECISION: Record<string, number> = { Decimal32: 9, Decimal64: 18, Decimal128: 38, Decimal256: 76 };

/** Parse a ClickHouse type name. Never throws: what it does not understand becomes `other`. */
export function parseChType(text: string): ChType {
  const t = text.trim();
  const open = t.indexOf('(');
  const name = open === -1 ? t : t.slice(0, open);
  const args = open === -1 || !t.endsWith(')') ? [] : splitArgs(t.slice(open + 1, -1));
  const int = /^(U?)Int(8|16|32|64|128|256)$/.exec(name);
  if (int && open === -1) return { kind: 'int', bits: Number(int[2]), signed: int[1] === '', text: t };
  switch (name) {
    case 'Float32':
    case 'Float64':
    case 'BFloat16':
      return { kind: 'float', text: t };
    case 'Bool':
      return { kind: 'bool', text: t };
    case 'Nothing':
      return { kind: 'nothing', text: t };
    case 'Nullable':
      if (args.length === 1) return { kind: 'nullable', inner: parseChType(args[0] as string), text: t };
      break;
    case 'LowCardinality':
      // Only a storage detail: values are those of the inner type.
      if (args.length === 1) return parseChType(args[0] as string);
      break;
    case 'Array':
      if (args.length === 1) return { kind: 'array', inner: parseChType(args[0] as string), text: t };
      break;
    case 'Map':
      if (args.length === 2) return { kind: 'map', key: parseChType(args[0] as string), value: parseChType(args[1] as string), text: t };
      break;
    case 'Tuple': {
      const names: Array<string | null> = [];
      const items = args.map((a) => {
        // `name Type` (named element) or `Type`; a type never starts with an identifier followed by a space and a capital.
        const m = /^([A-Za-z_][A-Za-z0-9_]*|`[^`]*`)\s+(\S.*)$/s.exec(a);
        if (m && !/^[A-Z][A-Za-z0-9]*\(/.test(a)) {
          names.push((m[1] as string).replace(/^`|`$/g, ''));
          return parseChType(m[2] as string);
        }
        names.push(null);
        return parseChType(a);
      });
      return { kind: 'tuple', items, names, text: t };
    }
    case 'Decimal':
      if (args.length === 2) return { kind: 'decimal', precision: Number(args[0]), scale: Number(args[1]), text: t };
      break;
    case 'Decimal32':
    case 'Decimal64':
    case 'Decimal128':
    case 'Decimal256':
      if (args.length === 1) return { kind: 'decimal', precision: DECIMAL_PRECISION[name] as number, scale: Number(args[0]), text: t };
      break;
  }
  return { kind: 'other', name, text: t };
}

/** Top-level comma-separated arguments, respecting nested parentheses and quotes. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '`' || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = s.slice(start).trim();
  if (last !== '' || out.length > 0) out.push(last);
  return out;
}
