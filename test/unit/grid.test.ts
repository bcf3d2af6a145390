import { describe, expect, it } from 'vitest';
import { rankOf, spreadLimit } from '../../src/grid/sample.js';
import { compileWhere } from '../../src/grid/where.js';
import type { ParamValue } from '../../src/results/record.js';
import { expandGrid } from '../../src/spec/grid.js';
import { configIdOf, unitIdOf } from '../../src/spec/ids.js';
import { parseSpecText } from '../../src/spec/load.js';

describe('grid expansion', () => {
  it('gives every config the id configIdOf gives its params, grouped and sorted', () => {
    const spec = parseSpecText(
      'name: g\ntemplate: q.sql\nparams:\n  sym: ["a b", "x__y", "東京"]\n  n: [-1, 2.5]\n  k: [1, 2]\nunit: [n]\nexclude:\n  - { sym: "x__y", k: 2 }\n',
      'g.yaml',
    );
    const grid = expandGrid(spec, 'g.yaml');
    expect(grid.configCount).toBe(3 * 2 * 2 - 2);
    for (const unit of grid.units) {
      expect(unit.id).toBe(unitIdOf(unit.params, ['n']));
      for (const c of unit.configs) {
        expect(c.id).toBe(configIdOf(c.params, ['n'], ['sym', 'k']));
        expect(c.unit).toBe(unit.id);
      }
      const ids = unit.configs.map((c) => c.id);
      expect(ids).toEqual([...ids].sort());
    }
    expect(grid.units.map((u) => u.id)).toEqual(['n--1', 'n-2.5']);
  });

  it('puts everything in one unit named "all" when no unit params are given', () => {
    const spec = parseSpecText('name: g\ntemplate: q.sql\nparams:\n  a: [1, 2]\n', 'g.yaml');
    const grid = expandGrid(spec, 'g.yaml');
    expect(grid.units.map((u) => [u.id, u.configs.map((c) => c.id)])).toEqual([['all', ['a-1', 'a-2']]]);
  });
});

