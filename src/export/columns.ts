/**
 * The columns of an export and how their values are written, so every value
 * leaves exactly as the record holds it and with the type ClickHouse gave it:
 *
 *   sweep, unit, config            String
 *   one column per param           its placeholder's type (src/export/sweep-results.ts)
 *   rows: the result's columns     the types the worker recorded per shape (record v2);
 *                                  inferred from the values for v1 records, which had none
 *   records: the record's fields   fixed types (RECORD_COLUMNS)
 *
 * A result column is declared once per shape, and shapes can disagree (a
 * column Nullable in one config and not in another, or absent): the column's
 * export type is then the one type that holds them all, Nullable when some row
 * has no value, String when no ClickHouse type holds every value exactly
 * (never a Float64 that would round a 64-bit integer).
 */
import { parseChType, type ChType } from '../engine/clickhouse-types.js';
import { exactInteger } from '../generate/literal.js';
import type { ParamValue } from '../results/record.js';
import type { ParamInfo } from './sweep-results.js';

export interface ExportColumn {
  name: string;
  /** ClickHouse type name. */
  type: string;
}

/** Context columns every export starts with. */
export const CONTEXT_COLUMNS: readonly ExportColumn[] = [
  { name: 'sweep', type: 'String' },
  { name: 'unit', type: 'String' },
  { name: 'config', type: 'String' },
];

/** `--what records`: one row per config's record, after the context and params. */
export const RECORD_COLUMNS: readonly ExportColumn[] = [
  { name: 'status', type: 'String' },
  { name: 'error_code', type: 'Nullable(Int32)' },
  { name: 'error_name', type: 'Nullable(String)' },
  { name: 'error_message', type: 'Nullable(String)' },
  { name: 'result_rows', type: 'UInt32' },
  { name: 'rows_read', type: 'UInt64' },
  { name: 'bytes_read', type: 'UInt64' },
  { name: 'elapsed_ms', type: 'Float64' },
  { name: 'attempts', type: 'UInt32' },
  { name: 'max_threads', type: 'Nullable(UInt32)' },
  { name: 'engine', type: 'String' },
  { name: 'host', type: 'String' },
  { name: 'worker', type: 'String' },
  { name: 'target', type: 'Nullable(String)' },
  { name: 'setup', type: 'Nullable(String)' },
  { name: 'query_id', type: 'String' },
  { name: 'sql_sha256', type: 'String' },
  { name: 'started_at', type: "DateTime64(3, 'UTC')" },
  { name: 'finished_at', type: "DateTime64(3, 'UTC')" },
];

/**
 * A param value as its column type holds it: integers exact (64-bit and wider
 * as digit strings, like result values), floats as numbers, dates as text,
 * booleans as booleans. Spec values keep their source text (`0755`, `1e3`), so
 * this is where they become what the SQL used.
 */
export function paramValueFor(type: string, value: ParamValue): unknown {
  const int = /^(U?)Int(8|16|32|64|128|256)$/.exec(type);
  if (int) {
    const n = exactInteger(value, type);
    return Number(int[2]) <= 32 ? Number(n) : n.toString();
  }
  switch (type) {
    case 'Float32':
    case 'Float64':
      return typeof value === 'number' ? value : Number(value);
    case 'Bool': {
      const t = String(value).trim().toLowerCase();
      return t === 'true' || t === '1';
    }
    case 'DateTime':
      return String(value).trim().replace('T', ' ');
    default:
      return String(value);
  }
}

/** Canonical param values per param, computed once per distinct value. */
export function paramValueMaps(params: readonly ParamInfo[]): Map<string, Map<ParamValue, unknown>> {
  const out = new Map<string, Map<ParamValue, unknown>>();
  for (const p of params) {
    const m = new Map<ParamValue, unknown>();
    for (const v of p.values) m.set(v, paramValueFor(p.type, v));
    out.set(p.name, m);
  }
  return out;
}

// ---------------------------------------------------------------- result columns

type Kind = 'int' | 'float' | 'bool' | 'string' | 'other';

/** What is known about one result column over every row exported. */
interface ColumnTrack {
  name: string;
  /** Declared types (Nullable and LowCardinality unwrapped) from the shapes of the records that had it. */
  types: Set<string>;
  nullable: boolean;
  /** Records (ok, with rows) whose shape lacks the column, or v1 records that never had it. */
  absent: boolean;
  /** For v1 records (no shape): what the values look like. */
  inferred: Set<Kind>;
}

/**
 * Follows result columns across shapes as records stream past, and names the
 * export's columns afterwards. `rename` maps a result column to its export name
 * (`row_<name>` for one named like a context column or a param).
 */
export class ResultColumns {
  private readonly tracks = new Map<string, ColumnTrack>();
  private readonly seenShapes = new Set<string>();
  private records = 0;

  /** A record with rows and a known shape. */
  addShape(shapeId: string, columns: ReadonlyArray<{ name: string; type: string }>): void {
    this.records++;
    if (this.seenShapes.has(shapeId)) return;
    this.seenShapes.add(shapeId);
    const names = new Set(columns.map((c) => c.name));
    for (const c of columns) {
      const t = this.track(c.name);
      const { base, nullable } = unwrap(c.type);
      // NULL (a column of type Nothing) says nothing of the type, only that it is Nullable.
      if (base !== 'Nothing') t.types.add(base);
      if (nullable || base === 'Nothing') t.nullable = true;
    }
    // A column of earlier shapes that this one lacks.
    for (const t of this.tracks.values()) if (!names.has(t.name)) t.absent = true;
  }

