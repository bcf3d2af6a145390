/**
 * A config's result, read from ClickHouse's `JSON` output format exactly, into
 * one representation whatever the engine or server version (the README's
 * "Record format" documents it):
 *
 *   Int8..Int32, UInt8..UInt32        JSON number
 *   Int64..Int256, UInt64..UInt256    string of digits ("9007199254740993")
 *   Float32, Float64                  JSON number; NaN and infinities as "nan", "inf", "-inf"
 *   Decimal(P, S)                     string with exactly S decimals ("1.50")
 *   Nullable(T)                       null or T; a NULL in a non-Nullable column is an error
 *   Array / Tuple / Map               JSON array / array (named or not) / object, elements as above
 *   everything else                   as ClickHouse writes it (strings for dates, UUIDs, enums)
 *
 * Why both JSON.parse and lossless-json: the engines ask the server to quote
 * what JSON numbers cannot carry (output_format_json_quote_64bit_integers,
 * _quote_decimals, _quote_denormals; current releases default the first to 0),
 * but not every version has every setting (18.16 has no quote_decimals and
 * writes `12345678901234567890.123` bare). So the fast path is JSON.parse, and
 * when a value arrives that JSON.parse may have rounded (a 64-bit integer or a
 * decimal as a bare number) the text is parsed again with lossless-json, which
 * keeps every number's digits. Nothing here guesses: a value that no rule
 * covers is an error, never a silently rounded number.
 */
import { isLosslessNumber, parse as parseLossless, type LosslessNumber } from 'lossless-json';
import { parseChType, type ChType } from './clickhouse-types.js';
import { EngineError, type Row } from './engine.js';
import { findTrailingServerError, parseServerError, serverErrorToEngineError } from './errors.js';

/** A result column as ClickHouse names and types it. */
export interface Column {
  name: string;
  type: string;
}

export interface JsonResult {
  columns: Column[];
  rows: Row[];
  /** From the document's `statistics` (18.16 and later), when present. */
  rowsRead: number | undefined;
  bytesRead: number | undefined;
}

/** Thrown by a normaliser when the fast parse may have lost digits. */
class NeedExact extends Error {}

type Normalize = (v: unknown) => unknown;

/**
 * Parse a whole `FORMAT JSON` document. Throws EngineError for a server
 * exception written into the output (code and name from it), and
 * `BAD_RESPONSE` for anything that is not the document asked for.
 */
export function readJsonResult(text: string): JsonResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // The server failed after it had started streaming (status 200 already sent):
    // 18.16 appends the exception text after the partial output.
    const trailing = findTrailingServerError(text);
    if (trailing) throw serverErrorToEngineError(trailing);
    throw badResponse(`the result is not the JSON document that was asked for (does the last statement choose its own FORMAT?): ${preview(text)}`);
  }
  try {
    return normalizeDocument(doc, text);
  } catch (err) {
    if (!(err instanceof NeedExact)) throw err;
  }
  let exact: unknown;
  try {
    exact = parseLossless(text);
  } catch (err) {
    // JSON.parse kept the last of two equal keys; lossless-json refuses them. Only a
    // Map can hold them (ClickHouse allows duplicate keys there; a JSON object cannot).
    throw badResponse(`the result cannot be recorded exactly: ${(err as Error).message} (a Map with a duplicate key? a JSON object keeps one; use mapKeys()/mapValues() or CAST the map to Array(Tuple(...)))`);
  }
  exactPass = true;
  try {
    return normalizeDocument(exact, text);
  } finally {
    exactPass = false;
  }
}

/** True while normalising the lossless parse: a Map's keys are known to be distinct then. */
let exactPass = false;

