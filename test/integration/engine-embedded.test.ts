/**
 * The embedded engine (chdb, in this process) against the same contract as the
 * http engine, plus persistence of its data directory across engine instances.
 * chdb allows one data directory per process, so every test here shares one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, EngineError, type Engine } from '../../src/engine/index.js';

const LONG_QUERY = 'SELECT sum(number) FROM numbers(1000000000000)';

let dir: string;
let engine: Engine;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sweep-chdb-'));
  engine = createEngine({ kind: 'embedded', path: join(dir, 'data') });
});

afterAll(async () => {
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

async function running(queryIdPrefix: string): Promise<number> {
  const rows = await engine.query(
    `SELECT count() AS n FROM system.processes WHERE startsWith(Settings['log_comment'], 'sweep:query_id=${queryIdPrefix}')`,
  );
  return Number(rows[0]?.['n']);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

async function failure(p: Promise<unknown>): Promise<EngineError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return err as EngineError;
  }
  throw new Error('expected the call to fail');
}

describe('embedded engine', () => {
  it('reports the chdb engine version', async () => {
    expect(engine.kind).toBe('embedded');
    expect(await engine.version()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('returns rows like the http engine: objects, 64-bit integers as strings, read statistics', async () => {
    const out = await engine.runConfig(['SELECT number, toString(number) AS s FROM system.numbers LIMIT 3'], {
      queryId: 'single',
    });
    expect(out.rows).toEqual([
      { number: '0', s: '0' },
      { number: '1', s: '1' },
      { number: '2', s: '2' },
    ]);
    expect(out.rowsRead).toBe(3);
    expect(out.bytesRead).toBe(24);
    expect(out.elapsedMs).toBeGreaterThan(0);
  });

  it('runs a multi-statement config in one session: temporary table and SET carry over', async () => {
    const statements = [
      'SET max_threads = 3',
      'CREATE TEMPORARY TABLE picks (x UInt32)',
      'INSERT INTO picks SELECT number FROM system.numbers LIMIT 5',
      "SELECT sum(x) AS total, (SELECT value FROM system.settings WHERE name = 'max_threads') AS threads FROM picks",
    ];
    const out = await engine.runConfig(statements, { queryId: 'multi-1' });
    expect(out.rows).toEqual([{ total: '10', threads: '3' }]);
    // The session ended with the config: the same config runs again without "table already exists".
    expect((await engine.runConfig(statements, { queryId: 'multi-2' })).rows).toEqual(out.rows);
  });

  it('passes settings, and a config without them does not inherit another\'s', async () => {
    const sql = ["SELECT value FROM system.settings WHERE name = 'max_threads'"];
    expect((await engine.runConfig(sql, { queryId: 'set-1', settings: { max_threads: 1 } })).rows).toEqual([{ value: '1' }]);
    expect((await engine.runConfig(sql, { queryId: 'set-2', settings: { max_threads: 1 } })).rows).toEqual([{ value: '1' }]);
    const plain = await engine.runConfig(sql, { queryId: 'set-3' });
    expect(plain.rows).not.toEqual([{ value: '1' }]);
  });

  it('runs concurrent multi-statement configs in separate sessions', async () => {
    const n = 16;
    const outs = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        engine.runConfig(
          ['CREATE TEMPORARY TABLE mine (v UInt32)', `INSERT INTO mine VALUES (${i})`, 'SELECT any(v) AS v, count() AS c FROM mine'],
          { queryId: `conc-${i}` },
        ),
      ),
    );
    expect(outs.map((o) => o.rows)).toEqual(Array.from({ length: n }, (_, i) => [{ v: i, c: '1' }]));
  });

  it('turns engine errors into EngineErrors with the numeric code', async () => {
    const syntax = await failure(engine.runConfig(['SELEC 1'], { queryId: 'e1' }));
    expect([syntax.code, syntax.codeName, syntax.transient]).toEqual([62, 'SYNTAX_ERROR', false]);
    expect(syntax.message).toMatch(/^Code: 62\. DB::Exception: Syntax error: failed at position 7 /);

    const table = await failure(engine.runConfig(['SELECT * FROM no_such_table'], { queryId: 'e2' }));
    expect([table.code, table.codeName, table.transient]).toEqual([60, 'UNKNOWN_TABLE', false]);

    const mismatch = await failure(engine.runConfig(["SELECT 1 IN ('a')"], { queryId: 'e3' }));
    expect([mismatch.code, mismatch.codeName]).toEqual([53, 'TYPE_MISMATCH']);

    const memory = await failure(
      engine.runConfig(['SELECT groupArray(number) FROM numbers(1000000)'], {
        queryId: 'e4',
        settings: { max_memory_usage: 1000 },
      }),
    );
    expect([memory.code, memory.codeName, memory.transient]).toEqual([241, 'MEMORY_LIMIT_EXCEEDED', true]);
  });

  it('returns strings byte for byte and keeps error messages whole', async () => {
    const value = 'tab\there "double" \'single\' `back`\nnew line\r\nback\\slash é 漢字 😀 \u0000 end';
    const literal = `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").split('\u0000').join('\\0')}'`;
    const out = await engine.runConfig([`SELECT ${literal} AS s`], { queryId: 'bytes' });
    expect(out.rows[0]?.['s']).toBe(value);

    const err = await failure(engine.runConfig([`SELECT throwIf(1, ${literal})`], { queryId: 'msg' }));
    expect(err.code).toBe(395);
    expect(err.message).toContain('tab\there "double" \'single\' `back`\nnew line');
  });

  it('stops an aborted query in the engine within 2 s (KILL QUERY by log_comment)', async () => {
    const ac = new AbortController();
    const pending = engine.runConfig([LONG_QUERY], { queryId: 'abort', signal: ac.signal });
    pending.catch(() => {});
    expect(await waitFor(async () => (await running('abort')) === 1, 5000)).toBe(true);
    const abortedAt = Date.now();
    ac.abort();
    const err = await failure(pending);
    expect([err.codeName, err.transient]).toEqual(['ABORTED', false]);
    expect(await waitFor(async () => (await running('abort')) === 0, 2000)).toBe(true);
    expect(Date.now() - abortedAt).toBeLessThan(2000);
  });

  it('times out a query and kills it', async () => {
    const err = await failure(engine.runConfig([LONG_QUERY], { queryId: 'timeout', timeoutMs: 500 }));
    expect([err.codeName, err.transient]).toEqual(['REQUEST_TIMEOUT', true]);
    expect(await waitFor(async () => (await running('timeout')) === 0, 2000)).toBe(true);
  });

  it('cancels every query whose id starts with a prefix', async () => {
    const pending = [0, 1].map((i) => engine.runConfig([LONG_QUERY], { queryId: `cancel-${i}` }));
    for (const p of pending) p.catch(() => {});
    expect(await waitFor(async () => (await running('cancel-')) === 2, 5000)).toBe(true);
    await engine.cancelQueries('cancel-');
    for (const p of pending) expect((await failure(p)).codeName).toBe('QUERY_WAS_CANCELLED');
  });

  it('keeps data in its directory across engine instances', async () => {
    // The configured database is created on first use: the data directory is the engine's own.
    const first = createEngine({ kind: 'embedded', path: join(dir, 'data'), database: 'sweep_test' });
    try {
      await first.exec('CREATE TABLE kept (x UInt32) ENGINE = MergeTree ORDER BY x');
    } finally {
      await first.close();
    }
    await engine.exec('INSERT INTO sweep_test.kept VALUES (1), (2), (3)');
    const second = createEngine({ kind: 'embedded', path: join(dir, 'data'), database: 'sweep_test' });
    try {
      const out = await second.runConfig(['SELECT sum(x) AS s FROM kept'], { queryId: 'persist' });
      expect(out.rows).toEqual([{ s: '6' }]);
    } finally {
      await second.close();
    }
    // Closed engines refuse work; a new one on the same path sees the data again.
    await engine.close();
    await expect(engine.query('SELECT 1')).rejects.toThrow(/closed/);
    engine = createEngine({ kind: 'embedded', path: join(dir, 'data') });
    expect(await engine.query('SELECT count() AS n FROM sweep_test.kept')).toEqual([{ n: '3' }]);
  });
});