  /** A record with rows but no shape (v1, or a shape line lost): types come from its values. */
  addUntyped(rows: ReadonlyArray<Record<string, unknown>>): void {
    this.records++;
    const names = new Set<string>();
    for (const row of rows) {
      for (const [k, v] of Object.entries(row)) {
        names.add(k);
        const t = this.track(k);
        if (v === null) t.nullable = true;
        else t.inferred.add(kindOf(v));
      }
    }
    for (const t of this.tracks.values()) if (!names.has(t.name)) t.absent = true;
  }

  private track(name: string): ColumnTrack {
    let t = this.tracks.get(name);
    if (!t) {
      // A column first met after other records had rows was absent from them.
      t = { name, types: new Set(), nullable: false, absent: this.records > 1, inferred: new Set() };
      this.tracks.set(name, t);
    }
    return t;
  }

  /** Result columns in first-seen order, with their export type. */
  columns(): Array<ExportColumn & { notes: string[] }> {
    return [...this.tracks.values()].map((t) => {
      const notes: string[] = [];
      const type = unify(t, notes);
      return { name: t.name, type, notes };
    });
  }
}

function unwrap(type: string): { base: string; nullable: boolean } {
  let t = type.trim();
  let nullable = false;
  for (;;) {
    const m = /^(Nullable|LowCardinality)\((.*)\)$/s.exec(t);
    if (!m) break;
    if (m[1] === 'Nullable') nullable = true;
    t = (m[2] as string).trim();
  }
  return { base: t, nullable };
}

function kindOf(v: unknown): Kind {
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  return 'other';
}

function unify(t: ColumnTrack, notes: string[]): string {
  let base: string;
  if (t.types.size === 1 && t.inferred.size === 0) {
    base = [...t.types][0] as string;
  } else if (t.types.size === 0 && t.inferred.size === 0) {
    base = 'String'; // only ever NULL
  } else if (t.types.size === 0) {
    base = inferredType(t.inferred);
    notes.push(`${t.name}: no recorded type (records of format v1): ${base} from its values`);
  } else {
    base = t.inferred.size > 0 ? 'String' : commonType([...t.types]);
    // Widening is routine (literals are typed by their value); only a fall back to String is worth a note.
    if (base === 'String') notes.push(`${t.name}: the configs returned it as ${[...t.types].join(', ')}${t.inferred.size > 0 ? ' (and untyped v1 values)' : ''}: exported as String`);
  }
  const canBeNull = !/^(Array|Tuple|Map|Nested)\(/.test(base);
  return (t.nullable || t.absent) && canBeNull ? `Nullable(${base})` : base;
}

function inferredType(kinds: Set<Kind>): string {
  if (kinds.size === 1) {
    const k = [...kinds][0];
    if (k === 'int') return 'Int64';
    if (k === 'float') return 'Float64';
    if (k === 'bool') return 'Bool';
  }
  if (kinds.size === 2 && kinds.has('int') && kinds.has('float')) return 'Float64';
  return 'String';
}

/**
 * One type that holds every value of the given types exactly. Types differ
 * between configs more often than one would think: a placeholder's literal
 * gets the smallest type that holds it (`1` is UInt8, 18446744073709551615
 * UInt64), and so does arithmetic on it. So: integers widen to the integer
 * type holding them all (signed when any is), decimals to the scale and integer
 * digits of the widest, floats with small integers to Float64; anything else
 * (a 64-bit integer with a float, text with numbers) is String, which holds
 * every value as written.
 */
export function commonType(types: string[]): string {
  const parsed = types.map(parseChType);
  if (parsed.every((p) => p.kind === 'int')) {
    const ints = parsed as Array<Extract<ChType, { kind: 'int' }>>;
    const signed = ints.some((p) => p.signed);
    // An unsigned type fits a signed one of twice its width.
    const bits = Math.max(...ints.map((p) => (signed && !p.signed ? p.bits * 2 : p.bits)));
    const width = [8, 16, 32, 64, 128, 256].find((b) => b >= bits);
    return width ? `${signed ? 'Int' : 'UInt'}${width}` : 'String';
  }
  if (parsed.every((p) => p.kind === 'decimal' || (p.kind === 'int' && p.bits <= 64))) {
    let scale = 0;
    let digits = 0;
    for (const p of parsed) {
      if (p.kind === 'decimal') {
        scale = Math.max(scale, p.scale);
        digits = Math.max(digits, p.precision - p.scale);
      } else if (p.kind === 'int') {
        digits = Math.max(digits, p.bits === 64 ? 20 : p.bits === 32 ? 10 : p.bits === 16 ? 5 : 3);
      }
    }
    return digits + scale <= 76 ? `Decimal(${digits + scale}, ${scale})` : 'String';
  }
  if (parsed.every((p) => p.kind === 'float' || (p.kind === 'int' && p.bits <= 32))) return 'Float64';
  return 'String';
}
