/**
 * Date epochs, `{from, to, every: year|quarter|month|week|day}`: consecutive
 * calendar periods, the first starting at `from` and the last ending at `to`
 * (the seeds' per-year split: "first year from the real start date, last year
 * to the latest date"). Each period's start is its first day and its end its
 * last day, both inclusive, so periods neither overlap nor leave gaps; with a
 * time in the bounds they are DateTimes and a period ends one second before the
 * next begins. Weeks are ISO weeks (Monday to Sunday, numbered in their ISO
 * week-year). Wall-clock arithmetic in UTC: no time zone, no DST jumps.
 */
import type { Epochs } from '../spec/schema.js';
import { MAX_RANGE_VALUES, type RangeFail } from './range.js';

export interface Period {
  /** Readable and filesystem-safe: 2019, 2019Q2, 2019-03, 2019W11, 2019-03-14. */
  label: string;
  /** First day (or instant) of the period, inclusive: `YYYY-MM-DD` or `YYYY-MM-DD hh:mm:ss`. */
  start: string;
  /** Last day (or second) of the period, inclusive. */
  end: string;
}

export interface EpochList {
  periods: Period[];
  /** The bounds carry a time: start and end are DateTimes, not Dates. */
  withTime: boolean;
}

/** The fields an epoch param offers to templates and `where`: `{period.start:Date}`. */
export const EPOCH_FIELDS = ['start', 'end'] as const;

const BOUND = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2}):([0-9]{2}))?$/;
const DAY_MS = 86_400_000;

/** Milliseconds since 1970 of a wall-clock time (read as UTC), and whether it had a time. */
function parseBound(text: string, key: 'from' | 'to', fail: RangeFail): { ms: number; hasTime: boolean } {
  const m = BOUND.exec(text.trim());
  if (!m) fail(key, `expected a date YYYY-MM-DD (or YYYY-MM-DD hh:mm:ss), found ${JSON.stringify(text)}`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hasTime = m[4] !== undefined;
  const [h, mi, s] = hasTime ? [Number(m[4]), Number(m[5]), Number(m[6])] : [0, 0, 0];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    fail(key, `expected a real calendar date${hasTime ? ' and time' : ''}, found ${JSON.stringify(text)}`);
  }
  return { ms, hasTime };
}

export function epochPeriods(e: Epochs, fail: RangeFail): EpochList {
  const from = parseBound(e.from, 'from', fail);
  const to = parseBound(e.to, 'to', fail);
  const withTime = from.hasTime || to.hasTime;
  // A bare date as the last bound means its whole day.
  const last = withTime && !to.hasTime ? to.ms + DAY_MS - 1000 : to.ms;
  if (last < from.ms) fail('to', `expected a date on or after from (${e.from}), found ${JSON.stringify(e.to)}: an empty range`);
  const unit = withTime ? 1000 : DAY_MS;
  const periods: Period[] = [];
  for (let cur = from.ms; cur <= last; ) {
    const next = nextBoundary(cur, e.every);
    periods.push({ label: labelOf(cur, e.every), start: format(cur, withTime), end: format(Math.min(next - unit, last), withTime) });
    if (periods.length > MAX_RANGE_VALUES) fail('every', `expected at most ${MAX_RANGE_VALUES.toLocaleString('en-US')} periods, found more (every ${e.every} from ${e.from} to ${e.to})`);
    cur = next;
  }
  return { periods, withTime };
}

/** The first instant of the period after the one holding `ms`. */
function nextBoundary(ms: number, every: Epochs['every']): number {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  switch (every) {
    case 'year':
      return Date.UTC(y + 1, 0, 1);
    case 'quarter':
      return Date.UTC(y, Math.floor(mo / 3) * 3 + 3, 1);
    case 'month':
      return Date.UTC(y, mo + 1, 1);
    case 'week': {
      const monday = (d.getUTCDay() + 6) % 7; // days since Monday
      return Date.UTC(y, mo, d.getUTCDate() - monday + 7);
    }
    case 'day':
      return Date.UTC(y, mo, d.getUTCDate() + 1);
  }
}

function labelOf(ms: number, every: Epochs['every']): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  switch (every) {
    case 'year':
      return String(y);
    case 'quarter':
      return `${y}Q${Math.floor(mo / 3) + 1}`;
    case 'month':
      return `${y}-${pad(mo + 1)}`;
    case 'week': {
      // ISO 8601: the week belongs to the year of its Thursday.
      const thursday = Date.UTC(y, mo, d.getUTCDate() - ((d.getUTCDay() + 6) % 7) + 3);
      const isoYear = new Date(thursday).getUTCFullYear();
      const week = Math.floor((thursday - Date.UTC(isoYear, 0, 1)) / (7 * DAY_MS)) + 1;
      return `${isoYear}W${pad(week)}`;
    }
    case 'day':
      return `${y}-${pad(mo + 1)}-${pad(d.getUTCDate())}`;
  }
}

function format(ms: number, withTime: boolean): string {
  const d = new Date(ms);
  const date = `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  return withTime ? `${date} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` : date;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
