/**
 * The http engine against the harness's real ClickHouse server (18.16 on CI).
 * Every SQL here runs on 18.16 and current releases.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lacks } from '../harness/components.js';
import { chQuery } from '../harness/clickhouse.js';
import { createEngine, EngineError, type Engine } from '../../src/engine/index.js';

const url = inject('clickhouseUrl');
const serverVersion = inject('clickhouseVersion');
const run = `t${Date.now().toString(36)}`;
/** Long enough to still be running seconds later on any machine, cheap to cancel (checked per block). */
const LONG_QUERY = 'SELECT sum(number) FROM numbers(1000000000000)';

let engine: Engine;

beforeAll(() => {
  engine = createEngine({ kind: 'http', url, concurrency: 16, queryTimeoutMs: 60_000 });
});

afterAll(async () => {
  await engine.close();
});

async function running(queryIdPrefix: string): Promise<number> {
  const out = await chQuery(url, `SELECT count() FROM system.processes WHERE startsWith(query_id, '${queryIdPrefix}')`);
  return Number(out.trim());
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

describe.skipIf(lacks('clickhouse'))('http engine', () => {
  it('reports the server version', async () => {
    expect(await engine.version()).toBe(serverVersion);
  });

  it('returns the rows of a single statement with read statistics and sub-ms timing', async () => {
    const out = await engine.runConfig(['SELECT number, toString(number) AS s FROM system.numbers LIMIT 3'], {
      queryId: `${run}-single`,
    });
    // 64-bit integers come back as strings in JSON.
    expect(out.rows).toEqual([
      { number: '0', s: '0' },
      { number: '1', s: '1' },
      { number: '2', s: '2' },
    ]);
    expect(out.rowsRead).toBe(3);
    expect(out.bytesRead).toBe(24);
    expect(out.elapsedMs).toBeGreaterThan(0);
    expect(out.elapsedMs).toBeLessThan(10_000);
  });

  it('runs a multi-statement config in one session: temporary table and SET carry over', async () => {
    const out = await engine.runConfig(
      [
        'SET max_threads = 3',
        'CREATE TEMPORARY TABLE picks (x UInt32)',
        'INSERT INTO picks SELECT number FROM system.numbers LIMIT 5',
        "SELECT sum(x) AS total, (SELECT value FROM system.settings WHERE name = 'max_threads') AS threads FROM picks",
      ],
      { queryId: `${run}-multi` },
    );
    expect(out.rows).toEqual([{ total: '10', threads: '3' }]);
    expect(out.rowsRead).toBeGreaterThanOrEqual(5);
  });

  it('passes settings to every statement', async () => {
    const out = await engine.runConfig(["SELECT value FROM system.settings WHERE name = 'max_threads'"], {
      queryId: `${run}-settings`,
      settings: { max_threads: 1 },
    });
    expect(out.rows).toEqual([{ value: '1' }]);
  });

  it('runs concurrent multi-statement configs in separate sessions', async () => {
    const n = 40;
    const outs = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        engine.runConfig(
          [
            'CREATE TEMPORARY TABLE mine (v UInt32)',
            `INSERT INTO mine VALUES (${i})`,
            'SELECT sleep(0.05)',
            'SELECT any(v) AS v, count() AS c FROM mine',
          ],
          { queryId: `${run}-conc-${i}` },
        ),
      ),
    );
    // No SESSION_IS_LOCKED, no "table already exists", and no config sees another's table.
    expect(outs.map((o) => o.rows)).toEqual(Array.from({ length: n }, (_, i) => [{ v: i, c: '1' }]));
  });

  it('turns server errors into EngineErrors with the numeric code', async () => {
    const syntax = await failure(engine.runConfig(['SELEC 1'], { queryId: `${run}-e1` }));
    expect([syntax.code, syntax.codeName, syntax.transient]).toEqual([62, 'SYNTAX_ERROR', false]);
    expect(syntax.message).toMatch(/^Code: 62[,.] /);

    const table = await failure(engine.runConfig(['SELECT * FROM default.no_such_table'], { queryId: `${run}-e2` }));
    expect([table.code, table.codeName, table.transient]).toEqual([60, 'UNKNOWN_TABLE', false]);
    expect(table.message).toContain('no_such_table');

    const mismatch = await failure(engine.runConfig(["SELECT 1 IN ('a')"], { queryId: `${run}-e3` }));
    expect([mismatch.code, mismatch.codeName, mismatch.transient]).toEqual([53, 'TYPE_MISMATCH', false]);

    // A failing statement in the middle stops the config.
    const middle = await failure(
      engine.runConfig(['SELECT 1', 'SELECT nofunc(1)', 'SELECT 2'], { queryId: `${run}-e4` }),
    );
    expect([middle.code, middle.codeName]).toEqual([46, 'UNKNOWN_FUNCTION']);
  });

  it('classifies a memory limit as transient', async () => {
    const err = await failure(
      engine.runConfig(['SELECT groupArray(number) FROM numbers(1000000)'], {
        queryId: `${run}-mem`,
        settings: { max_memory_usage: 1000 },
      }),
    );
    expect([err.code, err.codeName, err.transient]).toEqual([241, 'MEMORY_LIMIT_EXCEEDED', true]);
  });

  it('catches an exception the server sends after it started streaming the result', async () => {
    const err = await failure(
      engine.runConfig(['SELECT number, toString(number * 1000000007) AS s FROM numbers(1000000)'], {
        queryId: `${run}-midstream`,
        settings: { max_result_rows: 200000, max_block_size: 10000 },
      }),
    );
    expect([err.code, err.codeName]).toEqual([396, 'TOO_MANY_ROWS_OR_BYTES']);
  });

  it('returns strings byte for byte: tabs, quotes, newlines, backslashes, NUL and non-ASCII', async () => {
    const value = 'tab\there "double" \'single\' `back`\nnew line\r\nback\\slash \\n not-a-newline é 漢字 😀 \u0000 end';
    const literal = `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").split('\u0000').join('\\0')}'`;
    const out = await engine.runConfig([`SELECT ${literal} AS s, length(s) AS bytes`], { queryId: `${run}-bytes` });
    expect(out.rows[0]?.['s']).toBe(value);
    expect(Number(out.rows[0]?.['bytes'])).toBe(Buffer.byteLength(value));
  });

  it('keeps a server error message whole, with its tabs, quotes and newlines', async () => {
    const sql = "SELECT 1 FROM system.one WHERE 1 = 1 ORDER BY\n\tFROM 'a\\tb \"q\"'\n x";
    const err = await failure(engine.runConfig([sql], { queryId: `${run}-msg` }));
    expect(err.code).toBe(62);
    expect(err.message).toContain('\'a\\tb "q"\'\n x');
  });

  it('stops an aborted query on the server within 2 s', async () => {
    const queryId = `${run}-abort`;
    const ac = new AbortController();
    const pending = engine.runConfig([LONG_QUERY], { queryId, signal: ac.signal });
    pending.catch(() => {});
    expect(await waitFor(async () => (await running(queryId)) === 1, 5000)).toBe(true);
    const abortedAt = Date.now();
    ac.abort();
    const err = await failure(pending);
    expect([err.codeName, err.transient]).toEqual(['ABORTED', false]);
    expect(await waitFor(async () => (await running(queryId)) === 0, 2000)).toBe(true);
    expect(Date.now() - abortedAt).toBeLessThan(2000);
  });

  it('aborts a multi-statement config while a later statement runs', async () => {
    const queryId = `${run}-abort-multi`;
    const ac = new AbortController();
    const pending = engine.runConfig(['CREATE TEMPORARY TABLE x (a UInt8)', LONG_QUERY, 'SELECT 1'], {
      queryId,
      signal: ac.signal,
    });
    pending.catch(() => {});
    expect(await waitFor(async () => (await running(`${queryId}.2`)) === 1, 5000)).toBe(true);
    ac.abort();
    expect((await failure(pending)).codeName).toBe('ABORTED');
    expect(await waitFor(async () => (await running(queryId)) === 0, 2000)).toBe(true);
  });

  it('refuses to start when the signal is already aborted', async () => {
    const err = await failure(engine.runConfig(['SELECT 1'], { queryId: `${run}-pre`, signal: AbortSignal.abort() }));
    expect(err.codeName).toBe('ABORTED');
  });

  it('times out a query and kills it on the server', async () => {
    const queryId = `${run}-timeout`;
    const err = await failure(engine.runConfig([LONG_QUERY], { queryId, timeoutMs: 500 }));
    expect([err.codeName, err.transient]).toEqual(['REQUEST_TIMEOUT', true]);
    expect(await waitFor(async () => (await running(queryId)) === 0, 2000)).toBe(true);
  });

  it('cancels every query whose id starts with a prefix', async () => {
    const prefix = `${run}-cancel-`;
    const pending = [0, 1, 2].map((i) => engine.runConfig([LONG_QUERY], { queryId: `${prefix}${i}` }));
    for (const p of pending) p.catch(() => {});
    expect(await waitFor(async () => (await running(prefix)) === 3, 5000)).toBe(true);
    await engine.cancelQueries(prefix);
    for (const p of pending) {
      const err = await failure(p);
      expect([err.code, err.codeName]).toEqual([394, 'QUERY_WAS_CANCELLED']);
    }
    expect(await running(prefix)).toBe(0);
  });

  it('survives idle keep-alive sockets past the server timeout (3 s)', async () => {
    await engine.runConfig(['SELECT 1'], { queryId: `${run}-idle-1` });
    await new Promise((r) => setTimeout(r, 3500));
    const out = await engine.runConfig(['SELECT 2 AS x'], { queryId: `${run}-idle-2` });
    expect(out.rows).toEqual([{ x: 2 }]);
  });

  it('retries once when a stalled event loop hands out a socket the server already closed', async () => {
    const own = createEngine({ kind: 'http', url, concurrency: 1, queryTimeoutMs: 10_000 });
    try {
      await own.runConfig(['SELECT 1'], { queryId: `${run}-stale-1` });
      // Block the event loop past the server's keep-alive timeout: the agent's idle timer cannot
      // fire, so the next request goes out on the socket the server has closed meanwhile.
      const until = Date.now() + 3500;
      while (Date.now() < until) {
        /* stall */
      }
      const out = await own.runConfig(['SELECT 3 AS x'], { queryId: `${run}-stale-2` });
      expect(out.rows).toEqual([{ x: 3 }]);
    } finally {
      await own.close();
    }
  });

  it('keeps a socket that stays silent longer than the idle TTL while its query runs', async () => {
    const own = createEngine({ kind: 'http', url, concurrency: 2, queryTimeoutMs: 10_000, keepAliveTtlMs: 300 });
    try {
      const out = await own.runConfig(['SELECT sleep(1) AS s', 'SELECT 5 AS x'], { queryId: `${run}-silent` });
      expect(out.rows).toEqual([{ x: 5 }]);
    } finally {
      await own.close();
    }
  });

  it('runs setup statements and introspection queries', async () => {
    const table = `default.${run}_setup`;
    await engine.exec(`CREATE TABLE ${table} (x UInt32) ENGINE = Memory`);
    await engine.exec(`INSERT INTO ${table} VALUES (1), (2), (3)`);
    expect(await engine.query(`SELECT sum(x) AS s FROM ${table}`)).toEqual([{ s: '6' }]);
    const err = await failure(engine.exec(`CREATE TABLE ${table} (x UInt32) ENGINE = Memory`));
    expect([err.code, err.codeName]).toEqual([57, 'TABLE_ALREADY_EXISTS']);
    await engine.exec(`DROP TABLE ${table}`);
  });

  it('reports an unreachable server as transient and never prints the password', async () => {
    const bad = createEngine({
      kind: 'http',
      url: 'http://alice:s3cret-pw@127.0.0.1:1',
      concurrency: 1,
      queryTimeoutMs: 5000,
    });
    try {
      const err = await failure(bad.runConfig(['SELECT 1'], { queryId: `${run}-down` }));
      expect([err.codeName, err.transient]).toEqual(['ECONNREFUSED', true]);
      expect(err.message).toContain('127.0.0.1:1');
      expect(err.message).not.toContain('s3cret-pw');
      expect(err.message).not.toContain('alice');
    } finally {
      await bad.close();
    }
  });
});