function normalizeDocument(doc: unknown, text: string): JsonResult {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw badResponse(`expected a JSON object, found ${preview(text)}`);
  const d = doc as Record<string, unknown>;
  // Current servers write a mid-stream failure into the document itself.
  if (typeof d['exception'] === 'string') {
    const parsed = parseServerError(d['exception']);
    throw parsed ? serverErrorToEngineError(parsed) : new EngineError(d['exception'], { codeName: 'UNKNOWN', transient: false });
  }
  const meta = d['meta'];
  const data = d['data'];
  if (!Array.isArray(meta) || !Array.isArray(data)) throw badResponse(`expected "meta" and "data" arrays, found ${preview(text)}`);
  const columns: Column[] = meta.map((m: unknown) => {
    const c = m as { name?: unknown; type?: unknown };
    if (typeof c.name !== 'string' || typeof c.type !== 'string') throw badResponse(`expected meta entries {name, type}, found ${preview(JSON.stringify(m))}`);
    return { name: c.name, type: c.type };
  });
  const plan = planFor(columns);
  const rowCount = toNumber(d['rows']);
  if (rowCount !== undefined && rowCount !== data.length) {
    throw badResponse(`the document says ${rowCount} rows but holds ${data.length}: the output was cut short`);
  }
  for (const row of data) {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw badResponse(`expected each row to be a JSON object, found ${preview(JSON.stringify(row))}`);
    const r = row as Record<string, unknown>;
    for (const [name, normalize] of plan) r[name] = normalize(r[name]);
  }
  const stats = d['statistics'] as { rows_read?: unknown; bytes_read?: unknown } | undefined;
  return { columns, rows: data as Row[], rowsRead: toNumber(stats?.rows_read), bytesRead: toNumber(stats?.bytes_read) };
}

const plans = new Map<string, Array<[string, Normalize]>>();

/** Normalisers for the columns that need one, compiled once per distinct shape. */
function planFor(columns: readonly Column[]): Array<[string, Normalize]> {
  let key = '';
  for (const c of columns) key += `${c.name}\u0000${c.type}\u0001`;
  const cached = plans.get(key);
  if (cached) return cached;
  const seen = new Set<string>();
  const plan: Array<[string, Normalize]> = [];
  for (const c of columns) {
    if (seen.has(c.name)) {
      // JSON objects cannot hold two keys of one name: one value would vanish.
      throw new EngineError(`the result has two columns named ${JSON.stringify(c.name)}; give them distinct aliases (AS ...)`, {
        codeName: 'DUPLICATE_COLUMN',
        transient: false,
      });
    }
    seen.add(c.name);
    const n = normalizerFor(parseChType(c.type), false);
    if (n) plan.push([c.name, n]);
  }
  if (plans.size > 1000) plans.clear();
  plans.set(key, plan);
  return plan;
}

const DIGITS = /^-?[0-9]+$/;
const NUMBER_TEXT = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$/;

/** undefined: the value is already in its final form whatever the engine sends. */
function normalizerFor(t: ChType, nullable: boolean): Normalize | undefined {
  switch (t.kind) {
    case 'int':
      return t.bits <= 32 ? smallInt(t.text, nullable) : bigInt(t.text, nullable);
    case 'float':
      return float(t.text, nullable);
    case 'decimal':
      return decimal(t.scale, t.text, nullable);
    case 'bool':
      return (v) => (typeof v === 'boolean' ? v : v === 1 || v === 'true' ? true : v === 0 || v === 'false' ? false : nullOr(v, nullable, t.text, () => unexpected(v, t.text)));
    case 'nothing':
      return () => null;
    case 'nullable': {
      const inner = normalizerFor(t.inner, true);
      return inner ? (v) => (v === null ? null : inner(v)) : generic;
    }
    case 'array': {
      const inner = normalizerFor(t.inner, false) ?? generic;
      return (v) => {
        if (!Array.isArray(v)) return nullOr(v, nullable, t.text, () => unexpected(v, t.text));
        return v.map(inner);
      };
    }
    case 'tuple': {
      const items = t.items.map((it) => normalizerFor(it, false) ?? generic);
      return (v) => {
        // One form everywhere: an array in declared order (named tuples may arrive as objects).
        const list = Array.isArray(v) ? v : v !== null && typeof v === 'object' && !isLosslessNumber(v) ? t.names.map((n) => (v as Record<string, unknown>)[n ?? '']) : undefined;
        if (!list || list.length !== items.length) return nullOr(v, nullable, t.text, () => unexpected(v, t.text));
        return list.map((x, i) => (items[i] as Normalize)(x));
      };
    }
    case 'map': {
      const value = normalizerFor(t.value, false) ?? generic;
      return (v) => {
        if (v === null || typeof v !== 'object' || Array.isArray(v) || isLosslessNumber(v)) return nullOr(v, nullable, t.text, () => unexpected(v, t.text));
        // JSON.parse keeps the last of two equal keys silently: read maps from the lossless parse, which refuses them.
        if (!exactPass) throw new NeedExact();
        // fromEntries defines each key as data: a "__proto__" key stays a key instead of setting the prototype.
        return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, value(x)]));
      };
    }
    case 'other':
      // Strings, dates, enums, UUIDs: JSON strings already; only lossless numbers need unwrapping.
      return generic;
  }
}

