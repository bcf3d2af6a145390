/**
 * Every bad input: exit 2, a message naming the file, key path (or template
 * line), what was expected and what was found, and nothing written.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSweep, tempDir } from '../helpers/cli.js';

const GOOD_TEMPLATE = 'SELECT {symbol:String} AS s, {threshold:UInt32} AS t';
const GOOD_SPEC = 'name: demo\ntemplate: q.sql\nparams:\n  symbol: [BTC, ETH]\n  threshold: [1, 2]\nunit: [symbol]\n';

interface Case {
  name: string;
  spec?: string;
  template?: string;
  specFile?: string;
  message: RegExp;
}

const cases: Case[] = [
  { name: 'missing spec', specFile: 'nope.yaml', message: /^sweep: nope\.yaml: expected a sweep spec \(YAML\) file, found no such file$/m },
  { name: 'YAML syntax error with line and column', spec: 'name: demo\nparams: [a\n  b: c\n', message: /^sweep: sweep\.yaml:\d+:\d+: YAML syntax error: /m },
  {
    name: 'unknown key',
    spec: `${GOOD_SPEC}worker:\n  concurency: 4\n`,
    message: /sweep\.yaml:8:3: worker\.concurency: unknown key \(expected one of: concurrency, max_threads, retries, query_timeout_s, max_result_rows, halt_after\)/,
  },
  {
    name: 'a misspelt required key is named, not reported as the real one missing',
    spec: 'name: demo\ntemplate: q.sql\nparms:\n  symbol: [BTC, ETH]\n  threshold: [1, 2]\n',
    message: /sweep\.yaml:3:1: parms: unknown key \(expected one of: name, template, setup, params,/,
  },
  {
    name: 'wrong type',
    spec: `${GOOD_SPEC}worker:\n  concurrency: lots\n`,
    message: /sweep\.yaml:8:16: worker\.concurrency: expected a positive integer, "auto", or \{min, max\}, found "lots" \(string\)/,
  },
  { name: 'empty grid (empty value list)', spec: GOOD_SPEC.replace('[1, 2]', '[]'), message: /sweep\.yaml:5:14: params\.threshold: expected a non-empty list, found an empty list/ },
  {
    name: 'empty grid (everything excluded)',
    spec: `${GOOD_SPEC}exclude:\n  - { symbol: BTC }\n  - { symbol: ETH }\n`,
    message: /sweep\.yaml: exclude: expected a grid with at least one config, found every combination excluded/,
  },
  { name: 'unit naming a missing param', spec: GOOD_SPEC.replace('unit: [symbol]', 'unit: [symbol, venue]'), message: /sweep\.yaml:6:16: unit\[1\]: expected a param name \(one of: symbol, threshold\), found "venue"/ },
  {
    name: 'placeholder without param',
    template: 'SELECT {symbol:String} AS s,\n  {threshold:UInt32} AS t,\n  {venue:String} AS v',
    message: /q\.sql:3: placeholder \{venue:String\} has no param: expected one of symbol, threshold/,
  },
  { name: 'unused param', template: 'SELECT {symbol:String} AS s', message: /q\.sql: param "threshold" from sweep\.yaml is never used: expected a \{threshold:Type\} placeholder/ },
  { name: 'colliding ids', spec: GOOD_SPEC.replace('[1, 2]', '[1, "1"]'), message: /sweep\.yaml: params: configs .* map to the same id symbol-BTC__threshold-1; expected every config to have its own id/ },
  {
    name: 'ids colliding on a case-insensitive filesystem',
    spec: GOOD_SPEC.replace('[BTC, ETH]', '[BTC, btc]'),
    message: /differ only in letter case \(symbol-BTC__threshold-1 and symbol-btc__threshold-1\)/,
  },
  { name: 'illegal sweep name', spec: GOOD_SPEC.replace('name: demo', 'name: ../Demo Sweep'), message: /sweep\.yaml:1:7: name: expected a name matching \[a-z0-9\]\[a-z0-9_-\]\{0,63\}, found "\.\.\/Demo Sweep" \(string\)/ },
  { name: 'missing template', spec: GOOD_SPEC.replace('q.sql', 'missing.sql'), message: /sweep\.yaml: template: expected a readable SQL file, found no such file at .*missing\.sql/ },
  { name: 'value out of its placeholder type range', spec: GOOD_SPEC.replace('[1, 2]', '[1, -2]'), message: /sweep\.yaml:5:18: params\.threshold\[1\]: value -2 does not fit \{threshold:UInt32\} at q\.sql:1: expected UInt32 in \[0, 4294967295\], found -2/ },
  {
    // YAML would read the value as 18446744073709552000; the message quotes it as written.
    name: 'an integer past UInt64, exactly as written',
    template: 'SELECT {symbol:String} AS s, {threshold:UInt64} AS t',
    spec: GOOD_SPEC.replace('[1, 2]', '[1, 18446744073709551616]'),
    message: /sweep\.yaml:5:18: params\.threshold\[1\]: value "18446744073709551616" does not fit \{threshold:UInt64\} at q\.sql:1: expected UInt64 in \[0, 18446744073709551615\], found 18446744073709551616/,
  },
  {
    name: 'two values that are one number for the placeholder',
    spec: GOOD_SPEC.replace('[1, 2]', '[1e3, 1000]'),
    message: /sweep\.yaml:5:20: params\.threshold\[1\]: value 1000 is the same UInt32 as "1e3" \(params\.threshold\[0\] at sweep\.yaml:5:15\): both would run the same SQL/,
  },
  {
    name: 'a template that sets its own output format',
    template: 'SELECT {symbol:String} AS s, {threshold:UInt32} AS t\nFORMAT TSV\n',
    message: /q\.sql:2: the last statement sets its own output format \(FORMAT TSV\); expected none/,
  },
  {
    name: 'a placeholder without a type',
    template: 'SELECT {symbol} AS s, {threshold:UInt32} AS t',
    message: /q\.sql:1: placeholder \{symbol\} has no type: expected \{symbol:Type\}, e\.g\. \{symbol:String\}/,
  },
  { name: 'exclude value not in the grid', spec: `${GOOD_SPEC}exclude:\n  - { symbol: DOGE }\n`, message: /exclude\[0\]\.symbol: expected one of the values of params\.symbol \("BTC", "ETH"\), found "DOGE"/ },
];

describe('sweep generate: bad input', () => {
  let root: { dir: string; cleanup: () => void };
  beforeAll(() => {
    root = tempDir();
  });
  afterAll(() => root.cleanup());

  for (const c of cases) {
    it(`${c.name}: exit 2, a precise message, nothing written`, async () => {
      const dir = join(root.dir, c.name.replace(/[^a-z0-9]+/gi, '-'));
      mkdirSync(dir);
      writeFileSync(join(dir, 'sweep.yaml'), c.spec ?? GOOD_SPEC);
      writeFileSync(join(dir, 'q.sql'), c.template ?? GOOD_TEMPLATE);
      const out = join(dir, 'out');
      const res = await runSweep(['generate', c.specFile ?? 'sweep.yaml', '--out', out], { cwd: dir });
      expect(res.stderr).toMatch(c.message);
      expect(res.code).toBe(2);
      expect(res.stdout).toBe('');
      expect(existsSync(out)).toBe(false);
      expect(existsSync(join(dir, 'out', 'demo'))).toBe(false);
    });
  }

  it('the good spec used above does generate (so the cases fail for their own reason)', async () => {
    const dir = join(root.dir, 'good');
    mkdirSync(dir);
    writeFileSync(join(dir, 'sweep.yaml'), GOOD_SPEC);
    writeFileSync(join(dir, 'q.sql'), GOOD_TEMPLATE);
    const res = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: dir });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ configs: 4, units: 2, written: 4, out: join(dir, 'out', 'demo') });
  });

  it('refuses an --out directory that holds something else', async () => {
    const dir = join(root.dir, 'foreign-out');
    mkdirSync(join(dir, 'mine'), { recursive: true });
    writeFileSync(join(dir, 'mine', 'precious.txt'), 'keep me');
    writeFileSync(join(dir, 'sweep.yaml'), GOOD_SPEC);
    writeFileSync(join(dir, 'q.sql'), GOOD_TEMPLATE);
    const res = await runSweep(['generate', 'sweep.yaml', '--out', 'mine'], { cwd: dir });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--out .*mine: expected an empty directory or an earlier sweep output \(with manifest\.json\), found 1 other entries \(precious\.txt\)/);
    expect(existsSync(join(dir, 'mine', 'sql'))).toBe(false);
  });
});
