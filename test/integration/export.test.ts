/**
 * `sweep export` end to end: a sweep whose results hold every kind of value an
 * export can lose (64-bit and 128-bit integers, a 38-digit decimal, NaN and
 * infinities, NULL, text with tabs, quotes and newlines, arrays, dates, Bool),
 * run on the embedded engine, then exported to each format and read back
 * (CSV, TSV and Parquet through chDB with the declared types; NDJSON as JSON),
 * and into a table on the harness's server (18.16 on CI): every value equal to
 * the records', the types as declared, a re-export replacing only this sweep's rows.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/index.js';
import type { ExportSummary } from '../../src/export/export.js';
import type { ResultRecord } from '../../src/results/record.js';
import { chQuery } from '../harness/clickhouse.js';
import { startChdbFront } from '../harness/chdb-front.js';
import { lacks } from '../harness/components.js';
import { runSweep, tempDir } from '../helpers/cli.js';

const SPEC = `name: typed
template: typed.sql
params:
  name: [alpha, beta]
  n: [1, 18446744073709551615]
  x: [0.5, 2]
  d: ['2024-01-31']
unit: [name]
`;

const TEMPLATE = `-- Every kind of value an export must carry exactly; no rows for beta with x = 2 (skipped).
SELECT
    {name:String} AS name,
    number AS k,
    {n:UInt64} AS big,
    toInt128('-170141183460469231731687303715884105728') + number AS i128,
    toDecimal128('12345678901234567890.123', 3) + number AS dec,
    multiIf(number = 0, nan, number = 1, inf, -inf) AS f,
    {x:Float64} / 3 AS third,
    if(number = 1, NULL, concat('s', toString(number), '\\t"q"\\n,')) AS maybe,
    [number, number + 1] AS arr,
    {d:Date} + number AS day,
    toDateTime('2024-01-31 10:00:00', 'UTC') AS ts,
    toBool(number % 2 = 0) AS even
FROM numbers(3)
WHERE NOT ({name:String} = 'beta' AND {x:Float64} = 2)
`;

type Row = Record<string, unknown>;

let t: { dir: string; cleanup: () => void };
let chdb: Engine;
const env = { ...process.env, CLICKHOUSE_URL: '' };

beforeAll(async () => {
  t = tempDir('sweep-export-');
  writeFileSync(join(t.dir, 'typed.yaml'), SPEC);
  writeFileSync(join(t.dir, 'typed.sql'), TEMPLATE);
  chdb = createEngine({ kind: 'embedded', path: join(t.dir, 'readback') });
});

afterAll(async () => {
  await chdb?.close();
  t?.cleanup();
});

function records(): ResultRecord[] {
  return readFileSync(join(t.dir, 'out', 'typed', 'results.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ResultRecord);
}

/**
 * What every export must hold: one line per result row, params as their
 * placeholder types hold them. `big` is UInt8 in the configs where n = 1 (a
 * literal gets the smallest type that holds it) and UInt64 where n is 2^64-1:
 * the export widens it to UInt64, whose values are digit strings.
 */
function expectedRows(): Row[] {
  const out: Row[] = [];
  for (const r of records()) {
    if (r.status !== 'ok') continue;
    const p = r.params;
    const context = { sweep: 'typed', unit: r.unit, config: r.config, name: p['name'], n: String(p['n']), x: Number(p['x']), d: p['d'] };
    for (const row of r.rows) {
      const { name, ...rest } = row;
      expect(name).toBe(p['name']); // the same value as the param: written once
      out.push({ ...context, ...rest, big: String(rest['big']) });
    }
  }
  return out;
}

async function exportTo(args: string[]): Promise<ExportSummary> {
  const res = await runSweep(['export', 'typed.yaml', '--json', ...args], { cwd: t.dir, env, timeoutMs: 120_000 });
  expect(res.stderr).not.toMatch(/internal error/);
  expect(res.code).toBe(0);
  return JSON.parse(res.stdout) as ExportSummary;
}

async function readBack(sql: string): Promise<Row[]> {
  return (await chdb.runConfig([sql], { queryId: `readback-${Math.random()}` })).rows;
}

