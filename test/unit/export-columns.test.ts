import { describe, expect, it } from 'vitest';
import { commonType, paramValueFor, ResultColumns } from '../../src/export/columns.js';

describe('export column types', () => {
  it('widens the integer types literals give (1 is UInt8, 2^64-1 UInt64) to one that holds all', () => {
    expect(commonType(['UInt8', 'UInt64'])).toBe('UInt64');
    expect(commonType(['UInt8', 'Int8'])).toBe('Int16');
    expect(commonType(['UInt32', 'Int64'])).toBe('Int64');
    expect(commonType(['UInt64', 'Int8'])).toBe('Int128');
    expect(commonType(['UInt256', 'Int8'])).toBe('String');
  });

  it('widens decimals to the widest scale and integer digits, and never rounds a 64-bit integer through a float', () => {
    expect(commonType(['Decimal(9, 2)', 'Decimal(18, 4)'])).toBe('Decimal(18, 4)');
    expect(commonType(['Decimal(9, 2)', 'UInt64'])).toBe('Decimal(22, 2)');
    expect(commonType(['Float64', 'UInt16'])).toBe('Float64');
    expect(commonType(['Float64', 'UInt64'])).toBe('String');
    expect(commonType(['String', 'UInt8'])).toBe('String');
  });

  it('follows columns across shapes: absent or NULL somewhere makes them Nullable', () => {
    const c = new ResultColumns();
    c.addShape('a', [
      { name: 'k', type: 'UInt8' },
      { name: 'v', type: 'Float64' },
      { name: 'tags', type: 'Array(String)' },
    ]);
    c.addShape('a', [{ name: 'ignored: a shape is read once', type: 'String' }]);
    c.addShape('b', [
      { name: 'k', type: 'UInt64' },
      { name: 'v', type: 'Nullable(Float64)' },
      { name: 'extra', type: 'LowCardinality(String)' },
      { name: 'nothing', type: 'Nullable(Nothing)' },
    ]);
    expect(c.columns().map(({ name, type }) => ({ name, type }))).toEqual([
      { name: 'k', type: 'UInt64' },
      { name: 'v', type: 'Nullable(Float64)' },
      { name: 'tags', type: 'Array(String)' }, // absent from b, but an Array cannot be Nullable: empty there
      { name: 'extra', type: 'Nullable(String)' },
      { name: 'nothing', type: 'Nullable(String)' },
    ]);
  });

  it('infers types from the values of v1 records, which carry none', () => {
    const c = new ResultColumns();
    c.addUntyped([{ n: 1, x: 1.5, s: 'a', b: true }]);
    c.addUntyped([{ n: 2, x: 2, s: 'b', b: false }]);
    expect(c.columns().map(({ name, type }) => ({ name, type }))).toEqual([
      { name: 'n', type: 'Int64' },
      { name: 'x', type: 'Float64' },
      { name: 's', type: 'String' },
      { name: 'b', type: 'Bool' },
    ]);
  });

  it('writes param values as their placeholder type holds them (spec text kept exact)', () => {
    expect(paramValueFor('UInt64', '18446744073709551615')).toBe('18446744073709551615');
    expect(paramValueFor('UInt32', '0755')).toBe(755);
    expect(paramValueFor('UInt32', '1e3')).toBe(1000);
    expect(paramValueFor('Int128', -5)).toBe('-5');
    expect(paramValueFor('Float64', '2.50')).toBe(2.5);
    expect(paramValueFor('Bool', 'true')).toBe(true);
    expect(paramValueFor('DateTime', '2024-01-31T10:00:00')).toBe('2024-01-31 10:00:00');
    expect(paramValueFor('String', 25)).toBe('25');
  });
});
