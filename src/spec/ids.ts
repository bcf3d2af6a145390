/**
 * Ids carry every parameter (invariant 1): a unit id from the unit params, a
 * config id from the unit id plus the remaining params, e.g.
 * {symbol: BTCUSDT, threshold: 250} -> `symbol-BTCUSDT__threshold-250`.
 *
 * They are filenames, so they must be safe on every filesystem rsync may carry
 * them to, deterministic, and reversible (decodeId gives the params back):
 * - `__` separates pairs and the first `-` separates name from value (param
 *   names contain neither, see PARAM_NAME);
 * - value bytes outside [A-Za-z0-9.+-] and a lone `_` are written `~XX` (UTF-8,
 *   upper-case hex), so a value can never contain `__`, `/` or a control byte;
 * - numbers are written as JavaScript prints them (250, 1.5, -3); a value's type
 *   is not part of its id, so 1 and "1" for one param collide (reported).
 */
import type { ParamValue, Params } from '../results/record.js';

export const ALL_UNIT = 'all';
/** Most filesystems cap a name at 255 bytes; leave room for `.sql` and temp suffixes. */
export const MAX_ID_BYTES = 240;

const SAFE = /^[A-Za-z0-9.+-]$/;

export function encodeValue(value: ParamValue): string {
  const text = typeof value === 'number' ? String(value) : value;
  if (text === '') return '~';
  let out = '';
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    const isLoneUnderscore = ch === '_' && i > 0 && i < chars.length - 1 && chars[i - 1] !== '_' && chars[i + 1] !== '_';
    if (SAFE.test(ch) || isLoneUnderscore) {
      out += ch;
    } else {
      for (const byte of Buffer.from(ch, 'utf8')) out += `~${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

export function decodeValue(encoded: string): string {
  if (encoded === '~') return '';
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; ) {
    if (encoded[i] === '~') {
      bytes.push(Number.parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(encoded.charCodeAt(i));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** `name-value` pairs in the given order, joined by `__`. */
export function encodeId(params: Params, names: readonly string[]): string {
  return names.map((name) => `${name}-${encodeValue(params[name] as ParamValue)}`).join('__');
}

export function unitIdOf(params: Params, unitNames: readonly string[]): string {
  return unitNames.length === 0 ? ALL_UNIT : encodeId(params, unitNames);
}

/** Config id: the unit id followed by the remaining params in spec order. */
export function configIdOf(params: Params, unitNames: readonly string[], restNames: readonly string[]): string {
  const parts = [...unitNames, ...restNames];
  return encodeId(params, parts);
}

/** The params an id was made from, as strings (ids do not carry types). */
export function decodeId(id: string): Record<string, string> {
  if (id === ALL_UNIT) return {};
  const out: Record<string, string> = {};
  for (const pair of id.split('__')) {
    const dash = pair.indexOf('-');
    if (dash <= 0) throw new Error(`not a sweep id: ${id}`);
    out[pair.slice(0, dash)] = decodeValue(pair.slice(dash + 1));
  }
  return out;
}