const structure = (s: ExportSummary, override: Record<string, string> = {}): string => s.columns.map((c) => `\`${c.name}\` ${override[c.name] ?? c.type}`).join(', ');

describe('sweep export', () => {
  it('on a partial sweep writes what is there and says what is missing (exit 0)', async () => {
    const partial = await runSweep(['run', 'typed.yaml', '--only', 'name=alpha'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(partial.code).toBe(1); // incomplete
    const res = await runSweep(['export', 'typed.yaml', '--format', 'ndjson'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/partial sweep: 4 of 8 configs have no record .* in 1 unit\(s\): name-beta/);
    expect(readFileSync(join(t.dir, 'out', 'typed', 'export', 'rows.ndjson'), 'utf8').trim().split('\n')).toHaveLength(4 * 3);
  }, 240_000);

  it('types every column from the placeholders and the recorded result types', async () => {
    const run = await runSweep(['run', 'typed.yaml'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(run.code).toBe(0);
    const s = await exportTo(['--format', 'ndjson']);
    expect(s.columns).toEqual([
      { name: 'sweep', type: 'String' },
      { name: 'unit', type: 'String' },
      { name: 'config', type: 'String' },
      { name: 'name', type: 'String' },
      { name: 'n', type: 'UInt64' },
      { name: 'x', type: 'Float64' },
      { name: 'd', type: 'Date' },
      { name: 'k', type: 'UInt64' },
      { name: 'big', type: 'UInt64' },
      { name: 'i128', type: 'Int128' },
      { name: 'dec', type: 'Decimal(38, 3)' },
      { name: 'f', type: 'Float64' },
      { name: 'third', type: 'Float64' },
      { name: 'maybe', type: 'Nullable(String)' },
      { name: 'arr', type: 'Array(UInt64)' },
      { name: 'day', type: 'Date' },
      { name: 'ts', type: "DateTime('UTC')" },
      { name: 'even', type: 'Bool' },
    ]);
    expect(s).toMatchObject({ rows: 18, configs: 8, ok: 6, skipped: 2, error: 0, missing: 0, partial: null });
  }, 240_000);

  it('NDJSON holds every value exactly as the records do', async () => {
    const s = await exportTo(['--format', 'ndjson']);
    const lines = readFileSync(s.file?.path as string, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);
    expect(lines).toEqual(expectedRows());
    // Spot checks of what a double would have lost.
    expect(lines[0]).toMatchObject({ n: '18446744073709551615', big: '18446744073709551615', i128: '-170141183460469231731687303715884105728', dec: '12345678901234567890.123', f: 'nan' });
  });

  it('CSV and TSV carry a header row and read back (with the declared types) equal to the records', async () => {
    for (const [format, chFormat] of [
      ['csv', 'CSVWithNames'],
      ['tsv', 'TSVWithNames'],
    ] as const) {
      const s = await exportTo(['--format', format]);
      const text = readFileSync(s.file?.path as string, 'utf8');
      const header = (text.split('\n')[0] as string).split(format === 'csv' ? ',' : '\t').map((h) => h.replace(/^"|"$/g, ''));
      expect(header).toEqual(s.columns.map((c) => c.name));
      const rows = await readBack(`SELECT * FROM file('${s.file?.path}', '${chFormat}', '${structure(s).replace(/'/g, "\\'")}')`);
      expect(rows).toEqual(expectedRows());
    }
    // Deterministic: the same export twice gives the same bytes.
    const a = readFileSync((await exportTo(['--format', 'csv'])).file?.path as string);
    const b = readFileSync((await exportTo(['--format', 'csv'])).file?.path as string);
    expect(a.equals(b)).toBe(true);
  });

  it('Parquet (written by chDB) reads back through chDB equal to the records, with Parquet types as declared', async () => {
    const s = await exportTo(['--format', 'parquet', '--to', join(t.dir, 'typed.parquet')]);
    expect(s.notes).toContain('i128: Int128 has no Parquet type: written as its decimal text (String)');
    const described = await readBack(`DESCRIBE file('${join(t.dir, 'typed.parquet')}', 'Parquet')`);
    const parquetType = new Map(described.map((r) => [String(r['name']), String(r['type'])]));
    // What Parquet calls the same thing: a date is a date32, a time a timestamp; Int128 has no Parquet type.
    const sameInParquet: Record<string, string> = { Date: 'Date32', "DateTime('UTC')": "DateTime64(3, 'UTC')", Int128: 'String' };
    for (const c of s.columns) expect(`${c.name} ${parquetType.get(c.name)}`).toBe(`${c.name} ${sameInParquet[c.type] ?? c.type}`);
    const rows = await readBack(`SELECT * FROM file('${join(t.dir, 'typed.parquet')}', 'Parquet', '${structure(s, { i128: 'String' }).replace(/'/g, "\\'")}')`);
    expect(rows).toEqual(expectedRows());
  });

  it('--what records: one line per config, errors and timings included', async () => {
    const s = await exportTo(['--what', 'records', '--format', 'ndjson']);
    const lines = readFileSync(s.file?.path as string, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row);
    const recs = records();
    expect(lines).toHaveLength(8);
    expect(lines.map((l) => [l['config'], l['status'], l['result_rows'], l['elapsed_ms']])).toEqual(recs.map((r) => [r.config, r.status, r.rows.length, r.elapsed_ms]));
  });

  it.skipIf(lacks('clickhouse'))('--to-clickhouse: a MergeTree table on the server, values equal, re-export replaces only this sweep', async () => {
    const url = inject('clickhouseUrl');
    await chQuery(url, 'DROP DATABASE IF EXISTS sweep_export_test');
    await chQuery(url, 'CREATE DATABASE sweep_export_test');
    const args = ['--to-clickhouse', 'sweep_export_test.results', '--clickhouse-url', url];
    const first = await exportTo(args);
    expect(first.table).toMatchObject({ table: 'sweep_export_test.results', created: true, rows: 18, replaced: 0 });
    const create = await chQuery(url, 'SHOW CREATE TABLE sweep_export_test.results FORMAT TSVRaw');
    expect(create).toMatch(/MergeTree/);
    expect(create.replace(/\s+/g, ' ')).toMatch(/PARTITION BY sweep ORDER BY \(sweep, config\)/);

    // Types as declared, or the nearest the server has (18.16: no Bool, no Int128).
    const converted = new Map((first.table?.converted ?? []).map((c) => [c.column, c.to]));
    const columns = await chQuery(url, "SELECT name, type FROM system.columns WHERE database = 'sweep_export_test' AND table = 'results' FORMAT TSV");
    expect(columns.trim().split('\n').map((l) => l.split('\t'))).toEqual(first.columns.map((c) => [c.name, (converted.get(c.name) ?? c.type).replace(/'/g, "\\'")]));

    const server = createEngine({ kind: 'http', url, concurrency: 1, queryTimeoutMs: 30_000 });
    try {
      const expected = expectedRows().map((r) => (converted.get('even') === 'UInt8' ? { ...r, even: r['even'] ? 1 : 0 } : r));
      // ORDER BY config, k as the server does it: bytes, then numbers.
      const byKey = (a: Row, b: Row): number => {
        const [ca, cb] = [String(a['config']), String(b['config'])];
        return ca < cb ? -1 : ca > cb ? 1 : Number(a['k']) - Number(b['k']);
      };
      const read = async (): Promise<Row[]> => (await server.runConfig(["SELECT * FROM sweep_export_test.results WHERE sweep = 'typed' ORDER BY config, k"], { queryId: `t-${Date.now()}` })).rows;
      expect(await read()).toEqual([...expected].sort(byKey));

      // Another sweep's rows in the same table, then the same export again.
      await chQuery(url, "INSERT INTO sweep_export_test.results (sweep, unit, config) VALUES ('other', 'u', 'c')");
      const again = await exportTo(args);
      expect(again.table).toMatchObject({ created: false, rows: 18, replaced: 18, added_columns: [] });
      expect(await read()).toEqual([...expected].sort(byKey));
      expect((await chQuery(url, 'SELECT sweep, count() FROM sweep_export_test.results GROUP BY sweep ORDER BY sweep FORMAT TSV')).trim()).toBe('other\t1\ntyped\t18');
      // No staging table left behind.
      expect((await chQuery(url, "SELECT count() FROM system.tables WHERE database = 'sweep_export_test' FORMAT TSV")).trim()).toBe('1');
    } finally {
      await server.close();
    }
  });

  it('--to-clickhouse on a current ClickHouse (chDB 26 behind the test-only HTTP front): every type kept, values equal, re-export idempotent', async () => {
    const front = await startChdbFront();
    const server = createEngine({ kind: 'http', url: front.url, concurrency: 1, queryTimeoutMs: 30_000 });
    try {
      await chQuery(front.url, 'CREATE DATABASE IF NOT EXISTS sweep_export_test');
      const args = ['--to-clickhouse', 'sweep_export_test.results', '--clickhouse-url', front.url];
      const first = await exportTo(args);
      expect(first.table).toMatchObject({ created: true, rows: 18, replaced: 0, converted: [] });
      const read = async (): Promise<Row[]> => (await server.runConfig(["SELECT * FROM sweep_export_test.results WHERE sweep = 'typed' ORDER BY config, k"], { queryId: `f-${Date.now()}` })).rows;
      const byKey = (a: Row, b: Row): number => {
        const [ca, cb] = [String(a['config']), String(b['config'])];
        return ca < cb ? -1 : ca > cb ? 1 : Number(a['k']) - Number(b['k']);
      };
      const expected = [...expectedRows()].sort(byKey);
      expect(await read()).toEqual(expected);
      const again = await exportTo(args);
      expect(again.table).toMatchObject({ created: false, rows: 18, replaced: 18 });
      expect(await read()).toEqual(expected);
    } finally {
      await server.close();
      await front.stop();
    }
  });

  it.skipIf(lacks('clickhouse'))('refuses a table it cannot replace a sweep in, and a bad table name, with exit 2', async () => {
    const url = inject('clickhouseUrl');
    await chQuery(url, 'CREATE DATABASE IF NOT EXISTS sweep_export_test');
    await chQuery(url, 'CREATE TABLE IF NOT EXISTS sweep_export_test.plain (sweep String, config String) ENGINE = MergeTree ORDER BY sweep');
    const bad = await runSweep(['export', 'typed.yaml', '--to-clickhouse', 'sweep_export_test.plain', '--clickhouse-url', url], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/expected a MergeTree table partitioned by sweep/);
    const name = await runSweep(['export', 'typed.yaml', '--to-clickhouse', 'no-dots'], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(name.code).toBe(2);
    expect(name.stderr).toMatch(/--to-clickhouse: expected DATABASE.TABLE/);
    const noDb = await runSweep(['export', 'typed.yaml', '--to-clickhouse', 'sweep_no_such_db.results', '--clickhouse-url', url], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(/expected database sweep_no_such_db to exist on the server, found none: create it/);
    expect(noDb.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  });
});

// A sweep dir copied elsewhere keeps working: export reads only the sweep dir and the spec.
describe('sweep export --out', () => {
  it('reads the sweep dir given', async () => {
    const other = join(t.dir, 'elsewhere');
    mkdirSync(other, { recursive: true });
    cpSync(join(t.dir, 'out', 'typed'), join(other, 'typed'), { recursive: true });
    const res = await runSweep(['export', 'typed.yaml', '--out', join(other, 'typed'), '--format', 'ndjson', '--to', join(other, 'x.ndjson')], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(res.code).toBe(0);
    expect(readFileSync(join(other, 'x.ndjson'), 'utf8').trim().split('\n')).toHaveLength(18);
    // Without --format, the file name says which.
    const byName = await runSweep(['export', 'typed.yaml', '--to', join(other, 'x.parquet'), '--json'], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect((JSON.parse(byName.stdout) as ExportSummary).file).toEqual({ path: join(other, 'x.parquet'), format: 'parquet' });
    expect(readFileSync(join(other, 'x.parquet')).subarray(0, 4).toString()).toBe('PAR1');
    // A name that says no format is refused, not silently written as CSV.
    const txt = await runSweep(['export', 'typed.yaml', '--to', join(other, 'x.txt')], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(txt.code).toBe(2);
    expect(txt.stderr).toMatch(/--to .*x\.txt: expected a file name ending in \.csv, .*\(or --format to choose\), found \.txt/);
    expect(existsSync(join(other, 'x.txt'))).toBe(false);
  });
});
