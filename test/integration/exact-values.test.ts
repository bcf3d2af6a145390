/**
 * Values come back exactly as the server computed them, identical from every
 * target: ClickHouse 18.16 (the harness server), a current ClickHouse (chDB
 * 26.x behind the test-only HTTP front, so the http engine meets current
 * defaults: 64-bit integers unquoted since 25.8), and the embedded engine.
 * Each case here was a wrong record or a wrongly failed sweep before.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEngine, type Engine } from '../../src/engine/index.js';
import type { ResultRecord } from '../../src/results/record.js';
import { startChdbFront, type ChdbFront } from '../harness/chdb-front.js';
import { lacks } from '../harness/components.js';
import { runSweep, tempDir } from '../helpers/cli.js';

const TEMPLATE = `SELECT
  {n:UInt32} AS n,
  toUInt64('9007199254740993') AS u64,
  toInt64('-9007199254740993') AS i64,
  toUInt64('18446744073709551615') AS u64max,
  toDecimal64('1.5', 2) AS d2,
  toDecimal128('12345678901234567890.123', 3) AS d128,
  toFloat64('nan') AS nan,
  toFloat64('inf') AS inf,
  -toFloat64('inf') AS ninf,
  CAST(NULL AS Nullable(Float64)) AS null_f,
  toFloat32(0.1) AS f32,
  0.1 + 0.2 AS f64,
  [toUInt64('9007199254740993')] AS arr,
  (toUInt64(1), 'x') AS tup,
  toDate('2024-01-02') AS day,
  'a/b"c' AS s
`;

const EXPECTED_ROW = {
  n: 7,
  u64: '9007199254740993',
  i64: '-9007199254740993',
  u64max: '18446744073709551615',
  d2: '1.50',
  d128: '12345678901234567890.123',
  nan: 'nan',
  inf: 'inf',
  ninf: '-inf',
  null_f: null,
  f32: 0.1,
  f64: 0.30000000000000004,
  arr: ['9007199254740993'],
  tup: ['1', 'x'],
  day: '2024-01-02',
  s: 'a/b"c',
};

function readRecords(path: string): ResultRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultRecord);
}

describe.skipIf(lacks('clickhouse'))('exact values on every target', () => {
  let front: ChdbFront;
  let t: { dir: string; cleanup: () => void };
  beforeAll(async () => {
    front = await startChdbFront();
    t = tempDir('sweep-exact-');
  });
  afterAll(async () => {
    await front?.stop();
    t?.cleanup();
  });

  /** `sweep run` of a one-config sweep on a target; returns the record's `rows` line text and the record. */
  async function runOn(name: string, target: 'server' | 'front' | 'embedded', template = TEMPLATE, params = 'n: [7]', worker = ''): Promise<ResultRecord[]> {
    const dir = join(t.dir, `${name}-${target}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'q.sql'), template);
    writeFileSync(join(dir, 'sweep.yaml'), `name: ${name}\ntemplate: q.sql\nparams:\n  ${params}\n${worker}`);
    const url = target === 'server' ? inject('clickhouseUrl') : target === 'front' ? front.url : undefined;
    const res = await runSweep(['run', 'sweep.yaml', '--json', ...(url ? ['--clickhouse-url', url] : [])], { cwd: dir, env: { ...process.env, CLICKHOUSE_URL: '' }, timeoutMs: 120_000 });
    if (res.code !== 0 && res.code !== 1) throw new Error(`sweep run on ${target} exited ${res.code}: ${res.stderr}`);
    return readRecords(join(dir, 'out', name, 'results.ndjson'));
  }

  it('64-bit and 128-bit integers, decimals, NaN/Inf (not NULL), arrays and tuples: byte-identical rows from 18.16, a current server and the embedded engine', async () => {
    const rowsOf = async (target: 'server' | 'front' | 'embedded') => {
      const records = await runOn('exact', target);
      expect(records).toHaveLength(1);
      expect(records[0]?.status).toBe('ok');
      return records[0] as ResultRecord;
    };
    const server = await rowsOf('server');
    const current = await rowsOf('front');
    const embedded = await rowsOf('embedded');
    expect(server.rows).toEqual([EXPECTED_ROW]);
    // Byte-identical, not merely equal: the same text in every record file.
    expect(JSON.stringify(current.rows)).toBe(JSON.stringify(server.rows));
    expect(JSON.stringify(embedded.rows)).toBe(JSON.stringify(server.rows));
    // The types travel with the results (results/shapes), the same shape everywhere but for the server's own type names.
    expect(server.shape).toMatch(/^[0-9a-f]{16}$/);
    expect(server.engine).toMatch(/^http 18\./);
    expect(current.engine).toMatch(/^http 2[5-9]\./);
    expect(embedded.engine).toMatch(/^embedded 2[5-9]\./);
  });

  it("the issue's example: toUInt64('9007199254740993') against current defaults is recorded exactly, not 9007199254740992", async () => {
    // The front runs chDB with its own defaults: output_format_json_quote_64bit_integers = 0 there.
    const settings = await fetch(`${front.url}/?query=${encodeURIComponent("SELECT value FROM system.settings WHERE name = 'output_format_json_quote_64bit_integers'")}`).then((r) => r.text());
    expect(settings.trim()).toBe('0');
    const [record] = await runOn('issue64', 'front', "SELECT toUInt64('9007199254740993') AS v, {n:UInt32} AS n\n");
    expect(record?.rows).toEqual([{ v: '9007199254740993', n: 7 }]);
  });

  it('spec values reach SQL as written: YAML would round 9007199254740993 and 18446744073709551615, and read 0755 and 1e3 as numbers', async () => {
    const template = 'SELECT {s:String} AS s, {t:UInt64} AS t\n';
    const params = "s: [9007199254740993, 18446744073709551615, 0755, 1e3]\n  t: [18446744073709551615]";
    for (const target of ['server', 'front', 'embedded'] as const) {
      const records = await runOn('yamlexact', target, template, params);
      const byS = Object.fromEntries(records.map((r) => [String(r.rows[0]?.['s']), r.rows[0]?.['t']]));
      expect(Object.keys(byS).sort(), target).toEqual(['0755', '18446744073709551615', '1e3', '9007199254740993']);
      expect(new Set(Object.values(byS)), target).toEqual(new Set(['18446744073709551615']));
      // Ids derive from the exact values too.
      expect(records.map((r) => r.config).sort()).toEqual([
        's-0755__t-18446744073709551615',
        's-18446744073709551615__t-18446744073709551615',
        's-1e3__t-18446744073709551615',
        's-9007199254740993__t-18446744073709551615',
      ]);
    }
  });

  it('placeholders keep their declared type, as ClickHouse binding does: Int64 bit ops, a Float32 column compared, one column type for every value', async () => {
    const template = [
      'SELECT {x:Int64} AS x, bitNot({x:Int64}) AS bn, bitShiftLeft({x:UInt64}, 40) AS sh, toTypeName({x:Int64}) AS tx,',
      '  {p:Float32} AS p, toTypeName({p:Float32}) AS tp, toFloat32({p:Float32}) = toFloat32(0.1) AS eq,',
      '  quantile({q:Float64})(number) AS med',
      'FROM numbers(11)',
      'LIMIT {x:Int64}',
    ].join('\n') + '\n';
    const params = 'x: [5, 9007199254740993]\n  p: [0.1]\n  q: [0.5]';
    const byTarget: string[] = [];
    for (const target of ['server', 'front', 'embedded'] as const) {
      const records = (await runOn('typed', target, template, params)).sort((a, b) => a.config.localeCompare(b.config));
      expect(records.map((r) => r.status), target).toEqual(['ok', 'ok']);
      const small = records.find((r) => r.params['x'] === 5);
      expect(small?.rows, target).toEqual([{ x: '5', bn: '-6', sh: '5497558138880', tx: 'Int64', p: 0.1, tp: 'Float32', eq: 1, med: 5 }]);
      byTarget.push(JSON.stringify(records.map((r) => r.rows)));
    }
    expect(byTarget[1]).toBe(byTarget[0]);
    expect(byTarget[2]).toBe(byTarget[0]);
  });

  it('a result past worker.max_result_rows is an error record with a clear message, enforced by the server', async () => {
    const template = 'SELECT number AS x, {n:UInt32} AS n FROM system.numbers LIMIT {n:UInt32}\n';
    for (const target of ['server', 'embedded'] as const) {
      const records = await runOn('cap', target, template, 'n: [10, 1001]', 'worker:\n  max_result_rows: 1000\n');
      const byN = new Map(records.map((r) => [r.params['n'], r]));
      expect(byN.get(10)?.status, target).toBe('ok');
      expect(byN.get(10)?.rows, target).toHaveLength(10);
      expect(byN.get(1001)?.status, target).toBe('error');
      expect(byN.get(1001)?.error?.code, target).toBe(396);
      expect(byN.get(1001)?.error?.name, target).toBe('TOO_MANY_ROWS_OR_BYTES');
      expect(byN.get(1001)?.error?.message, target).toMatch(/Limit for result exceeded/);
    }
  });

  it('errors are named the same on every version: 18.16 code 153 is ILLEGAL_DIVISION, as chDB says', async () => {
    const template = 'SELECT intDiv({n:UInt32}, 0) AS q\n';
    for (const target of ['server', 'front', 'embedded'] as const) {
      const [record] = await runOn('div', target, template, 'n: [1]');
      expect(record?.error, target).toMatchObject({ code: 153, name: 'ILLEGAL_DIVISION' });
    }
  });
});

describe.skipIf(lacks('clickhouse'))('a response an engine cannot read as the JSON it asked for is an error, never zero rows', () => {
  const engines: Array<[string, () => Engine]> = [];
  let front: ChdbFront;
  let scratch: { dir: string; cleanup: () => void };
  beforeAll(async () => {
    front = await startChdbFront();
    scratch = tempDir('sweep-fmt-');
    engines.push(
      ['18.16 server', () => createEngine({ kind: 'http', url: inject('clickhouseUrl'), concurrency: 1, queryTimeoutMs: 30_000 })],
      ['current server (chDB front)', () => createEngine({ kind: 'http', url: front.url, concurrency: 1, queryTimeoutMs: 30_000 })],
      ['embedded', () => createEngine({ kind: 'embedded', path: join(scratch.dir, 'chdb') })],
    );
  });
  afterAll(async () => {
    await front?.stop();
    scratch?.cleanup();
  });

  it('a statement choosing its own FORMAT gives BAD_RESPONSE on every engine', async () => {
    for (const [name, make] of engines) {
      const engine = make();
      try {
        await expect(engine.runConfig(['SELECT 1 AS x FORMAT TSV'], { queryId: `fmt-${Date.now()}` }), name).rejects.toMatchObject({ codeName: 'BAD_RESPONSE' });
        await expect(engine.runConfig(['SELECT 1 AS x, 2 AS y WHERE 0 FORMAT CSV'], { queryId: `fmt0-${Date.now()}` }), name).rejects.toMatchObject({ codeName: 'BAD_RESPONSE' });
      } finally {
        await engine.close();
      }
    }
  });

  it("an exception a current server writes into the JSON output (or into the error body) keeps its code and name", async () => {
    const engine = createEngine({ kind: 'http', url: front.url, concurrency: 1, queryTimeoutMs: 30_000 });
    try {
      await expect(engine.runConfig(['SELECT * FROM no_such_table_anywhere'], { queryId: 'q-missing' })).rejects.toMatchObject({ code: 60, codeName: 'UNKNOWN_TABLE' });
    } finally {
      await engine.close();
    }
    // 18.16 for comparison: the same code and name.
    const old = createEngine({ kind: 'http', url: inject('clickhouseUrl'), concurrency: 1, queryTimeoutMs: 30_000 });
    try {
      await expect(old.runConfig(['SELECT * FROM no_such_table_anywhere'], { queryId: 'q-missing-old' })).rejects.toMatchObject({ code: 60, codeName: 'UNKNOWN_TABLE' });
    } finally {
      await old.close();
    }
  });
});
