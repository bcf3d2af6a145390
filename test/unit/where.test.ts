/**
 * `where:` through the fenced mathjs instance: the example, text
 * comparisons, epoch fields, and everything outside a constraint refused
 * before it runs.
 */
import { describe, expect, it } from 'vitest';
import { compileWhere, WhereError } from '../../src/grid/where.js';
import type { ParamValue } from '../../src/results/record.js';

const PARAMS = ['symbol', 'threshold', 'lookback', 'period'];
const scope = (o: Record<string, ParamValue>) => new Map(Object.entries(o));

async function refusal(text: string): Promise<string> {
  try {
    await compileWhere(text, PARAMS, ['period']);
  } catch (err) {
    expect(err).toBeInstanceOf(WhereError);
    return (err as Error).message;
  }
  throw new Error(`expected ${text} to be refused`);
}

describe('where', () => {
  it("evaluates the issue's constraint, comparing text with text", async () => {
    const w = await compileWhere("lookback < threshold * 2 and not (symbol == 'SOLUSDT' and threshold == 0)", PARAMS, ['period']);
    expect(w.names.sort()).toEqual(['lookback', 'symbol', 'threshold']);
    expect(w.test(scope({ symbol: 'BTCUSDT', threshold: 10, lookback: 5 }))).toBe(true);
    expect(w.test(scope({ symbol: 'BTCUSDT', threshold: 10, lookback: 20 }))).toBe(false);
    expect(w.test(scope({ symbol: 'SOLUSDT', threshold: 0, lookback: -1 }))).toBe(false);
    expect(w.test(scope({ symbol: 'ETHUSDT', threshold: 0, lookback: -1 }))).toBe(true);
  });

  it('reads epoch fields as text dates, and numbers written as text as numbers', async () => {
    const w = await compileWhere("period.start >= '2021-01-01' and period != '2023' and threshold == 250", PARAMS, ['period']);
    expect(w.names.sort()).toEqual(['period', 'period.start', 'threshold']);
    expect(w.test(scope({ 'period.start': '2021-01-01', period: '2021', threshold: '250' }))).toBe(true);
    expect(w.test(scope({ 'period.start': '2020-03-14', period: '2020', threshold: 250 }))).toBe(false);
    expect(w.test(scope({ 'period.start': '2023-01-01', period: '2023', threshold: 250 }))).toBe(false);
  });

  it('compares exactly: no tolerance drops 1000000000001 or keeps 0.3 for 0.30000000000001', async () => {
    const ne = await compileWhere('threshold != 1000000000000', PARAMS, []);
    expect([1000000000000, 1000000000001, 1000000000002].map((t) => ne.test(scope({ threshold: t })))).toEqual([false, true, true]);
    const gt = await compileWhere('threshold > 1000000000000', PARAMS, []);
    expect(gt.test(scope({ threshold: 1000000000001 }))).toBe(true);
    const eq = await compileWhere('threshold == 0.30000000000001', PARAMS, []);
    expect([0.3, 0.30000000000001].map((t) => eq.test(scope({ threshold: t })))).toEqual([false, true]);
  });

  it('offers arithmetic, a few functions and a ? b : c', async () => {
    const w = await compileWhere('max(lookback, 10) % 7 == 3 ? abs(threshold - 5) <= 1 : false', PARAMS, []);
    expect(w.test(scope({ lookback: 10, threshold: 4 }))).toBe(true);
    expect(w.test(scope({ lookback: 11, threshold: 4 }))).toBe(false);
  });

  it('refuses what does not parse, names that are not params, and non-conditions', async () => {
    expect(await refusal('lookback <')).toMatch(/^expected an expression over the params \(symbol, threshold, lookback, period\), found a syntax error: /);
    expect(await refusal('lookbak > 1')).toBe('expected a param name (one of: symbol, threshold, lookback, period), found "lookbak"');
    expect(await refusal('3 cm > 1')).toMatch(/found "cm"/);
    const w = await compileWhere('lookback * 2', PARAMS, []);
    expect(() => w.test(scope({ lookback: 1 }))).toThrow(/expected true or false, found 2/);
    const text = await compileWhere('symbol * 2 > 1', PARAMS, []);
    expect(() => text.test(scope({ symbol: 'BTC' }))).toThrow(WhereError);
  });

  it('refuses everything but a condition on the params: no assignment, definitions, property access or other functions', async () => {
    expect(await refusal('lookback = 3')).toMatch(/found an assignment/);
    expect(await refusal('f(x) = x')).toMatch(/found a function definition/);
    expect(await refusal('[1, 2]')).toMatch(/found a list/);
    expect(await refusal('{a: 1}')).toMatch(/found an object/);
    expect(await refusal('lookback > 1; lookback < 3')).toMatch(/found several expressions/);
    for (const fn of ['evaluate("1")', 'import({}, {})', 'parse("1")', 'createUnit("x")', 'config({})', 'simplify("x")']) {
      expect(await refusal(fn)).toMatch(/^expected a function of: abs, min, max, /);
    }
    expect(await refusal('symbol.constructor')).toMatch(/^expected \.start or \.end of a date epoch param \(period\), found symbol\.constructor/);
    expect(await refusal('period.constructor')).toMatch(/found period\.constructor/);
    expect(await refusal('period["start"]')).toMatch(/found period\["start"\]/);
    expect(await refusal('"x".length')).toMatch(/found "x"\.length/);
  });
});
