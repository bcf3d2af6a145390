import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/engine.js';
import { backoffMs, classifyFailure, cleanMessage, codeFromMessage, MAX_MESSAGE_CHARS } from '../../src/worker/retry.js';

const engineErr = (message: string, codeName: string, transient: boolean, code?: number): EngineError =>
  new EngineError(message, { code, codeName, transient });

describe('classifyFailure', () => {
  it('connection trouble is an outage, not the config’s fault', () => {
    for (const name of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH']) {
      expect(classifyFailure(engineErr(`connect ${name} 127.0.0.1:8123`, name, true)).kind).toBe('connection');
    }
    const plain = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifyFailure(plain).kind).toBe('connection');
    expect(classifyFailure(new Error('socket hang up')).kind).toBe('connection');
  });

  it("the server's own limit is back-pressure (busy), never a config's failure", () => {
    expect(classifyFailure(engineErr('Code: 202, e.displayText() = DB::Exception: Too many simultaneous queries', 'TOO_MANY_SIMULTANEOUS_QUERIES', true, 202)).kind).toBe('busy');
    expect(classifyFailure(engineErr('Code: 745. DB::Exception: The server is overloaded. (SERVER_OVERLOADED)', 'SERVER_OVERLOADED', true, 745)).kind).toBe('busy');
  });

  it('memory and timeouts are transient', () => {
    expect(classifyFailure(engineErr('Code: 241, Memory limit (for query) exceeded', 'MEMORY_LIMIT_EXCEEDED', true, 241)).kind).toBe('transient');
    expect(classifyFailure(engineErr('No result within 10 ms', 'REQUEST_TIMEOUT', true)).kind).toBe('transient');
    expect(classifyFailure(engineErr('Code: 159, Timeout exceeded', 'TIMEOUT_EXCEEDED', false, 159)).kind).toBe('transient');
    // A server shutting down cancels queries: we only cancel when stopping ourselves.
    expect(classifyFailure(engineErr('Code: 394, Query was cancelled', 'QUERY_WAS_CANCELLED', false, 394)).kind).toBe('transient');
  });

  it('syntax, unknown table or column and type mismatch are permanent, with their numeric code', () => {
    const cases: Array<[number, string]> = [
      [62, 'SYNTAX_ERROR'],
      [60, 'UNKNOWN_TABLE'],
      [47, 'UNKNOWN_IDENTIFIER'],
      [53, 'TYPE_MISMATCH'],
      [43, 'ILLEGAL_TYPE_OF_ARGUMENT'],
    ];
    for (const [code, name] of cases) {
      const f = classifyFailure(engineErr(`Code: ${code}, e.displayText() = DB::Exception: x`, name, false, code));
      expect(f).toMatchObject({ kind: 'permanent', error: { code, name } });
    }
  });

  it('recovers the numeric code from an 18.16 message when an error carries none', () => {
    const f = classifyFailure(new Error('Code: 62, e.displayText() = DB::Exception: Syntax error'));
    expect(f.error.code).toBe(62);
    expect(codeFromMessage('Code: 60. DB::Exception: Table x does not exist. (UNKNOWN_TABLE)')).toBe(60);
    expect(codeFromMessage('nothing')).toBeNull();
  });
});

describe('error messages in records', () => {
  const hostile = [
    'tab\there, "quotes", \'single\', back\\slash',
    'new\nline\r\nand CR',
    'NUL\u0000 and \u0001\u001f controls, DEL\u007f',
    'line sep \u2028 para sep \u2029',
    'lone high \ud800 and lone low \udc00 surrogates',
    Buffer.from([0x43, 0x6f, 0x64, 0x65, 0x3a, 0x20, 0x36, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82]).toString('utf8'),
  ];

  it('serialize to one valid JSON line that round-trips as valid UTF-8', () => {
    for (const m of hostile) {
      const err = classifyFailure(engineErr(m, 'CANNOT_PARSE_TEXT', false, 6)).error;
      const text = JSON.stringify({ v: 1, error: err });
      expect(text).not.toMatch(/[\n\r]/);
      const bytes = Buffer.from(text, 'utf8');
      // Decoding strictly proves the bytes on disk are valid UTF-8.
      const decoded = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      const back = JSON.parse(decoded) as { error: { message: string; code: number } };
      expect(back.error.code).toBe(6);
      expect(back.error.message.replace(/\ufffd/g, '')).toBe(m.replace(/[\ud800-\udfff]/g, '').replace(/\ufffd/g, ''));
    }
  });

  it('decodes raw bytes that are not UTF-8 with replacement characters', () => {
    expect(cleanMessage(new Uint8Array([0x61, 0xff, 0x62]))).toBe('a\ufffdb');
  });

  it('caps very long messages without splitting a surrogate pair', () => {
    const long = `${'x'.repeat(MAX_MESSAGE_CHARS - 1)}😀${'y'.repeat(100)}`;
    const out = cleanMessage(long);
    expect(out.length).toBeLessThan(MAX_MESSAGE_CHARS + 40);
    expect(out).toMatch(/more characters\)$/);
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(out))).not.toThrow();
    expect(out).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});

describe('backoffMs', () => {
  it('grows exponentially with equal jitter and a cap', () => {
    const opts = { baseMs: 100, capMs: 1000 };
    expect(backoffMs(1, opts, () => 0)).toBe(50);
    expect(backoffMs(1, opts, () => 1)).toBe(100);
    expect(backoffMs(2, opts, () => 0)).toBe(100);
    expect(backoffMs(3, opts, () => 1)).toBe(400);
    expect(backoffMs(10, opts, () => 1)).toBe(1000);
    expect(backoffMs(10, opts, () => 0)).toBe(500);
    const samples = Array.from({ length: 200 }, () => backoffMs(2, opts));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...samples)).toBeLessThanOrEqual(200);
    expect(new Set(samples.map((s) => Math.round(s))).size).toBeGreaterThan(20);
  });
});
