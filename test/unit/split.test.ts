import { describe, expect, it } from 'vitest';
import { splitStatements } from '../../src/engine/index.js';
import { UserError } from '../../src/errors.js';

describe('splitStatements', () => {
  it('splits on semicolons and strips them and the surrounding whitespace', () => {
    expect(splitStatements('SELECT 1;\nSELECT 2;\n')).toEqual(['SELECT 1', 'SELECT 2']);
    expect(splitStatements('  SELECT 1  ')).toEqual(['SELECT 1']);
    expect(splitStatements('SET max_threads = 2; SELECT 1')).toEqual(['SET max_threads = 2', 'SELECT 1']);
  });

  it('returns nothing for empty input, whitespace, lone semicolons and comments', () => {
    expect(splitStatements('')).toEqual([]);
    expect(splitStatements(' \n\t ')).toEqual([]);
    expect(splitStatements(';;\n;')).toEqual([]);
    expect(splitStatements('-- just a note\n/* and a block; with a semicolon */')).toEqual([]);
  });

  it('drops empty statements and statements that are only comments', () => {
    expect(splitStatements(';; SELECT 1 ;;\n;')).toEqual(['SELECT 1']);
    expect(splitStatements('SELECT 1; -- done\n; /* only a comment */ ;')).toEqual(['SELECT 1']);
  });

  it('does not split inside string literals, with either escape style', () => {
    expect(splitStatements("SELECT 'a;b'; SELECT 2")).toEqual(["SELECT 'a;b'", 'SELECT 2']);
    expect(splitStatements("SELECT 'it\\'s; fine'; SELECT 'x''y;z'")).toEqual([
      "SELECT 'it\\'s; fine'",
      "SELECT 'x''y;z'",
    ]);
    expect(splitStatements("SELECT '\\\\'; SELECT 3")).toEqual(["SELECT '\\\\'", 'SELECT 3']);
  });

  it('does not split inside quoted identifiers', () => {
    expect(splitStatements('SELECT 1 AS `a;b`; SELECT 2 AS "c;d"')).toEqual(['SELECT 1 AS `a;b`', 'SELECT 2 AS "c;d"']);
    expect(splitStatements('SELECT 1 AS `x``;`; SELECT 2')).toEqual(['SELECT 1 AS `x``;`', 'SELECT 2']);
  });

  it('does not split inside comments, and keeps comments that belong to a statement', () => {
    expect(splitStatements('-- setup; part one\nSELECT 1; /* second; */ SELECT 2')).toEqual([
      '-- setup; part one\nSELECT 1',
      '/* second; */ SELECT 2',
    ]);
    expect(splitStatements('/* outer /* nested; */ still comment; */ SELECT 1; SELECT 2')).toEqual([
      '/* outer /* nested; */ still comment; */ SELECT 1',
      'SELECT 2',
    ]);
    expect(splitStatements('SELECT 1 -- trailing; note\n; SELECT 2')).toEqual(['SELECT 1 -- trailing; note', 'SELECT 2']);
  });

  it('keeps each statement otherwise byte for byte (tabs, CRLF, non-ASCII)', () => {
    const first = "SELECT\t'é;漢 😀' AS s,\r\n\tx\r\nFROM t\r\nWHERE y = 1";
    const second = 'INSERT INTO t VALUES (1, \'a\\tb\'), (2, "q")';
    expect(splitStatements(`${first};\r\n${second};\r\n`)).toEqual([first, second]);
  });

  it('keeps a statement made only of a string (it is code, not a comment)', () => {
    expect(splitStatements("SELECT 1; 'odd'")).toEqual(['SELECT 1', "'odd'"]);
  });

  it('reports an unterminated string with its line and column', () => {
    const sql = "SELECT 1;\nSELECT 'abc;\nSELECT 2";
    expect(() => splitStatements(sql)).toThrow(UserError);
    try {
      splitStatements(sql);
    } catch (err) {
      expect((err as UserError).code).toBe('SQL_UNTERMINATED');
      expect((err as UserError).message).toBe("Unterminated string literal starting at line 2, column 8: 'abc;");
    }
  });

  it('reports an unterminated quoted identifier and block comment', () => {
    expect(() => splitStatements('SELECT 1 AS `x; SELECT 2')).toThrow(
      /^Unterminated quoted identifier starting at line 1, column 13: `x; SELECT 2$/,
    );
    expect(() => splitStatements('SELECT 1;\n\n  /* open /* nested */ SELECT 2')).toThrow(
      /^Unterminated block comment starting at line 3, column 3: /,
    );
  });
});
