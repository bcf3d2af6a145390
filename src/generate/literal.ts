/**
 * Typed literals for `{name:Type}` placeholders. A parameter value becomes a
 * literal of its declared type or an error; it can never change the SQL's
 * structure (strings are quoted and escaped, identifiers validated and
 * back-quoted, numbers checked and range-checked).
 *
 * Every literal here parses the same on ClickHouse 18.16 and current releases.
 */
import type { ParamValue } from '../results/record.js';

export class LiteralError extends Error {}

const INT_RANGES: Record<string, [bigint, bigint]> = {};
for (const bits of [8, 16, 32, 64, 128, 256]) {
  const b = BigInt(bits);
  INT_RANGES[`Int${bits}`] = [-(1n << (b - 1n)), (1n << (b - 1n)) - 1n];
  INT_RANGES[`UInt${bits}`] = [0n, (1n << b) - 1n];
}

const IDENT_PART = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FLOAT_TEXT = /^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$/;
const DATE_TEXT = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const DATETIME_TEXT = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})$/;

/** Is this a type we know how to render? Returns an error reason or undefined. */
export function checkType(type: string): string | undefined {
  if (type in INT_RANGES) return undefined;
  if (/^(String|Identifier|Float32|Float64|Date|DateTime|Bool)$/.test(type)) return undefined;
  if (/^FixedString\([1-9][0-9]*\)$/.test(type)) return undefined;
  return `unsupported placeholder type ${JSON.stringify(type)} (expected String, FixedString(N), Identifier, Int8..Int256, UInt8..UInt256, Float32, Float64, Date, DateTime or Bool)`;
}

/**
 * The literal for `value` as `{name:type}`. Numbers come typed, as ClickHouse's
 * own parameter binding gives them (`toInt64(5)`, `toFloat32('0.1')`): a bare
 * `5` would be a UInt8, so `bitNot({x:Int64})` gave 250 and a Float32 column
 * never equalled `0.1`, and the result's column type changed with the value.
 * `bare` (LIMIT, OFFSET, SAMPLE, SETTINGS values, aggregate parameters: places
 * where ClickHouse takes a literal and no expression) keeps the plain number.
 */
export function renderLiteral(value: ParamValue, type: string, opts: { bare?: boolean } = {}): string {
  const range = INT_RANGES[type];
  if (range) {
    const n = renderInteger(value, type, range);
    if (opts.bare) return n;
    const digits = n.replace(/^\((.*)\)$/, '$1');
    // Past 64 bits a number literal would be read as a Float64: give the text.
    return /(?:128|256)$/.test(type) ? `to${type}('${digits}')` : `to${type}(${digits})`;
  }
  switch (type) {
    case 'String':
      return quoteString(String(value));
    case 'Identifier':
      return renderIdentifier(value);
    case 'Float32':
    case 'Float64': {
      const text = renderFloat(value, type);
      // A float literal is already a Float64; a Float32 is parsed from the text as written (no double rounding).
      return type === 'Float32' && !opts.bare ? `toFloat32('${text.replace(/^\((.*)\)$/, '$1')}')` : text;
    }
    case 'Date':
      return `toDate(${quoteString(checkDate(value, DATE_TEXT, 'YYYY-MM-DD'))})`;
    case 'DateTime':
      return `toDateTime(${quoteString(checkDate(value, DATETIME_TEXT, 'YYYY-MM-DD hh:mm:ss').replace('T', ' '))})`;
    case 'Bool':
      return renderBool(value);
  }
  const fixed = /^FixedString\(([0-9]+)\)$/.exec(type);
  if (fixed) {
    const text = String(value);
    const max = Number(fixed[1]);
    if (Buffer.byteLength(text) > max) throw new LiteralError(`expected at most ${max} bytes for ${type}, found ${Buffer.byteLength(text)}`);
    return quoteString(text);
  }
  throw new LiteralError(checkType(type) ?? `unsupported type ${type}`);
}

/**
 * ClickHouse string literal escaping: backslash and quote escaped, control
 * bytes as C escapes or \xHH; other UTF-8 passes through unchanged, so the
 * server sees the value byte for byte.
 */
export function quoteString(text: string): string {
  let out = "'";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92) out += '\\\\';
    else if (c === 39) out += "\\'";
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c === 0) out += '\\0';
    else if (c < 32 || c === 127) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += text[i];
  }
  return `${out}'`;
}

function renderInteger(value: ParamValue, type: string, [min, max]: [bigint, bigint]): string {
  const n = exactInteger(value, type);
  if (n < min || n > max) throw new LiteralError(`expected ${type} in [${min}, ${max}], found ${String(value)}${String(value) !== String(n) ? ` (= ${n})` : ''}`);
  // Parentheses keep `a - {x:Int32}` with x = -5 from reading as `a - -5` on any parser.
  return n < 0n ? `(${n})` : `${n}`;
}

