import { describe, expect, it } from 'vitest';
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
