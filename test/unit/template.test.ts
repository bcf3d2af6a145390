import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { compileTemplate, TemplateRenderer, unusedParams } from '../../src/generate/template.js';
import { lexSql } from '../../src/sql/lexer.js';

describe('templates', () => {
  it('substitutes placeholders only in code, not in strings, identifiers or comments', () => {
    const text = "SELECT {a:UInt8} AS x, '{a:UInt8}' AS s, `{a:UInt8}` AS q -- {a:UInt8}\n/* {a:UInt8} */ FROM t WHERE y = { a : UInt8 }";
    const tpl = compileTemplate(text, 't.sql', ['a']);
    expect(tpl.slots.map((s) => s.name)).toEqual(['a', 'a']);
    const sql = new TemplateRenderer(tpl, 't.sql').render({ a: 7 });
    expect(sql).toBe("SELECT toUInt8(7) AS x, '{a:UInt8}' AS s, `{a:UInt8}` AS q -- {a:UInt8}\n/* {a:UInt8} */ FROM t WHERE y = toUInt8(7)");
  });

  it('keeps plain numbers only where ClickHouse takes a literal: LIMIT, OFFSET, SAMPLE, SETTINGS, aggregate parameters', () => {
    const text = [
      'SELECT quantile({q:Float64})(x) AS a, quantiles({q:Float64}, 0.9)(x) AS b, topK({k:UInt8})(x) AS c,',
      '  bitNot({k:UInt8}) AS d, toDecimal64(x, {k:UInt8}) AS e, f({k:UInt8}) AS g, (x + {k:UInt8}) * 2 AS h,',
      "  if({k:UInt8} > 1, 'a)(', 'b') AS i",
      'FROM t SAMPLE {q:Float64} WHERE y = {q:Float64}',
      'LIMIT {k:UInt8}, {k:UInt8} SETTINGS max_threads = {k:UInt8}, max_block_size = {k:UInt8}',
    ].join('\n');
    const tpl = compileTemplate(text, 't.sql', ['q', 'k']);
    const bare = tpl.slots.map((s) => s.bare);
    expect(bare).toEqual([true, true, true, false, false, false, false, false, true, false, true, true, true, true]);
    const sql = new TemplateRenderer(tpl, 't.sql').render({ q: 0.5, k: 3 });
    expect(sql).toContain('quantile(0.5)(x)');
    expect(sql).toContain('bitNot(toUInt8(3))');
    expect(sql).toContain("if(toUInt8(3) > 1, 'a)(', 'b')");
    expect(sql).toContain('LIMIT 3, 3 SETTINGS max_threads = 3, max_block_size = 3');
  });

  it('refuses a {name:...} it cannot render instead of leaving it for the server to bind (or chDB to bind as NULL)', () => {
    for (const [tpl, found] of [
      ['SELECT {a:Nullable(UInt8)} AS a', '{a:Nullable(UInt8)}'],
      ['SELECT 1,\n  {a:Array(UInt32)}', '{a:Array(UInt32)}'],
      ['SELECT {a:LowCardinality(String)}', '{a:LowCardinality(String)}'],
      ['SELECT {a:Map(String, Array(UInt8))}', '{a:Map(String, Array(UInt8))}'],
      // Too deep for the placeholder pattern, and followed by one it reads: still refused.
      ['SELECT {a:Map(String, Array(Nullable(UInt8)))} AS x, {a:UInt8} AS y', '{a:Map(String, Array(Nullable(UInt8)))}'],
    ] as const) {
      expect(() => compileTemplate(tpl, 'q.sql', ['a'])).toThrow(new RegExp(`q\\.sql:\\d: .*${found.replace(/[(){}]/g, '\\$&')}`));
    }
  });

  it('names the template line of a placeholder without a param', () => {
    const err = (() => {
      try {
        compileTemplate('SELECT 1\nFROM t\nWHERE x = {missing:String}', 'q.sql', ['a']);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/^q\.sql:3: placeholder \{missing:String\} has no param: expected one of a/);
  });

  it('rejects unknown types with the line', () => {
    expect(() => compileTemplate('SELECT\n{a:Strng}', 'q.sql', ['a'])).toThrow(/q\.sql:2: \{a:Strng\}: unsupported placeholder type/);
  });

  it('reports unused params and unterminated quotes', () => {
    const tpl = compileTemplate('SELECT {a:UInt8}', 'q.sql', ['a', 'b']);
    expect(unusedParams(tpl, ['a', 'b'])).toEqual(['b']);
    expect(() => compileTemplate("SELECT 1\nWHERE s = 'open", 'q.sql', [])).toThrow(/q\.sql:2: expected a closed quote/);
  });

  it('names the param, value, template line and reason of a value that does not fit', () => {
    const tpl = compileTemplate('SELECT\n  {n:UInt8}', 'q.sql', ['n']);
    const r = new TemplateRenderer(tpl, 'q.sql');
    expect(() => r.checkAll({ n: [1, 300] }, 'sweep.yaml')).toThrow(
      /sweep\.yaml: params\.n: value 300 does not fit \{n:UInt8\} at q\.sql:2: expected UInt8 in \[0, 255\], found 300/,
    );
  });

  it('lexes without losing a character', () => {
    const text = "SELECT 'a;b\\'c', `x``y`, \"q\" /* a /* nested */ b */ -- end\n;";
    expect(lexSql(text).map((s) => s.text).join('')).toBe(text);
    expect(lexSql(text).map((s) => s.kind)).toEqual(['code', 'string', 'code', 'quoted-identifier', 'code', 'quoted-identifier', 'code', 'comment', 'code', 'comment', 'code']);
  });
});
