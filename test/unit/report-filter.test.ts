import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { parseFilter, passes, unknownColumns } from '../../src/report/filter.js';

const row = (r: Record<string, unknown>) => (c: string) => r[c];

describe('report filter', () => {
  it('keeps rows matching every comparison', () => {
    const f = parseFilter("horizon = 20 and signals >= 30 and symbol != 'ETHUSDT'", 'test');
    expect(passes(f, row({ horizon: 20, signals: '31', symbol: 'BTCUSDT' }))).toBe(true);
    expect(passes(f, row({ horizon: 20, signals: '29', symbol: 'BTCUSDT' }))).toBe(false); // 64-bit values arrive as strings
    expect(passes(f, row({ horizon: 5, signals: '31', symbol: 'BTCUSDT' }))).toBe(false);
    expect(passes(f, row({ horizon: 20, signals: '31', symbol: 'ETHUSDT' }))).toBe(false);
    expect(passes(f, row({ signals: '31', symbol: 'BTCUSDT' }))).toBe(false); // a missing value fails
  });

  it('reads in (...), == and <>, quoted strings with escapes, and AND in any case', () => {
    const f = parseFilter(`horizon IN (5, 20) AND name == "a\\"b" and k <> -1.5e0`, 'test');
    expect(f.conditions).toEqual([
      { column: 'horizon', op: 'in', values: [5, 20] },
      { column: 'name', op: '=', values: ['a"b'] },
      { column: 'k', op: '!=', values: [-1.5] },
    ]);
    expect(passes(f, row({ horizon: 5, name: 'a"b', k: 0 }))).toBe(true);
    expect(passes(f, row({ horizon: 60, name: 'a"b', k: 0 }))).toBe(false);
  });

  it('names unknown columns and refuses what it cannot read, saying what it expected', () => {
    const f = parseFilter('horizon = 20 and hit > 0.5', 'test');
    expect(unknownColumns(f, new Set(['horizon', 'signals']))).toEqual(['hit']);
    for (const [text, expected] of [
      ['horizon 20', /expected a comparison/],
      ['horizon = ', /expected a number or a quoted string, found the end/],
      ['horizon = 20 or x = 1', /expected "and" or the end of the filter \(comparisons join with and only; no or\), found "or"/],
      ['horizon in (5, 20', /expected , or \), found the end/],
      ['horizon = @', /cannot read "@"/],
    ] as const) {
      expect(() => parseFilter(text, 'report.filter in s.yaml')).toThrow(UserError);
      expect(() => parseFilter(text, 'report.filter in s.yaml')).toThrow(expected);
    }
  });
});