function smallInt(type: string, nullable: boolean): Normalize {
  return (v) => {
    if (typeof v === 'number') return v;
    if (isLosslessNumber(v)) return Number((v as LosslessNumber).value);
    if (typeof v === 'string' && DIGITS.test(v)) return Number(v);
    return nullOr(v, nullable, type, () => unexpected(v, type));
  };
}

function bigInt(type: string, nullable: boolean): Normalize {
  return (v) => {
    if (typeof v === 'string') {
      if (DIGITS.test(v)) return v;
      return unexpected(v, type);
    }
    if (typeof v === 'number') {
      // A bare number: exact only below 2^53 (a larger text parses to an unsafe double).
      if (Number.isSafeInteger(v)) return String(v);
      throw new NeedExact();
    }
    if (isLosslessNumber(v)) {
      const text = (v as LosslessNumber).value;
      if (DIGITS.test(text)) return BigInt(text).toString();
      return unexpected(text, type);
    }
    return nullOr(v, nullable, type, () => unexpected(v, type));
  };
}

function float(type: string, nullable: boolean): Normalize {
  return (v) => {
    if (typeof v === 'number') return v;
    if (isLosslessNumber(v)) return Number((v as LosslessNumber).value);
    if (typeof v === 'string') {
      const s = v.toLowerCase().replace(/^\+/, '');
      if (s === 'nan' || s === '-nan') return 'nan';
      if (s === 'inf' || s === 'infinity') return 'inf';
      if (s === '-inf' || s === '-infinity') return '-inf';
      if (NUMBER_TEXT.test(v)) return Number(v);
      return unexpected(v, type);
    }
    if (v === null && !nullable) {
      // A server that cannot quote non-finite floats writes them as null: NaN and NULL would be one value.
      throw new EngineError(
        `a ${type} value arrived as null: the engine wrote NaN or an infinity as null (output_format_json_quote_denormals missing), which cannot be told from NULL`,
        { codeName: 'BAD_RESPONSE', transient: false },
      );
    }
    return nullOr(v, nullable, type, () => unexpected(v, type));
  };
}

function decimal(scale: number, type: string, nullable: boolean): Normalize {
  return (v) => {
    if (typeof v === 'string') return canonicalDecimal(v, scale, type);
    if (typeof v === 'number') throw new NeedExact(); // digits may be gone; read the text again
    if (isLosslessNumber(v)) return canonicalDecimal((v as LosslessNumber).value, scale, type);
    return nullOr(v, nullable, type, () => unexpected(v, type));
  };
}

/** `1.5` with scale 2 -> `1.50`; `-0.500` with scale 1 -> `-0.5`; never changes a digit that matters. */
export function canonicalDecimal(text: string, scale: number, type = 'Decimal'): string {
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(text.trim());
  if (!m) return unexpected(text, type);
  const sign = m[1] as string;
  const int = (m[2] as string).replace(/^0+(?=[0-9])/, '');
  let frac = m[3] ?? '';
  if (frac.length > scale) {
    if (/[^0]/.test(frac.slice(scale))) return unexpected(text, type);
    frac = frac.slice(0, scale);
  }
  frac = frac.padEnd(scale, '0');
  const isZero = /^0*$/.test(int + frac);
  return `${isZero ? '' : sign}${int}${scale > 0 ? `.${frac}` : ''}`;
}

/** Any value of a type without rules: lossless numbers become numbers when exact, else their text. */
function generic(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (isLosslessNumber(v)) {
    const text = (v as LosslessNumber).value;
    const n = Number(text);
    return String(n) === text ? n : text;
  }
  if (Array.isArray(v)) return v.map(generic);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, generic(x)]));
}

function nullOr(v: unknown, nullable: boolean, type: string, otherwise: () => never): null {
  if (v === null && nullable) return null;
  if (v === null) throw badResponse(`a NULL arrived in a column of type ${type}, which is not Nullable`);
  return otherwise();
}

function unexpected(v: unknown, type: string): never {
  throw badResponse(`cannot read ${preview(isLosslessNumber(v) ? (v as LosslessNumber).value : JSON.stringify(v) ?? String(v))} as ${type}`);
}

function badResponse(message: string): EngineError {
  return new EngineError(`Unexpected response: ${message}`, { codeName: 'BAD_RESPONSE', transient: false });
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (isLosslessNumber(v)) return Number((v as LosslessNumber).value);
  if (typeof v === 'string' && DIGITS.test(v)) return Number(v);
  return undefined;
}

function preview(text: string): string {
  const t = text.trim();
  return t.length > 300 ? `${t.slice(0, 300)}...` : t || '(empty)';
}