describe('richer grids', () => {
  const base = 'name: g\ntemplate: q.sql\n';

  it('takes linked params pairwise (as GNU Parallel :::+) and crosses the rest', () => {
    const spec = parseSpecText(`${base}params:\n  start: [a, b, c]\n  end: [x, y, z]\n  k: [1, 2]\nlink: [[start, end]]\n`, 'g.yaml');
    const grid = expandGrid(spec, 'g.yaml');
    const configs = grid.units.flatMap((u) => u.configs.map((c) => c.params));
    expect(configs).toHaveLength(6);
    expect(configs.map((p) => `${p['start']}${p['end']}${p['k']}`).sort()).toEqual(['ax1', 'ax2', 'by1', 'by2', 'cz1', 'cz2']);
    expect(grid.stats.combinations).toBe(6);
  });

  it('refuses linked lists of unequal length, naming the link', () => {
    const spec = parseSpecText(`${base}params:\n  start: [a, b, c]\n  end: [x, y]\nlink: [[start, end]]\n`, 'g.yaml');
    expect(() => expandGrid(spec, 'g.yaml', { locate: (p) => `g.yaml@${p.join('.')}` })).toThrow(
      /^g\.yaml@link\.0: link\[0\]: expected params of one length \(they are taken pairwise\), found start 3 values, end 2 values$/,
    );
  });

  it('puts epoch periods in ids as labels and their start and end in the params', () => {
    const spec = parseSpecText(`${base}params:\n  symbol: [BTC]\n  period: {from: 2019-03-14, to: 2020-05-01, every: quarter}\nunit: [symbol]\n`, 'g.yaml');
    const grid = expandGrid(spec, 'g.yaml');
    const configs = grid.units[0]?.configs ?? [];
    expect(configs.map((c) => c.id)).toEqual(['symbol-BTC__period-2019Q1', 'symbol-BTC__period-2019Q2', 'symbol-BTC__period-2019Q3', 'symbol-BTC__period-2019Q4', 'symbol-BTC__period-2020Q1', 'symbol-BTC__period-2020Q2']);
    expect(configs[0]?.params).toEqual({ symbol: 'BTC', period: '2019Q1', 'period.start': '2019-03-14', 'period.end': '2019-03-31' });
    expect(configs[5]?.params).toEqual({ symbol: 'BTC', period: '2020Q2', 'period.start': '2020-04-01', 'period.end': '2020-05-01' });
  });

  it('keeps only the combinations where `where` holds, evaluating it once per combination of the params it names', async () => {
    const spec = parseSpecText(`${base}params:\n  a: {from: 1, to: 40, step: 1}\n  b: {from: 1, to: 50, step: 1}\n  c: {from: 0.1, to: 1, step: 0.1}\nwhere: "a < b"\nexclude:\n  - {c: 0.5}\n`, 'g.yaml');
    const compiled = await compileWhere('a < b', ['a', 'b', 'c'], []);
    let evaluations = 0;
    const counting = { ...compiled, test: (s: Map<string, ParamValue>) => (evaluations++, compiled.test(s)) };
    const grid = expandGrid(spec, 'g.yaml', { where: counting });
    const kept = grid.units.flatMap((u) => u.configs);
    expect(kept.every((c) => Number(c.params['a']) < Number(c.params['b']) && c.params['c'] !== 0.5)).toBe(true);
    // pairs a < b: sum over a of (50 - a) = 40 * 50 - 820 = 1180, times 9 values of c
    expect(grid.configCount).toBe(1180 * 9);
    expect(grid.stats.removed).toEqual({ exclude: 40 * 50, where: (40 * 50 - 1180) * 9, sample: 0, limit: 0 });
    expect(evaluations).toBe(40 * 50);
  });

  it('samples deterministically: same seed same subset, a larger n a superset, another seed another subset', () => {
    const spec = (n: number, seed: number) =>
      parseSpecText(`${base}params:\n  a: {from: 1, to: 30, step: 1}\n  b: {from: 1, to: 30, step: 1}\nunit: [a]\nsample: {n: ${n}, seed: ${seed}}\n`, 'g.yaml');
    const ids = (n: number, seed: number) => new Set(expandGrid(spec(n, seed), 'g.yaml').units.flatMap((u) => u.configs.map((c) => c.id)));
    const small = ids(100, 7);
    expect(small.size).toBe(100);
    expect([...ids(100, 7)]).toEqual([...small]);
    const large = ids(400, 7);
    expect(large.size).toBe(400);
    expect([...small].every((id) => large.has(id))).toBe(true);
    const other = ids(100, 8);
    expect([...other].filter((id) => small.has(id)).length).toBeLessThan(40);
    // the kept configs are the lowest ranks of cyrb53(id, seed)
    const all = expandGrid(parseSpecText(`${base}params:\n  a: {from: 1, to: 30, step: 1}\n  b: {from: 1, to: 30, step: 1}\nunit: [a]\n`, 'g.yaml'), 'g.yaml');
    const lowest = all.units.flatMap((u) => u.configs.map((c) => c.id)).sort((x, y) => rankOf(x, 7) - rankOf(y, 7)).slice(0, 100);
    expect(new Set(lowest)).toEqual(small);
  });

  it('pins the rank function (cyrb53): changing it would change every sweep sample', () => {
    expect(rankOf('a', 0)).toBe(7929297801672961);
    expect(rankOf('b', 0)).toBe(8684336938537663);
    expect(rankOf('revenge', 0)).toBe(4051478007546757);
    expect(rankOf('symbol-BTC__threshold-1', 7)).toBe(5604152062947512);
  });

  it('warns (and keeps everything) when the sample is larger than the grid', () => {
    const spec = parseSpecText(`${base}params:\n  a: [1, 2, 3]\nsample: {n: 10, seed: 1}\n`, 'g.yaml');
    const grid = expandGrid(spec, 'g.yaml', { locate: (p) => `g.yaml@${p.join('.')}` });
    expect(grid.configCount).toBe(3);
    expect(grid.warnings).toEqual(['g.yaml@sample.n: sample.n: 10 is more than the 3 configs left after exclude and where: keeping all of them']);
  });

  it('--limit spreads a smoke run over the units', () => {
    const spec = parseSpecText(`${base}params:\n  u: [a, b, c, d]\n  k: {from: 1, to: 10, step: 1}\nunit: [u]\n`, 'g.yaml');
    const grid = expandGrid(spec, 'g.yaml', { limit: 8 });
    expect(grid.limited).toEqual({ n: 8, of: 40 });
    expect(grid.configCount).toBe(8);
    // evenly spaced over each unit's configs in id order (k-1, k-10, k-2, ..., k-9)
    expect(grid.units.map((u) => u.configs.map((c) => c.params['k']))).toEqual([
      [2, 7],
      [2, 7],
      [2, 7],
      [2, 7],
    ]);
    const two = expandGrid(spec, 'g.yaml', { limit: 2 });
    expect(two.units.map((u) => u.id)).toEqual(['u-b', 'u-d']);
    expect(spreadLimit([1, 10, 10], 9)).toEqual([[0], [1, 3, 6, 8], [1, 3, 6, 8]]);
  });
});
