/**
 * Numeric ranges, `{from, to, step}` and `{from, to, num[, scale]}`, computed on
 * the decimal text as scaled BigInts, never by adding doubles: 0.1 + 0.1 + 0.1
 * is 0.30000000000000004 in floating point, and a sweep over z = 0.1..0.3 must
 * give 0.3 (as its id and its literal), so every value is `from + i * step`
 * done exactly. Values follow the spec loader's rule for written numbers: a
 * number when it prints back exactly (0.3, 250), else its text
 * ("9007199254740993").
 */
import type { ParamValue } from '../results/record.js';
import type { NumRange, StepRange } from '../spec/schema.js';

/** `units / 10^scale`. */
interface Decimal {
  units: bigint;
  scale: number;
}

/** A range's error: the key it concerns (from, to, step, num) and what is wrong. */
export type RangeFail = (key: string, message: string) => never;

/** More values than this from one param is almost surely a mistake in step or bounds. */
export const MAX_RANGE_VALUES = 1_000_000;
/** Significant digits of a value that is not exact (log scale, or a linear step that does not terminate). */
export const ROUNDED_DIGITS = 12;

const DECIMAL = /^([-+])?(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([-+]?[0-9]+))?$/;

export function parseDecimal(value: string | number): Decimal | undefined {
  const m = DECIMAL.exec(String(value).trim());
  if (!m) return undefined;
  const intPart = m[2] ?? '';
  const frac = m[3] ?? m[4] ?? '';
  const exp = Number(m[5] ?? '0');
  if (Math.abs(exp) > 400) return undefined;
  let units = BigInt(`${intPart}${frac}` || '0');
  if (m[1] === '-') units = -units;
  let scale = frac.length - exp;
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units, scale };
}

function rescale(d: Decimal, scale: number): bigint {
  return d.units * 10n ** BigInt(scale - d.scale);
}

/** Shortest decimal text: no exponent, no trailing fraction zeros, no "-0". */
export function formatDecimal(units: bigint, scale: number): string {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    const int = digits.slice(0, digits.length - scale);
    const frac = digits.slice(digits.length - scale).replace(/0+$/, '');
    digits = frac ? `${int}.${frac}` : int;
  }
  return negative && digits !== '0' ? `-${digits}` : digits;
}

/** The spec loader's rule for a written number, applied to a generated one. */
export function asParamValue(text: string): ParamValue {
  const n = Number(text);
  return Number.isFinite(n) && String(n) === text ? n : text;
}

function decimalOf(r: Record<string, unknown>, key: string, fail: RangeFail): Decimal {
  const d = parseDecimal(r[key] as string | number);
  if (!d) fail(key, `expected a number, found ${JSON.stringify(r[key])}`);
  return d;
}

/** `{from, to, step}`: from, from + step, ... up to `to` (included when it lands on a step). */
export function stepRangeValues(r: StepRange, fail: RangeFail): ParamValue[] {
  const from = decimalOf(r, 'from', fail);
  const to = decimalOf(r, 'to', fail);
  const step = decimalOf(r, 'step', fail);
  const scale = Math.max(from.scale, to.scale, step.scale);
  const f = rescale(from, scale);
  const t = rescale(to, scale);
  const s = rescale(step, scale);
  if (s === 0n) fail('step', `expected a non-zero step, found ${JSON.stringify(r.step)} (a step of 0 never reaches ${JSON.stringify(r.to)})`);
  if (t !== f && (t > f) !== (s > 0n)) {
    fail('step', `expected a ${t > f ? 'positive' : 'negative'} step to go from ${String(r.from)} to ${String(r.to)}, found ${String(r.step)} (a step of the wrong sign)`);
  }
  const count = (t - f) / s + 1n;
  if (count > BigInt(MAX_RANGE_VALUES)) fail('step', `expected at most ${MAX_RANGE_VALUES.toLocaleString('en-US')} values, found ${count.toLocaleString('en-US')} (from ${String(r.from)} to ${String(r.to)} by ${String(r.step)})`);
  const values: ParamValue[] = [];
  for (let i = 0n; i < count; i++) values.push(asParamValue(formatDecimal(f + i * s, scale)));
  return values;
}

/** `{from, to, num, scale}`: num values from `from` to `to` inclusive, evenly or log-spaced. */
export function numRangeValues(r: NumRange, fail: RangeFail): ParamValue[] {
  const from = decimalOf(r, 'from', fail);
  const to = decimalOf(r, 'to', fail);
  const scale = Math.max(from.scale, to.scale);
  const f = rescale(from, scale);
  const t = rescale(to, scale);
  const n = r.num;
  const first = formatDecimal(f, scale);
  const last = formatDecimal(t, scale);
  if (n === 1) return [asParamValue(first)];
  if (f === t) fail('num', `expected from and to to differ for ${n} values, found both ${String(r.from)} (num: 1 gives that one value)`);
  const texts: string[] = [first];
  if (r.scale === 'log') {
    if (f <= 0n || t <= 0n) fail(f <= 0n ? 'from' : 'to', `expected a positive number for a log scale, found ${String(f <= 0n ? r.from : r.to)}`);
    const lf = Math.log(Number(first));
    const lt = Math.log(Number(last));
    for (let i = 1; i < n - 1; i++) texts.push(String(Number(Math.exp(lf + ((lt - lf) * i) / (n - 1)).toPrecision(ROUNDED_DIGITS))));
  } else {
    // from + (to - from) * i / (n - 1), exact when it terminates within ROUNDED_DIGITS more places, else rounded half away from zero.
    const extra = 10n ** BigInt(ROUNDED_DIGITS);
    const den = BigInt(n - 1);
    for (let i = 1; i < n - 1; i++) {
      const num = (t - f) * BigInt(i) * extra;
      const q = num / den;
      const rem = num % den;
      const rounded = 2n * (rem < 0n ? -rem : rem) >= den ? q + (num < 0n ? -1n : 1n) : q;
      texts.push(formatDecimal(f * extra + rounded, scale + ROUNDED_DIGITS));
    }
  }
  texts.push(last);
  const seen = new Set<string>();
  for (const text of texts) {
    if (seen.has(text)) {
      fail('num', `expected ${n} distinct values, found ${text} twice after rounding to ${ROUNDED_DIGITS} significant digits: use fewer values or a wider range`);
    }
    seen.add(text);
  }
  return texts.map(asParamValue);
}