/**
 * The exact integer a value denotes: digits, `0x`/`0o`/`0b` (as YAML 1.2 reads
 * them), or decimal notation that is a whole number (`1e3`, `2.50e1`). Never
 * through a double, so 9007199254740993 stays itself.
 */
export function exactInteger(value: ParamValue, type: string): bigint {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new LiteralError(`expected an integer for ${type}, found ${value}`);
    // The spec loader keeps any number that does not print back as written as its text; a number
    // past 2^53 reaching here (from code, not a spec) may already be rounded: refuse it.
    if (!Number.isSafeInteger(value)) throw new LiteralError(`expected an exact integer for ${type}, found ${value} (beyond 2^53: give it as a string)`);
    return BigInt(value);
  }
  const text = value.trim();
  const sign = text.startsWith('-') ? -1n : 1n;
  const body = text.replace(/^[-+]/, '');
  if (/^[0-9]+$/.test(body)) return sign * BigInt(body);
  if (/^0x[0-9a-fA-F]+$|^0o[0-7]+$|^0b[01]+$/.test(body)) return sign * BigInt(body);
  const m = /^([0-9]*)(?:\.([0-9]*))?[eE]([-+]?[0-9]+)$|^([0-9]*)\.([0-9]*)$/.exec(body);
  if (m) {
    const intPart = m[1] ?? m[4] ?? '';
    const frac = m[2] ?? m[5] ?? '';
    const exp = Number(m[3] ?? '0');
    if (intPart + frac !== '' && Math.abs(exp) <= 1000) {
      let digits = (intPart + frac).replace(/^0+(?=[0-9])/, '');
      let scale = frac.length - exp; // value = digits / 10^scale
      if (scale <= 0) return sign * BigInt(digits) * 10n ** BigInt(-scale);
      // Whole only if the last `scale` digits are zeros.
      while (scale > 0 && digits.length > 1 && digits.endsWith('0')) {
        digits = digits.slice(0, -1);
        scale--;
      }
      if (scale === 0 || /^0+$/.test(digits)) return scale === 0 ? sign * BigInt(digits) : 0n;
    }
    throw new LiteralError(`expected an integer for ${type}, found ${JSON.stringify(value)} (not a whole number)`);
  }
  throw new LiteralError(`expected an integer for ${type}, found ${JSON.stringify(value)}`);
}

/**
 * A Float literal: the number as written when it was written as one (`0.1`,
 * `1e-3`, `2.50`: ClickHouse parses the text itself, so nothing is rounded on
 * the way), with `.0` added to a bare integer so it stays a float literal.
 */
function renderFloat(value: ParamValue, type: string): string {
  let text: string;
  if (typeof value === 'number') text = Object.is(value, -0) ? '-0' : String(value);
  else {
    text = value.trim().replace(/^\+/, '');
    if (!FLOAT_TEXT.test(text)) throw new LiteralError(`expected a number for ${type}, found ${JSON.stringify(value)}`);
  }
  const n = Number(text);
  if (!Number.isFinite(n)) throw new LiteralError(`expected a finite number for ${type}, found ${String(value)}`);
  if (type === 'Float32' && Math.abs(n) > 3.4028234663852886e38) throw new LiteralError(`expected a Float32 in range, found ${String(value)}`);
  // 2 would be read as UInt8; 2.0 keeps the literal a Float64 as the placeholder declares.
  if (!/[.eE]/.test(text)) text += '.0';
  text = text.replace(/^(-?)\./, '$10.').replace(/\.([eE]|$)/, '.0$1');
  return text.startsWith('-') ? `(${text})` : text;
}

function renderIdentifier(value: ParamValue): string {
  const text = String(value);
  const parts = text.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT_PART.test(p))) {
    throw new LiteralError(`expected an identifier ([A-Za-z_][A-Za-z0-9_]*, optionally db.name), found ${JSON.stringify(text)}`);
  }
  return parts.map((p) => `\`${p}\``).join('.');
}

function checkDate(value: ParamValue, pattern: RegExp, shape: string): string {
  const text = String(value).trim();
  const m = pattern.exec(text);
  if (!m) throw new LiteralError(`expected a date ${shape}, found ${JSON.stringify(String(value))}`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    throw new LiteralError(`expected a real calendar date, found ${JSON.stringify(text)}`);
  }
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59)) {
    throw new LiteralError(`expected a real time of day, found ${JSON.stringify(text)}`);
  }
  return text;
}

function renderBool(value: ParamValue): string {
  const text = String(value).trim().toLowerCase();
  if (text === 'true' || text === '1') return '1';
  if (text === 'false' || text === '0') return '0';
  throw new LiteralError(`expected true, false, 1 or 0 for Bool, found ${JSON.stringify(String(value))}`);
}
