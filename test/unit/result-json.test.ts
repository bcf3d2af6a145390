/**
 * Map columns read from FORMAT JSON: a "__proto__" key stays a key, and two
 * equal keys (ClickHouse allows them in a Map, a JSON object cannot hold them)
 * are an error, never one of them silently dropped. Documents as chDB 26.7
 * writes them for `SELECT map('__proto__', 1, 'x', 2) AS m`.
 */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/engine.js';
import { readJsonResult } from '../../src/engine/result-json.js';

const doc = (m: string) => `{"meta":[{"name":"m","type":"Map(String, UInt8)"}],"data":[{"m":${m}}],"rows":1,"statistics":{"rows_read":1,"bytes_read":1}}`;

describe('readJsonResult: Map columns', () => {
  it('keeps a "__proto__" key as a key', () => {
    const r = readJsonResult(doc('{"__proto__":1,"x":2}'));
    expect(JSON.stringify(r.rows)).toBe('[{"m":{"__proto__":1,"x":2}}]');
  });

  it('refuses a map with two equal keys (BAD_RESPONSE) instead of keeping the last', () => {
    let err: unknown;
    try {
      readJsonResult(doc('{"a":1,"a":2}'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ codeName: 'BAD_RESPONSE' });
    expect((err as Error).message).toMatch(/Duplicate key 'a'.*a Map with a duplicate key/);
  });

  it('reads an ordinary map exactly, 64-bit values included', () => {
    const r = readJsonResult(`{"meta":[{"name":"m","type":"Map(String, UInt64)"}],"data":[{"m":{"a":"18446744073709551615","b":"1"}}],"rows":1}`);
    expect(r.rows).toEqual([{ m: { a: '18446744073709551615', b: '1' } }]);
  });
});
