/**
 * Richer grids through the CLI, as a user runs them: every bad input of issue
 * 11 (exit 2, a message naming file, line and key, nothing written), values
 * from a file, a CSV column and SQL (on the real server and on the embedded
 * engine) frozen and refreshed, --dry-run's account of the grid, --limit, and
 * the README's worked example (per-year epochs per symbol) run end to end on
 * the server (ClickHouse 18.16 on CI) and on the embedded engine (current).
 */
import { existsSync, mkdirSync, readFileSync, statSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manifest } from '../../src/format/manifest.js';
import type { ResultRecord } from '../../src/results/record.js';
import { chQuery } from '../harness/clickhouse.js';
import { REPO_ROOT, runSweep, tempDir } from '../helpers/cli.js';

const NO_SERVER = { ...process.env, CLICKHOUSE_URL: '' };

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

function readRecords(path: string): ResultRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultRecord);
}

let root: { dir: string; cleanup: () => void };
beforeAll(() => {
  root = tempDir('sweep-grids-');
});
afterAll(() => root.cleanup());

let counter = 0;
/** A fresh dir with a spec and a template (and any other files). */
function sweepDir(files: Record<string, string>): string {
  const dir = join(root.dir, `case-${++counter}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const TEMPLATE = 'SELECT {symbol:String} AS s, {threshold:UInt32} AS t';
const HEAD = 'name: demo\ntemplate: q.sql\nparams:\n';

interface BadCase {
  name: string;
  spec: string;
  template?: string;
  files?: Record<string, string>;
  env?: 'server' | 'embedded';
  message: RegExp;
}

const badCases: BadCase[] = [
  {
    name: 'a step of 0',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: {from: 1, to: 10, step: 0}\n`,
    message: /^sweep: sweep\.yaml:5:38: params\.threshold\.step: expected a non-zero step, found 0 \(a step of 0 never reaches 10\)$/m,
  },
  {
    name: 'a step of the wrong sign',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: {from: 1, to: 10, step: -1}\n`,
    message: /^sweep: sweep\.yaml:5:38: params\.threshold\.step: expected a positive step to go from 1 to 10, found -1 \(a step of the wrong sign\)$/m,
  },
  {
    name: 'an empty range (num: 0)',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: {from: 1, to: 10, num: 0}\n`,
    message: /^sweep: sweep\.yaml:5:37: params\.threshold\.num: expected at least 1 value \(num: 0 is an empty range\), found 0 \(number\)$/m,
  },
  {
    name: 'an empty range (epochs ending before they start)',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: [1]\n  period:\n    from: 2026-01-01\n    to: 2019-01-01\n    every: year\n`,
    template: `${TEMPLATE}, {period.start:Date} AS a`,
    message: /^sweep: sweep\.yaml:8:9: params\.period\.to: expected a date on or after from \(2026-01-01\), found "2019-01-01": an empty range$/m,
  },
  {
    name: 'a range mapping with an unknown key',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: {from: 1, to: 10, stepp: 1}\n`,
    message: /^sweep: sweep\.yaml:5:14: params\.threshold: expected a list of values or a mapping with one of \{from, to, step\}, .*, found a mapping with keys from, to, stepp$/m,
  },
  {
    name: 'linked lists of unequal length',
    spec: `${HEAD}  symbol: [BTC, ETH, SOL]\n  threshold: [1, 2]\nlink:\n  - [symbol, threshold]\n`,
    message: /^sweep: sweep\.yaml:7:5: link\[0\]: expected params of one length \(they are taken pairwise\), found symbol 3 values, threshold 2 values$/m,
  },
  {
    name: 'a link naming a missing param',
    spec: `${HEAD}  symbol: [BTC, ETH]\n  threshold: [1, 2]\nlink:\n  - [symbol, venue]\n`,
    message: /^sweep: sweep\.yaml:7:14: link\[0\]\[1\]: expected a param name \(one of: symbol, threshold\), found "venue"$/m,
  },
  {
    name: 'a file that does not exist',
    spec: `${HEAD}  symbol: {file: symbols.txt}\n  threshold: [1]\n`,
    message: /^sweep: sweep\.yaml:4:18: params\.symbol\.file: expected a readable file, found no such file at .*symbols\.txt$/m,
  },
  {
    name: 'a CSV without the column',
    spec: `${HEAD}  symbol: {csv: universe.csv, column: ticker}\n  threshold: [1]\n`,
    files: { 'universe.csv': 'symbol,venue\nBTC,binance\n' },
    message: /^sweep: sweep\.yaml:4:39: params\.symbol\.column: .*universe\.csv: expected a column named "ticker" in the header, found "symbol", "venue"$/m,
  },
  {
    name: 'a SQL source that fails (server)',
    spec: `${HEAD}  symbol: {sql: "SELECT symbol FROM no_such_table_for_sweep"}\n  threshold: [1]\n`,
    env: 'server',
    message: /^sweep: sweep\.yaml:4:17: params\.symbol\.sql: expected the query to run on http:\/\/.* \(CLICKHOUSE_URL\), found an error: .*no_such_table_for_sweep/m,
  },
  {
    name: 'a SQL source that returns no rows (server)',
    spec: `${HEAD}  symbol: {sql: "SELECT toString(number) FROM system.numbers LIMIT 0"}\n  threshold: [1]\n`,
    env: 'server',
    message: /^sweep: sweep\.yaml:4:17: params\.symbol\.sql: expected at least one row from http:\/\/.*, found none: the grid would be empty$/m,
  },
  {
    name: 'a SQL source that returns no rows (embedded)',
    spec: `${HEAD}  symbol: {sql: "SELECT toString(number) FROM system.numbers LIMIT 0"}\n  threshold: [1]\n`,
    env: 'embedded',
    message: /^sweep: sweep\.yaml:4:17: params\.symbol\.sql: expected at least one row from the embedded engine \(.*\.chdb, not created yet: no tables\), found none/m,
  },
  {
    name: 'a SQL source that fails (embedded)',
    spec: `${HEAD}  symbol: {sql: "SELECT symbol FROM no_such_table_for_sweep"}\n  threshold: [1]\n`,
    env: 'embedded',
    message: /^sweep: sweep\.yaml:4:17: params\.symbol\.sql: expected the query to run on the embedded engine .*, found an error: .*no_such_table_for_sweep/m,
  },
  {
    name: 'a constraint that does not parse',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: [1, 2]\nwhere: "threshold <"\n`,
    message: /^sweep: sweep\.yaml:6:8: where: expected an expression over the params \(symbol, threshold\), found a syntax error: Unexpected end of expression/m,
  },
  {
    name: 'a constraint naming an unknown param',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: [1, 2]\nwhere: "lookback < 3"\n`,
    message: /^sweep: sweep\.yaml:6:8: where: expected a param name \(one of: symbol, threshold\), found "lookback"$/m,
  },
  {
    name: 'a constraint that does more than compare',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: [1, 2]\nwhere: "threshold = 3"\n`,
    message: /^sweep: sweep\.yaml:6:8: where: expected a condition on the params .*, found an assignment: threshold = 3$/m,
  },
  {
    name: 'a constraint that removes everything',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: [1, 2]\nwhere: "threshold > 5"\n`,
    message: /^sweep: sweep\.yaml:6:8: where: expected a grid with at least one config, found every combination removed \(2 by where\)$/m,
  },
  {
    name: 'a generated value that does not fit its placeholder type',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: {from: 0, to: 1, step: 0.5}\n`,
    message: /^sweep: sweep\.yaml:5:14: params\.threshold \(value 2 of 3, from its range\): value 0\.5 does not fit \{threshold:UInt32\} at q\.sql:1: expected an integer for UInt32, found 0\.5$/m,
  },
  {
    name: 'an epoch used as a Date itself',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: [1]\n  period: {from: 2019-03-14, to: 2020-01-01, every: year}\n`,
    template: `${TEMPLATE}, {period:Date} AS a`,
    message: /^sweep: q\.sql:1: \{period:Date\}: params\.period \(sweep\.yaml:6:11\) is a date epoch whose value is the period's label .*: expected \{period\.start:Date\} or \{period\.end:Date\}, found \{period:Date\}$/m,
  },
  {
    name: 'a DateTime epoch in a Date placeholder',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: [1]\n  period: {from: "2019-03-14 09:30:00", to: 2019-03-15, every: day}\n`,
    template: `${TEMPLATE}, {period.start:Date} AS a`,
    message: /^sweep: sweep\.yaml:6:11: params\.period\.start of period 2019-03-14: value "2019-03-14 09:30:00" does not fit \{period\.start:Date\} at q\.sql:1: expected a date YYYY-MM-DD/m,
  },
  {
    name: 'a field of a param that is not an epoch',
    spec: `${HEAD}  symbol: [BTC]\n  threshold: [1]\n`,
    template: `${TEMPLATE}, {symbol.start:Date} AS a`,
    message: /^sweep: q\.sql:1: placeholder \{symbol\.start:Date\} has no param: .*\(\.start and \.end exist on date epoch params only/m,
  },
];

describe('richer grids: bad input', () => {
  for (const c of badCases) {
    it(`${c.name}: exit 2, file, line and key named, nothing written`, async () => {
      const dir = sweepDir({ 'sweep.yaml': c.spec, 'q.sql': c.template ?? TEMPLATE, ...c.files });
      const env = c.env === 'server' ? { ...process.env, CLICKHOUSE_URL: inject('clickhouseUrl') } : NO_SERVER;
      const res = await runSweep(['generate', 'sweep.yaml'], { cwd: dir, env, timeoutMs: 120_000 });
      expect(res.stderr).toMatch(c.message);
      expect(res.code).toBe(2);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    });
  }

  it('a sample larger than the grid: a warning naming file, line and key, and every config kept (exit 0)', async () => {
    const dir = sweepDir({ 'sweep.yaml': `${HEAD}  symbol: [BTC, ETH]\n  threshold: [1, 2]\nsample: {n: 10, seed: 3}\n`, 'q.sql': TEMPLATE });
    const res = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: dir, env: NO_SERVER });
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/^warning: sweep\.yaml:6:13: sample\.n: 10 is more than the 4 configs left after exclude and where: keeping all of them$/m);
    expect(JSON.parse(res.stdout)).toMatchObject({ configs: 4 });
  });
});

describe('richer grids: generate', () => {
  it('--dry-run prints the grid per param and per unit, what where/exclude/sample removed, and the first ids', async () => {
    const dir = sweepDir({
      'sweep.yaml':
        `${HEAD}  symbol: [BTC, ETH, SOL]\n  threshold: {from: 100, to: 1000, step: 50}\n  z: {from: 0.1, to: 0.3, step: 0.1}\n` +
        `  period: {from: 2019-03-14, to: 2026-11-29, every: year}\nunit: [symbol]\nexclude:\n  - {symbol: ETH, z: 0.2}\n` +
        `where: "threshold < 500 or period.start >= '2024-01-01'"\nsample: {n: 500, seed: 7}\n`,
      'q.sql': `${TEMPLATE}, {z:Float64} AS z, {period.start:Date} AS a, {period.end:Date} AS b`,
    });
    const res = await runSweep(['generate', 'sweep.yaml', '--dry-run'], { cwd: dir, env: NO_SERVER });
    expect(res.code).toBe(0);
    // 3 x 19 x 3 x 8 = 1,368; exclude: 19 x 8 = 152; where keeps threshold < 500 (8 values) in 2019..2023, all 19 in 2024..2026
    const kept = 3 * 3 * (8 * 5 + 19 * 3) - 8 * 5 - 19 * 3;
    expect(res.stdout).toContain('grid: symbol 3 x threshold 19 x z 3 x period 8 = 1,368 combinations\n');
    expect(res.stdout).toContain(`removed: 152 by exclude, ${1368 - 152 - kept} by where, ${kept - 500} by sample -> 500 configs\n`);
    expect(res.stdout).toMatch(/^units: 3, \d+ to \d+ configs each: symbol-BTC \d+, symbol-ETH \d+, symbol-SOL \d+$/m);
    expect(res.stdout).toMatch(/^first ids:\n {2}symbol-BTC__threshold-\d+__z-0\.[123]__period-20\d\d\n/m);
    expect(res.stdout).toMatch(/500 configs in 3 units -> .*\nwould write 500, unchanged 0, removed 0\n$/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('writes epochs readably: ids period-2019, params with start and end, literals in the SQL', async () => {
    const dir = sweepDir({
      'sweep.yaml': `${HEAD}  symbol: [BTC]\n  threshold: [1]\n  period: {from: 2019-03-14, to: 2020-02-10, every: quarter}\nunit: [symbol]\n`,
      'q.sql': `${TEMPLATE}, {period:String} AS p, {period.start:Date} AS a, {period.end:Date} AS b`,
    });
    const res = await runSweep(['generate', 'sweep.yaml'], { cwd: dir, env: NO_SERVER });
    expect(res.code).toBe(0);
    const manifest = readJson<Manifest>(join(dir, 'out', 'demo', 'manifest.json'));
    expect(manifest.configs.map((c) => c.id)).toEqual([
      'symbol-BTC__threshold-1__period-2019Q1',
      'symbol-BTC__threshold-1__period-2019Q2',
      'symbol-BTC__threshold-1__period-2019Q3',
      'symbol-BTC__threshold-1__period-2019Q4',
      'symbol-BTC__threshold-1__period-2020Q1',
    ]);
    expect(manifest.configs[4]?.params).toEqual({ symbol: 'BTC', threshold: 1, period: '2020Q1', 'period.start': '2020-01-01', 'period.end': '2020-02-10' });
    expect(readFileSync(join(dir, 'out', 'demo', 'sql', 'symbol-BTC', 'symbol-BTC__threshold-1__period-2019Q1.sql'), 'utf8')).toBe(
      "SELECT 'BTC' AS s, toUInt32(1) AS t, '2019Q1' AS p, toDate('2019-03-14') AS a, toDate('2019-03-31') AS b",
    );
  });

  it('freezes values read from a file: a later generate keeps them and says so; --refresh-values reports what changed', async () => {
    const dir = sweepDir({ 'sweep.yaml': `${HEAD}  symbol: {file: symbols.txt}\n  threshold: [1]\nunit: [symbol]\n`, 'q.sql': TEMPLATE, 'symbols.txt': 'BTC\nETH\n\n' });
    const out = join(dir, 'out', 'demo');
    const first = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: dir, env: NO_SERVER });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/^params\.symbol: 2 values read from .*symbols\.txt, frozen in .*\/out\/demo\/values\.json$/m);
    expect(JSON.parse(first.stdout)).toMatchObject({ configs: 2, values: [{ param: 'symbol', action: 'read', values: 2 }] });
    const frozen = readJson<{ params: Record<string, { source: unknown; values: unknown[] }> }>(join(out, 'values.json'));
    expect(frozen.params['symbol']).toMatchObject({ source: { file: 'symbols.txt' }, values: ['BTC', 'ETH'] });
    const manifestMtime = statSync(join(out, 'manifest.json')).mtimeMs;

    // The file moves on; the sweep does not.
    writeFileSync(join(dir, 'symbols.txt'), 'BTC\nSOL\nADA\n');
    const again = await runSweep(['generate', 'sweep.yaml'], { cwd: dir, env: NO_SERVER });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/^params\.symbol: 2 values frozen in .*values\.json since \S+ \(from .*symbols\.txt\) kept; --refresh-values reads them again$/m);
    expect(again.stdout).toMatch(/^2 configs in 2 units/);
    expect(statSync(join(out, 'manifest.json')).mtimeMs).toBe(manifestMtime);

    const refreshed = await runSweep(['generate', 'sweep.yaml', '--refresh-values'], { cwd: dir, env: NO_SERVER });
    expect(refreshed.code).toBe(0);
    expect(refreshed.stderr).toMatch(/^params\.symbol: re-read from .*symbols\.txt: 3 values, \+2 \(SOL, ADA\) -1 \(ETH\)$/m);
    expect(readJson<Manifest>(join(out, 'manifest.json')).units.map((u) => u.id)).toEqual(['symbol-ADA', 'symbol-BTC', 'symbol-SOL']);

    // Frozen means the file is not even needed any more.
    writeFileSync(join(dir, 'symbols.txt'), '');
    expect((await runSweep(['generate', 'sweep.yaml'], { cwd: dir, env: NO_SERVER })).code).toBe(0);
  });

  it('reads a CSV column, and reads again when the spec names another source', async () => {
    const dir = sweepDir({
      'sweep.yaml': `${HEAD}  symbol: {csv: universe.csv, column: symbol}\n  threshold: [1]\n`,
      'q.sql': TEMPLATE,
      'universe.csv': 'venue,symbol\nbinance,BTC\nkraken,"ETH"\n',
      'other.csv': 'symbol\nDOGE\n',
    });
    const first = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: dir, env: NO_SERVER });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ grid: { params: { symbol: 2, threshold: 1 } } });
    writeFileSync(join(dir, 'sweep.yaml'), `${HEAD}  symbol: {csv: other.csv, column: symbol}\n  threshold: [1]\n`);
    const second = await runSweep(['generate', 'sweep.yaml'], { cwd: dir, env: NO_SERVER });
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/^params\.symbol: its source changed in the spec: read from .*other\.csv column symbol: 1 value, \+1 \(DOGE\) -2 \(BTC, ETH\)$/m);
  });

  it('reads values from SQL on the real server, frozen across runs until --refresh-values', async () => {
    const url = inject('clickhouseUrl');
    await chQuery(url, 'CREATE DATABASE IF NOT EXISTS sweep_grid_values');
    await chQuery(url, 'DROP TABLE IF EXISTS sweep_grid_values.trades');
    await chQuery(url, 'CREATE TABLE sweep_grid_values.trades (symbol String, price Float64) ENGINE = MergeTree ORDER BY symbol');
    await chQuery(url, "INSERT INTO sweep_grid_values.trades VALUES ('ETHUSDT', 1), ('BTCUSDT', 2), ('BTCUSDT', 3)");
    const dir = sweepDir({
      'sweep.yaml': `${HEAD}  symbol: {sql: "SELECT DISTINCT symbol FROM trades ORDER BY symbol"}\n  threshold: [1, 2]\nunit: [symbol]\nclickhouse:\n  database: sweep_grid_values\n`,
      'q.sql': TEMPLATE,
    });
    const env = { ...process.env, CLICKHOUSE_URL: url };
    const first = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: dir, env, timeoutMs: 60_000 });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/^params\.symbol: 2 values read from http:\/\/.* \(CLICKHOUSE_URL\), frozen in /m);
    expect(JSON.parse(first.stdout)).toMatchObject({ configs: 4, units: 2 });

    await chQuery(url, "INSERT INTO sweep_grid_values.trades VALUES ('SOLUSDT', 4)");
    const kept = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: dir, env, timeoutMs: 60_000 });
    expect(kept.code).toBe(0);
    expect(JSON.parse(kept.stdout)).toMatchObject({ configs: 4, values: [{ param: 'symbol', action: 'frozen', values: 2 }] });

    const refreshed = await runSweep(['generate', 'sweep.yaml', '--refresh-values', '--json'], { cwd: dir, env, timeoutMs: 60_000 });
    expect(refreshed.code).toBe(0);
    expect(refreshed.stderr).toMatch(/^params\.symbol: re-read from .*: 3 values, \+1 \(SOLUSDT\)$/m);
    expect(JSON.parse(refreshed.stdout)).toMatchObject({ configs: 6, units: 3, values: [{ action: 'refreshed', added: ['SOLUSDT'], removed: [] }] });
  });

  it('sweep run reads SQL values on its own target (--clickhouse-url) and keeps them frozen on the next run', async () => {
    const url = inject('clickhouseUrl');
    await chQuery(url, 'CREATE DATABASE IF NOT EXISTS sweep_grid_run');
    await chQuery(url, 'DROP TABLE IF EXISTS sweep_grid_run.universe');
    await chQuery(url, 'CREATE TABLE sweep_grid_run.universe (symbol String) ENGINE = MergeTree ORDER BY symbol');
    await chQuery(url, "INSERT INTO sweep_grid_run.universe VALUES ('BTC'), ('ETH')");
    const dir = sweepDir({
      'sweep.yaml': `${HEAD}  symbol: {sql: "SELECT symbol FROM universe ORDER BY symbol"}
  threshold: {from: 10, to: 30, step: 10}
unit: [symbol]
clickhouse:
  database: sweep_grid_run
`,
      'q.sql': TEMPLATE,
    });
    const first = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url, '--json'], { cwd: dir, env: NO_SERVER, timeoutMs: 120_000 });
    expect(first.stderr).toMatch(/^params\.symbol: 2 values read from http:\/\/.* \(--clickhouse-url\), frozen in /m);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ configs: 6, ok: 6, complete: true });
    await chQuery(url, "INSERT INTO sweep_grid_run.universe VALUES ('SOL')");
    const second = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url, '--json'], { cwd: dir, env: NO_SERVER, timeoutMs: 120_000 });
    expect(second.stderr).toMatch(/^params\.symbol: 2 values frozen in .* kept; --refresh-values reads them again$/m);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ configs: 6, ran: 0, complete: true });
  });

  it('reads values from SQL on the embedded engine (numbers stay numbers), writing nothing on a dry run', async () => {
    const dir = sweepDir({
      'sweep.yaml': `${HEAD}  symbol: [BTC]\n  threshold: {sql: "SELECT number * 50 FROM system.numbers LIMIT 3"}\n`,
      'q.sql': TEMPLATE,
    });
    const dry = await runSweep(['generate', 'sweep.yaml', '--dry-run', '--json'], { cwd: dir, env: NO_SERVER, timeoutMs: 120_000 });
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ configs: 3 });
    expect(existsSync(join(dir, 'out'))).toBe(false);
    const res = await runSweep(['generate', 'sweep.yaml'], { cwd: dir, env: NO_SERVER, timeoutMs: 120_000 });
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/^params\.threshold: 3 values read from the embedded engine/m);
    const manifest = readJson<Manifest>(join(dir, 'out', 'demo', 'manifest.json'));
    expect(manifest.configs.map((c) => c.params['threshold'])).toEqual([0, 100, 50]);
  });

  it('--limit makes a smoke run spread over the units, marked in the manifest; without it the whole grid comes back', async () => {
    const dir = sweepDir({ 'sweep.yaml': `${HEAD}  symbol: [A, B, C, D]\n  threshold: {from: 1, to: 25, step: 1}\nunit: [symbol]\n`, 'q.sql': TEMPLATE });
    const smoke = await runSweep(['generate', 'sweep.yaml', '--limit', '8', '--json'], { cwd: dir, env: NO_SERVER });
    expect(smoke.code).toBe(0);
    expect(smoke.stderr).toMatch(/^--limit 8: a smoke run of 8 of the grid's 100 configs, spread over 4 units \(marked in the manifest\)/m);
    const manifest = readJson<Manifest>(join(dir, 'out', 'demo', 'manifest.json'));
    expect(manifest.limit).toEqual({ n: 8, of: 100 });
    expect(manifest.units.map((u) => [u.id, u.configs])).toEqual([
      ['symbol-A', 2],
      ['symbol-B', 2],
      ['symbol-C', 2],
      ['symbol-D', 2],
    ]);
    const full = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: dir, env: NO_SERVER });
    expect(JSON.parse(full.stdout)).toMatchObject({ configs: 100, written: 92, unchanged: 8, limit: null });
    expect(readJson<Manifest>(join(dir, 'out', 'demo', 'manifest.json')).limit).toBeUndefined();
    const bad = await runSweep(['generate', 'sweep.yaml', '--limit', '0'], { cwd: dir, env: NO_SERVER });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--limit: expected a positive integer, found "0"/);
  });
});

describe('the worked example: a backfill split into yearly epochs per symbol (sql/yearly-backfill.yaml)', () => {
  const copy = (dir: string, database?: string): void => {
    mkdirSync(dir);
    for (const f of ['yearly-backfill.yaml', 'yearly-backfill.sql', 'yearly-backfill-setup.sql']) cpSync(join(REPO_ROOT, 'sql', f), join(dir, f));
    if (database) writeFileSync(join(dir, 'yearly-backfill.yaml'), `${readFileSync(join(dir, 'yearly-backfill.yaml'), 'utf8')}clickhouse:\n  database: ${database}\n`);
  };
  /** Per symbol: every period's bars, which must add up to the symbol's whole history (no gap, no overlap). */
  const barsBySymbol = (records: ResultRecord[]) => {
    const out: Record<string, number> = {};
    for (const r of records) {
      if (r.params['threshold'] !== 250) continue;
      const symbol = String(r.params['symbol']);
      out[symbol] = (out[symbol] ?? 0) + Number(r.rows[0]?.['bars']);
    }
    return out;
  };
  const hours = { BTCUSDT: 23808, ETHUSDT: 23808, SOLUSDT: 23808 - 12384 };

  it('runs on the real server and on the embedded engine with the same records, one unit per symbol', async () => {
    const url = inject('clickhouseUrl');
    await chQuery(url, 'CREATE DATABASE IF NOT EXISTS sweep_yearly_backfill');
    const serverDir = join(root.dir, 'yearly-server');
    const embeddedDir = join(root.dir, 'yearly-embedded');
    copy(serverDir, 'sweep_yearly_backfill');
    copy(embeddedDir);

    const server = await runSweep(['run', 'yearly-backfill.yaml', '--clickhouse-url', url, '--json'], { cwd: serverDir, env: NO_SERVER, timeoutMs: 180_000 });
    expect(server.stderr).toMatch(/16 configs in 3 units/);
    expect(server.code).toBe(0);
    expect(JSON.parse(server.stdout)).toMatchObject({ configs: 16, units: 3, error: 0, complete: true });
    const a = readRecords(join(serverDir, 'out', 'yearly-backfill', 'results.ndjson'));
    expect(barsBySymbol(a)).toEqual(hours);
    const sol2020 = a.find((r) => r.config === 'symbol-SOLUSDT__threshold-250__period-2020');
    expect(sol2020?.params).toEqual({ symbol: 'SOLUSDT', threshold: 250, period: '2020', 'period.start': '2020-01-01', 'period.end': '2020-12-31' });
    expect(sol2020?.rows[0]).toMatchObject({ first_day: '2020-08-11', last_day: '2020-12-31', bars: '3432' });
    expect(a.some((r) => r.config.startsWith('symbol-SOLUSDT') && r.config.endsWith('period-2019'))).toBe(false);
    const btc2019 = a.find((r) => r.config === 'symbol-BTCUSDT__threshold-500__period-2019');
    expect(btc2019?.rows[0]).toMatchObject({ period: '2019', period_start: '2019-03-14', period_end: '2019-12-31', first_day: '2019-03-14', bars: '7032' });

    // export reads the params as the sweep has them: the epoch's labels, the ranges' values
    const exported = await runSweep(['export', 'yearly-backfill.yaml', '--format', 'ndjson', '--json'], { cwd: serverDir, env: NO_SERVER, timeoutMs: 120_000 });
    expect(exported.code).toBe(0);
    const summary = JSON.parse(exported.stdout) as { columns: Array<{ name: string; type: string }>; file: { path: string } };
    expect(summary.columns).toEqual(expect.arrayContaining([{ name: 'symbol', type: 'String' }, { name: 'threshold', type: 'UInt32' }, { name: 'period', type: 'String' }]));
    const lines = readFileSync(summary.file.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(16);
    expect(new Set(lines.map((l) => l['period']))).toEqual(new Set(['2019', '2020', '2021']));

    const embedded = await runSweep(['run', 'yearly-backfill.yaml', '--json'], { cwd: embeddedDir, env: NO_SERVER, timeoutMs: 180_000 });
    expect(embedded.code).toBe(0);
    const b = readRecords(join(embeddedDir, 'out', 'yearly-backfill', 'results.ndjson'));
    const comparable = (r: ResultRecord) => ({ config: r.config, params: r.params, rows: r.rows, sql_sha256: r.sql_sha256 });
    expect(b.map(comparable)).toEqual(a.map(comparable));
  });

  it('run --limit: a smoke run of a few configs over the units, then the whole sweep', async () => {
    const url = inject('clickhouseUrl');
    await chQuery(url, 'CREATE DATABASE IF NOT EXISTS sweep_yearly_smoke');
    const dir = join(root.dir, 'yearly-smoke');
    copy(dir, 'sweep_yearly_smoke');
    const smoke = await runSweep(['run', 'yearly-backfill.yaml', '--clickhouse-url', url, '--limit', '3', '--json'], { cwd: dir, env: NO_SERVER, timeoutMs: 180_000 });
    expect(smoke.stderr).toMatch(/--limit 3: a smoke run of 3 of the grid's 16 configs, spread over 3 units/);
    expect(smoke.code).toBe(0);
    expect(JSON.parse(smoke.stdout)).toMatchObject({ configs: 3, units: 3, ok: 3, complete: true, limit: { n: 3, of: 16 } });
    // The outcome line says what was complete: the smoke run, not the sweep.
    const quiet = await runSweep(['run', 'yearly-backfill.yaml', '--clickhouse-url', url, '--limit', '3', '--quiet'], { cwd: dir, env: NO_SERVER, timeoutMs: 180_000 });
    expect(quiet.stdout).toMatch(/: complete as a smoke run \(--limit: 3 of the grid's 16 configs; run without --limit for the whole grid\): 3 configs/);
    const full = await runSweep(['run', 'yearly-backfill.yaml', '--clickhouse-url', url, '--json'], { cwd: dir, env: NO_SERVER, timeoutMs: 180_000 });
    expect(full.code).toBe(0);
    expect(JSON.parse(full.stdout)).toMatchObject({ configs: 16, ok: 16, ran: 13, complete: true, limit: null });
  });
});
