/**
 * Generated param values: exact decimal ranges, log and linear spacing,
 * calendar epochs (no gaps, no overlaps, ISO weeks), and CSV columns.
 */
import { describe, expect, it } from 'vitest';
import { csvColumn, CsvError, parseCsv } from '../../src/grid/csv.js';
import { epochPeriods } from '../../src/grid/epochs.js';
import { numRangeValues, stepRangeValues } from '../../src/grid/range.js';
import type { Epochs } from '../../src/spec/schema.js';

const fail = (key: string, message: string): never => {
  throw new Error(`${key}: ${message}`);
};

describe('numeric ranges', () => {
  it('steps by exact decimals: 0.1 to 0.3 by 0.1 is 0.1, 0.2, 0.3 (no float drift, `to` included)', () => {
    expect(stepRangeValues({ from: 0.1, to: 0.3, step: 0.1 }, fail)).toEqual([0.1, 0.2, 0.3]);
    // float accumulation would give 0.30000000000000004 and 0.7999999999999999 here
    expect(stepRangeValues({ from: 0, to: 1, step: 0.1 }, fail)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(stepRangeValues({ from: 100, to: 1000, step: 300 }, fail)).toEqual([100, 400, 700, 1000]);
  });

  it('includes `to` only when it lands on a step, and counts down with a negative step', () => {
    expect(stepRangeValues({ from: 0, to: 10, step: 3 }, fail)).toEqual([0, 3, 6, 9]);
    expect(stepRangeValues({ from: 1, to: -1, step: -0.5 }, fail)).toEqual([1, 0.5, 0, -0.5, -1]);
    expect(stepRangeValues({ from: 5, to: 5, step: 1 }, fail)).toEqual([5]);
  });

  it('keeps values a double cannot hold as their exact text', () => {
    expect(stepRangeValues({ from: '9007199254740991', to: '9007199254740994', step: 1 }, fail)).toEqual([9007199254740991, 9007199254740992, '9007199254740993', 9007199254740994]);
    expect(stepRangeValues({ from: '0.10', to: '0.30', step: '0.05' }, fail)).toEqual([0.1, 0.15, 0.2, 0.25, 0.3]);
    expect(stepRangeValues({ from: '1e3', to: '3e3', step: '1e3' }, fail)).toEqual([1000, 2000, 3000]);
  });

  it('refuses a step of 0, a step of the wrong sign, and text that is not a number', () => {
    expect(() => stepRangeValues({ from: 1, to: 10, step: 0 }, fail)).toThrow(/^step: expected a non-zero step, found 0/);
    expect(() => stepRangeValues({ from: 1, to: 10, step: -1 }, fail)).toThrow(/^step: expected a positive step to go from 1 to 10, found -1 \(a step of the wrong sign\)/);
    expect(() => stepRangeValues({ from: 10, to: 1, step: 1 }, fail)).toThrow(/^step: expected a negative step/);
    expect(() => stepRangeValues({ from: 'ten', to: 1, step: 1 }, fail)).toThrow(/^from: expected a number, found "ten"/);
    expect(() => stepRangeValues({ from: 0, to: 1e7, step: 1 }, fail)).toThrow(/^step: expected at most 1,000,000 values, found 10,000,001/);
  });

  it('spaces num values evenly (exact where the decimals terminate) or on a log scale', () => {
    expect(numRangeValues({ from: 0, to: 1, num: 5, scale: 'linear' }, fail)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(numRangeValues({ from: 0, to: 1, num: 4, scale: 'linear' }, fail)).toEqual([0, 0.333333333333, 0.666666666667, 1]);
    expect(numRangeValues({ from: 1, to: 1000, num: 4, scale: 'log' }, fail)).toEqual([1, 10, 100, 1000]);
    expect(numRangeValues({ from: 1, to: 100, num: 3, scale: 'log' }, fail)).toEqual([1, 10, 100]);
    expect(numRangeValues({ from: 0.001, to: 10, num: 5, scale: 'log' }, fail)).toEqual([0.001, 0.01, 0.1, 1, 10]);
    expect(numRangeValues({ from: 7, to: 9, num: 1, scale: 'linear' }, fail)).toEqual([7]);
  });

  it('refuses a log scale through zero and values that repeat after rounding', () => {
    expect(() => numRangeValues({ from: 0, to: 10, num: 3, scale: 'log' }, fail)).toThrow(/^from: expected a positive number for a log scale, found 0/);
    expect(() => numRangeValues({ from: 1, to: 1.0000000001, num: 50, scale: 'log' }, fail)).toThrow(/^num: expected 50 distinct values, found .* twice after rounding to 12 significant digits/);
  });
});

describe('date epochs', () => {
  const periods = (from: string, to: string, every: Epochs['every']) => epochPeriods({ from, to, every }, fail).periods;

  it("splits a backfill into years: the first from the real start date, the last to the latest date (the seeds' per-year pattern)", () => {
    const years = periods('2019-03-14', '2026-11-29', 'year');
    expect(years.map((p) => p.label)).toEqual(['2019', '2020', '2021', '2022', '2023', '2024', '2025', '2026']);
    expect(years[0]).toEqual({ label: '2019', start: '2019-03-14', end: '2019-12-31' });
    expect(years[1]).toEqual({ label: '2020', start: '2020-01-01', end: '2020-12-31' });
    expect(years[7]).toEqual({ label: '2026', start: '2026-01-01', end: '2026-11-29' });
  });

  it('leaves no gap and no overlap, whatever the period', () => {
    const dayAfter = (d: string) => new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    for (const every of ['year', 'quarter', 'month', 'week', 'day'] as const) {
      const list = periods('2019-12-30', '2021-02-03', every);
      expect(list[0]?.start).toBe('2019-12-30');
      expect(list[list.length - 1]?.end).toBe('2021-02-03');
      for (let i = 1; i < list.length; i++) {
        expect(list[i]?.start, `${every} ${i}`).toBe(dayAfter(list[i - 1]?.end as string));
        expect((list[i]?.start as string) <= (list[i]?.end as string)).toBe(true);
      }
      expect(new Set(list.map((p) => p.label)).size).toBe(list.length);
    }
  });

  it('labels quarters, months, ISO weeks and days readably', () => {
    expect(periods('2019-03-14', '2019-07-01', 'quarter').map((p) => [p.label, p.start, p.end])).toEqual([
      ['2019Q1', '2019-03-14', '2019-03-31'],
      ['2019Q2', '2019-04-01', '2019-06-30'],
      ['2019Q3', '2019-07-01', '2019-07-01'],
    ]);
    expect(periods('2019-03-14', '2019-04-02', 'month').map((p) => p.label)).toEqual(['2019-03', '2019-04']);
    // 2019-03-14 is a Thursday of ISO week 11; weeks run Monday to Sunday
    expect(periods('2019-03-14', '2019-03-18', 'week')).toEqual([
      { label: '2019W11', start: '2019-03-14', end: '2019-03-17' },
      { label: '2019W12', start: '2019-03-18', end: '2019-03-18' },
    ]);
    // ISO week-years: 2021-01-01 belongs to 2020W53, 2019-12-30 to 2020W01
    expect(periods('2020-12-28', '2021-01-04', 'week').map((p) => p.label)).toEqual(['2020W53', '2021W01']);
    expect(periods('2019-12-30', '2019-12-30', 'week').map((p) => p.label)).toEqual(['2020W01']);
    expect(periods('2019-03-14', '2019-03-15', 'day').map((p) => p.label)).toEqual(['2019-03-14', '2019-03-15']);
  });

  it('gives DateTimes when the bounds carry a time: a period ends one second before the next starts', () => {
    const list = epochPeriods({ from: '2019-03-14 09:30:00', to: '2019-03-16', every: 'day' }, fail);
    expect(list.withTime).toBe(true);
    expect(list.periods).toEqual([
      { label: '2019-03-14', start: '2019-03-14 09:30:00', end: '2019-03-14 23:59:59' },
      { label: '2019-03-15', start: '2019-03-15 00:00:00', end: '2019-03-15 23:59:59' },
      { label: '2019-03-16', start: '2019-03-16 00:00:00', end: '2019-03-16 23:59:59' },
    ]);
  });

  it('refuses an empty range and dates that are not real', () => {
    expect(() => periods('2026-01-01', '2019-01-01', 'year')).toThrow(/^to: expected a date on or after from \(2026-01-01\), found "2019-01-01": an empty range/);
    expect(() => periods('2019-02-30', '2020-01-01', 'year')).toThrow(/^from: expected a real calendar date, found "2019-02-30"/);
    expect(() => periods('March 2019', '2020-01-01', 'year')).toThrow(/^from: expected a date YYYY-MM-DD/);
  });
});

describe('CSV columns', () => {
  it('reads RFC 4180: quoted commas, doubled quotes, line breaks in quotes, CRLF, a BOM', () => {
    const text = '\uFEFFsymbol,venue,note\r\nBTCUSDT,binance,"a, b"\r\n"ETH""USDT",kraken,"two\nlines"\r\nSOLUSDT,binance,\r\n';
    expect(parseCsv(text)).toEqual([
      ['symbol', 'venue', 'note'],
      ['BTCUSDT', 'binance', 'a, b'],
      ['ETH"USDT', 'kraken', 'two\nlines'],
      ['SOLUSDT', 'binance', ''],
    ]);
    expect(csvColumn(text, 'symbol').map((c) => c.value)).toEqual(['BTCUSDT', 'ETH"USDT', 'SOLUSDT']);
    expect(csvColumn(text, 'note').map((c) => c.value)).toEqual(['a, b', 'two\nlines', '']);
  });

  it('names what is wrong: a missing column, an open quote, a short row', () => {
    expect(() => csvColumn('a,b\n1,2\n', 'symbol')).toThrow(CsvError);
    expect(() => csvColumn('a,b\n1,2\n', 'symbol')).toThrow(/expected a column named "symbol" in the header, found "a", "b"/);
    expect(() => parseCsv('a\n"open\n')).toThrow(/line 2: expected a closing quote/);
    expect(() => csvColumn('a,b\n1\n', 'b')).toThrow(/row 2: expected at least 2 fields/);
  });
});
