import { describe, expect, it } from 'vitest';
import { LiteralError, quoteString, renderLiteral } from '../../src/generate/literal.js';

describe('typed literals', () => {
  it('quotes and escapes strings', () => {
    expect(quoteString("it's")).toBe("'it\\'s'");
    expect(quoteString('a\\b')).toBe("'a\\\\b'");
    expect(quoteString('x\ny\tz\r\0')).toBe("'x\\ny\\tz\\r\\0'");
    expect(quoteString('\u0001')).toBe("'\\x01'");
    expect(quoteString('東京')).toBe("'東京'");
    expect(renderLiteral(250, 'String')).toBe("'250'");
  });

  it('range-checks integers', () => {
    expect(renderLiteral(255, 'UInt8')).toBe('toUInt8(255)');
    expect(() => renderLiteral(256, 'UInt8')).toThrow(LiteralError);
    expect(() => renderLiteral(-1, 'UInt32')).toThrow(/UInt32 in \[0, 4294967295\]/);
    expect(renderLiteral(-5, 'Int32')).toBe('toInt32(-5)');
    expect(renderLiteral('18446744073709551615', 'UInt64')).toBe('toUInt64(18446744073709551615)');
    expect(renderLiteral('-170141183460469231731687303715884105728', 'Int128')).toBe("toInt128('-170141183460469231731687303715884105728')");
    // Where ClickHouse takes only a literal (LIMIT, aggregate parameters): the plain number.
    expect(renderLiteral(255, 'UInt8', { bare: true })).toBe('255');
    expect(renderLiteral(-5, 'Int32', { bare: true })).toBe('(-5)');
    expect(() => renderLiteral('18446744073709551616', 'UInt64')).toThrow(LiteralError);
    expect(() => renderLiteral(1.5, 'Int64')).toThrow(/expected an integer/);
    expect(() => renderLiteral('1; DROP TABLE x', 'Int64')).toThrow(/expected an integer/);
    expect(() => renderLiteral(2 ** 60, 'Int64')).toThrow(/beyond 2\^53/);
  });

  it('keeps floats typed as floats', () => {
    expect(renderLiteral(2, 'Float64')).toBe('2.0');
    expect(renderLiteral(1.5, 'Float64')).toBe('1.5');
    expect(renderLiteral(-0.25, 'Float64')).toBe('(-0.25)');
    expect(renderLiteral('1e-7', 'Float64')).toBe('1e-7');
    // Float32 parsed from the text itself, as ClickHouse's own binding does.
    expect(renderLiteral('0.1', 'Float32')).toBe("toFloat32('0.1')");
    expect(renderLiteral(-0.25, 'Float32')).toBe("toFloat32('-0.25')");
    expect(renderLiteral('0.1', 'Float32', { bare: true })).toBe('0.1');
    expect(() => renderLiteral('1.5abc', 'Float64')).toThrow(LiteralError);
    expect(() => renderLiteral(Number.POSITIVE_INFINITY, 'Float64')).toThrow(/finite/);
  });

  it('validates and back-quotes identifiers', () => {
    expect(renderLiteral('trades', 'Identifier')).toBe('`trades`');
    expect(renderLiteral('db.trades', 'Identifier')).toBe('`db`.`trades`');
    expect(() => renderLiteral('x`; DROP TABLE y; --', 'Identifier')).toThrow(LiteralError);
    expect(() => renderLiteral('a.b.c', 'Identifier')).toThrow(LiteralError);
  });

  it('checks dates, fixed strings and booleans', () => {
    expect(renderLiteral('2024-02-29', 'Date')).toBe("toDate('2024-02-29')");
    expect(() => renderLiteral('2023-02-29', 'Date')).toThrow(/real calendar date/);
    expect(renderLiteral('2024-01-01T10:00:00', 'DateTime')).toBe("toDateTime('2024-01-01 10:00:00')");
    expect(() => renderLiteral('2024-01-01 25:00:00', 'DateTime')).toThrow(/time of day/);
    expect(renderLiteral('abc', 'FixedString(3)')).toBe("'abc'");
    expect(() => renderLiteral('abcd', 'FixedString(3)')).toThrow(/at most 3 bytes/);
    expect(renderLiteral('true', 'Bool')).toBe('1');
    expect(() => renderLiteral('yes', 'Bool')).toThrow(LiteralError);
  });
});
