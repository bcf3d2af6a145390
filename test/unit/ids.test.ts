import { describe, expect, it } from 'vitest';
import { configIdOf, decodeId, decodeValue, encodeValue, unitIdOf } from '../../src/spec/ids.js';

const hostile = [
  'BTCUSDT',
  'a b',
  "it's",
  'x"y',
  'semi;colon',
  '$(rm -rf /)',
  '../../etc/passwd',
  'back\\slash',
  'tab\there',
  'new\nline',
  'a__b',
  '_lead',
  'trail_',
  'one_two',
  'Ünïcödé 東京',
  '~tilde',
  '',
  '.',
  '-5',
];

describe('ids', () => {
  it('encode values reversibly into filesystem-safe text', () => {
    for (const v of hostile) {
      const enc = encodeValue(v);
      expect(enc, v).toMatch(/^[A-Za-z0-9.+_~-]+$/);
      expect(enc, v).not.toContain('__');
      expect(enc, v).not.toMatch(/^_|_$/);
      expect(decodeValue(enc), v).toBe(v);
    }
  });

  it('builds the documented id shape and decodes it back', () => {
    const params = { symbol: 'BTCUSDT', threshold: 250, lookback: 10, z: 1.5 };
    expect(unitIdOf(params, ['symbol', 'threshold'])).toBe('symbol-BTCUSDT__threshold-250');
    const id = configIdOf(params, ['symbol', 'threshold'], ['lookback', 'z']);
    expect(id).toBe('symbol-BTCUSDT__threshold-250__lookback-10__z-1.5');
    expect(decodeId(id)).toEqual({ symbol: 'BTCUSDT', threshold: '250', lookback: '10', z: '1.5' });
  });

  it('round-trips hostile values through whole ids', () => {
    for (const v of hostile) {
      const id = configIdOf({ name_x: v, k: -3 }, [], ['name_x', 'k']);
      expect(id).not.toContain('/');
      expect(decodeId(id)).toEqual({ name_x: v, k: '-3' });
    }
  });

  it('names the single unit "all" when no unit params are given', () => {
    expect(unitIdOf({ a: 1 }, [])).toBe('all');
  });
});
