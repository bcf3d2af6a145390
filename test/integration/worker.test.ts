/**
 * The worker in-process against the real ClickHouse server of the harness:
 * records, skip-done, compaction, torn tails, multi-statement sessions,
 * retry limits and bad input. (Overload and outage: worker-outage.test.ts,
 * on a private server.)
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { httpTarget } from '../../src/engine/target.js';
import type { ResultRecord, ShapeLine } from '../../src/results/record.js';
import { TOOL_VERSION } from '../../src/version.js';
import { runUnit, type RunUnitOptions } from '../../src/worker/run-unit.js';
import { lacks } from '../harness/components.js';
import { chQuery } from '../harness/clickhouse.js';
import { byConfig, makeSweep, readRecords, type SweepFixture } from './worker-fixtures.js';

const url = inject('clickhouseUrl');
const version = inject('clickhouseVersion');

// 125 x 4 = 500 configs in one unit: kind 0 -> rows (ok), 1 -> no rows (skipped),
// 2 -> a parse error whose message echoes a tab, quotes, a newline, a backslash and
// a 0xFF byte (CANNOT_PARSE_TEXT, 6), 3 -> division by zero (ILLEGAL_DIVISION, 153).
// Columns cover 64-bit integers (strings in JSON), floats, unicode and arrays.
const MIX_TEMPLATE = `SELECT n, toUInt32(s) AS v, {i:UInt32} AS i, toUInt64(18446744073709551615) - n AS big, n / 3 AS f,
    'Ünï "q"\\t東京' AS u, [toInt32(n), -1] AS arr
FROM (SELECT number AS n, if({kind:UInt8} = 2 AND number = 2, concat('bad', unhex('FF'), '\\t"q\\n\\\\'), toString(number * {i:UInt32})) AS s
      FROM system.numbers LIMIT 3)
WHERE {kind:UInt8} != 1 AND (n < 2 OR {kind:UInt8} = 2) AND intDiv(10, if({kind:UInt8} = 3, 0, 1)) > 0
`;
const MIX_SPEC = `name: wmix\ntemplate: q.sql\nparams:\n  i: [${Array.from({ length: 125 }, (_, i) => i).join(', ')}]\n  kind: [0, 1, 2, 3]\n`;

const quiet = { log: () => {}, progressIntervalMs: 0 };
const opts = (f: SweepFixture, more: Partial<RunUnitOptions> = {}): RunUnitOptions => ({ dir: f.out, unit: 'all', clickhouseUrl: url, ...quiet, ...more });

/** What running the SQL file by hand returns: rows in JSON, or the server's error code. */
async function byHand(sql: string): Promise<{ rows?: unknown[]; code?: number }> {
  try {
    const text = await chQuery(url, `${sql}\nFORMAT JSON`);
    return { rows: (JSON.parse(text) as { data: unknown[] }).data };
  } catch (err) {
    const m = /Code: (\d+)/.exec(String(err));
    return { code: Number(m?.[1]) };
  }
}

describe.skipIf(lacks('clickhouse'))('run-unit against ClickHouse', () => {
  let mix: SweepFixture;
  beforeAll(async () => {
    mix = await makeSweep({ spec: MIX_SPEC, template: MIX_TEMPLATE, tag: 'wmix' });
  });
  afterAll(async () => {
    await mix.tmp.remove();
  });

  it('writes exactly one terminal record per config, with the rows that running the SQL file by hand returns', async () => {
    const index = mix.index('all');
    expect(index.configs).toHaveLength(500);
    const summary = await runUnit(opts(mix));
    expect(summary).toMatchObject({ total: 500, ok: 125, skipped: 125, error: 250, missing: 0, interrupted: null, failure: null, max_threads: 1 });
    expect(summary.engine).toBe(`http ${version}`);

    const records = readRecords(mix.results('all'));
    const per = byConfig(records);
    expect(records).toHaveLength(500);
    for (const c of index.configs) expect(per.get(c.id), c.id).toHaveLength(1);

    // By hand, a few at a time (the server admits 200 queries at once, shared with other test files).
    const hand: Array<readonly [string, { rows?: unknown[]; code?: number }]> = [];
    for (let k = 0; k < index.configs.length; k += 8) {
      const batch = index.configs.slice(k, k + 8);
      hand.push(...(await Promise.all(batch.map(async (c) => [c.id, await byHand(mix.sql('all', c.id))] as const))));
    }
    for (const [id, expected] of hand) {
      const r = (per.get(id) as ResultRecord[])[0] as ResultRecord;
      const c = index.configs.find((x) => x.id === id);
      expect(r.sql_sha256).toBe(c?.sql_sha256);
      expect(r.params).toEqual(c?.params);
      if (expected.rows) {
        expect(r.status, id).toBe(expected.rows.length > 0 ? 'ok' : 'skipped');
        expect(r.rows, id).toEqual(expected.rows);
        expect(r.error).toBeUndefined();
      } else {
        expect(r.status, id).toBe('error');
        expect(r.error?.code, id).toBe(expected.code);
        expect(r.rows).toEqual([]);
      }
    }
    const kinds = new Map(records.map((r) => [r.config, r.params['kind']]));
    expect(records.filter((r) => kinds.get(r.config) === 2).every((r) => r.error?.code === 6 && r.error.name === 'CANNOT_PARSE_TEXT')).toBe(true);
    expect(records.filter((r) => kinds.get(r.config) === 3).every((r) => r.error?.code === 153)).toBe(true);
  });

  it('writes records with every field of the design, as valid UTF-8 JSON lines whatever the server sent', () => {
    const bytes = readFileSync(mix.results('all'));
    // Strict decoding proves the file is valid UTF-8 (the server sent a 0xFF byte).
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toContain('\r');
    const records = text.trim().split('\n').map((l) => JSON.parse(l) as ResultRecord);
    const ok = records.find((r) => r.status === 'ok') as ResultRecord;
    expect(Object.keys(ok).slice(0, 6)).toEqual(['v', 'config', 'status', 'sql_sha256', 'target', 'setup']);
    expect(Object.keys(ok)).toEqual([
      'v', 'config', 'status', 'sql_sha256', 'target', 'setup', 'sweep', 'unit', 'params', 'shape', 'rows', 'rows_read', 'bytes_read',
      'elapsed_ms', 'attempts', 'query_id', 'max_threads', 'engine', 'host', 'worker', 'started_at', 'finished_at',
    ]);
    expect(ok).toMatchObject({ v: 2, sweep: 'wmix', unit: 'all', attempts: 1, max_threads: 1, engine: `http ${version}`, host: hostname(), worker: TOOL_VERSION });
    // The target names the server (never the credentials); a loopback address names this machine too.
    expect(ok.target).toBe(httpTarget(inject('clickhouseUrl'), 'default'));
    expect(ok.target).not.toMatch(/@127|:[^/]*@|password/);
    expect(ok.setup).toBeNull();
    // The result's columns and types, once per shape in results/shapes/all.ndjson.
    const shapes = readFileSync(join(mix.out, 'results', 'shapes', 'all.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ShapeLine);
    expect(shapes.find((sh) => sh.shape === ok.shape)?.columns.map((c) => c.name)).toEqual(Object.keys(ok.rows[0] ?? {}));
    expect(ok.rows_read).toBeGreaterThan(0);
    // Query ids carry the sweep and the unit, so a restarted worker can cancel what an earlier one left running.
    expect(ok.query_id).toMatch(new RegExp(`^wmix:all:[0-9a-f]{8}:${ok.config}:1$`));
    expect(Date.parse(ok.finished_at)).toBeGreaterThanOrEqual(Date.parse(ok.started_at));
    // Sub-millisecond timings (the shell tier had whole seconds).
    expect(records.some((r) => !Number.isInteger(r.elapsed_ms))).toBe(true);
    const hostile = records.find((r) => r.error?.code === 6) as ResultRecord;
    expect(hostile.error?.message).toContain('bad\ufffd');
    expect(hostile.error?.message).toContain('"q');
    expect(Object.keys(hostile).at(-1)).toBe('error');
  });

  it('skips what is done, retries errors, and compacts so each config keeps exactly one record', async () => {
    const before = byConfig(readRecords(mix.results('all')));
    const summary = await runUnit(opts(mix));
    expect(summary).toMatchObject({ already_done: 250, rerun: { error: 250, changed: 0 }, ran: { ok: 0, skipped: 0, error: 250 }, error: 250, missing: 0 });
    expect(summary.file.records_moved_aside).toBe(250);
    const after = byConfig(readRecords(mix.results('all')));
    expect(after.size).toBe(500);
    for (const [id, list] of after) {
      expect(list, id).toHaveLength(1);
      const old = (before.get(id) as ResultRecord[])[0] as ResultRecord;
      const now = list[0] as ResultRecord;
      // ok/skipped records are untouched; error records are new.
      if (old.status === 'error') expect(now.query_id).not.toBe(old.query_id);
      else expect(now).toEqual(old);
    }
  });

  it('keeps errors with --no-retry-errors and runs nothing, without connecting', async () => {
    // As if every record had been written for a server on port 1, where nothing listens.
    const path = mix.results('all');
    const original = readFileSync(path, 'utf8');
    const here = httpTarget(inject('clickhouseUrl'), 'default');
    const there = httpTarget('http://127.0.0.1:1', 'default');
    writeFileSync(path, original.split(`"target":"${here}"`).join(`"target":"${there}"`));
    try {
      const summary = await runUnit(opts(mix, { rerun: 'none', clickhouseUrl: 'http://127.0.0.1:1' }));
      expect(summary).toMatchObject({ already_done: 500, engine: null, ok: 125, skipped: 125, error: 250, ran: { ok: 0, skipped: 0, error: 0 } });
    } finally {
      writeFileSync(path, original);
    }
  });

  it('with concurrency auto, seeks its level (logged, in the summary), sizes max_threads to it, and every config ends ok', async () => {
    const n = 1500;
    const f = await makeSweep({
      spec: `name: wauto\ntemplate: q.sql\nparams:\n  i: [${Array.from({ length: n }, (_, i) => i).join(', ')}]\nworker:\n  concurrency: auto\n`,
      template: 'SELECT {i:UInt32} AS i, sum(number) AS s FROM numbers(300000)\n',
      tag: 'wauto',
    });
    try {
      const lines: string[] = [];
      const summary = await runUnit({ ...opts(f), log: (l) => lines.push(l) });
      expect(summary).toMatchObject({ ok: n, error: 0, missing: 0, concurrency: 32 });
      expect(summary.auto?.changes.length).toBeGreaterThan(0);
      expect(summary.auto?.changes[0]?.from).toBe(2);
      expect(lines.some((l) => /concurrency auto \(1 to 32, starting at 2, the default\)/.test(l))).toBe(true);
      expect(lines.filter((l) => /concurrency \d+ -> \d+ \(auto: /.test(l))).toHaveLength(summary.auto?.changes.length ?? -1);
      const final = summary.auto?.final ?? -1;
      expect(final).toBeGreaterThanOrEqual(1);
      expect(final).toBeLessThanOrEqual(32);
      // The next unit against this target continues the search where this one ended.
      expect(JSON.parse(readFileSync(join(f.out, 'auto-concurrency.json'), 'utf8'))).toEqual({ v: 1, target: summary.target, level: final, unit: 'all' });
      const again: string[] = [];
      const second = await runUnit({ ...opts(f, { rerun: 'all' }), log: (l) => again.push(l) });
      expect(second).toMatchObject({ ok: n, error: 0 });
      expect(again.some((l) => l.includes(`concurrency auto (1 to 32, starting at ${final}, where unit all ended)`))).toBe(true);
      if (second.auto?.changes[0]) expect(second.auto.changes[0].from).toBe(final);
    } finally {
      await f.tmp.remove();
    }
  });

  it('runs every config again on another target, says why, and moves the old records aside', async () => {
    const f = await makeSweep({ spec: 'name: wswitch\ntemplate: q.sql\nparams:\n  n: [1, 2, 3, 4]\n', template: 'SELECT {n:UInt32} AS n\n', tag: 'wswitch' });
    try {
      await runUnit(opts(f));
      const embedded = await runUnit({ dir: f.out, unit: 'all', env: {}, log: () => {}, progressIntervalMs: 0 });
      expect(embedded).toMatchObject({ ran: { ok: 4 }, rerun: { target: 4, error: 0, changed: 0 }, ok: 4 });
      expect(embedded.target).toMatch(/^embedded:.*\.chdb@/);
      const records = readRecords(f.results('all'));
      expect(records.map((r) => r.target)).toEqual(Array(4).fill(embedded.target));
      expect(records.map((r) => r.engine.split(' ')[0])).toEqual(['embedded', 'embedded', 'embedded', 'embedded']);
      // Moved aside, never deleted.
      const aside = readRecords(join(f.out, 'results', '.superseded', 'all.ndjson'));
      expect(aside.map((r) => r.target)).toEqual(Array(4).fill(httpTarget(inject('clickhouseUrl'), 'default')));
      // Back on the server: each config runs again there, nothing counts across targets.
      const back = await runUnit(opts(f));
      expect(back).toMatchObject({ ran: { ok: 4 }, rerun: { target: 4 } });
    } finally {
      await f.tmp.remove();
    }
  });

  it('cuts a torn last line, and runs a config again whose SQL changed since its record', async () => {
    const path = mix.results('all');
    const records = readRecords(path);
    const target = records.find((r) => r.status === 'ok') as ResultRecord;
    // As if this record had been written for an older version of the SQL.
    const text = readFileSync(path, 'utf8').replace(`"config":"${target.config}","status":"ok","sql_sha256":"${target.sql_sha256}"`, `"config":"${target.config}","status":"ok","sql_sha256":"${'0'.repeat(64)}"`);
    writeFileSync(path, text);
    const torn = '{"v":2,"config":"i-1__kind-0","status":"ok","sql_sha256":"ab';
    appendFileSync(path, torn);
    const summary = await runUnit(opts(mix, { rerun: 'none' }));
    expect(summary.file.torn_bytes_cut).toBe(Buffer.byteLength(torn));
    expect(summary.rerun.changed).toBe(1);
    expect(summary.ran).toMatchObject({ ok: 1, skipped: 0, error: 0 });
    const after = byConfig(readRecords(path));
    expect(after.size).toBe(500);
    for (const list of after.values()) expect(list).toHaveLength(1);
    expect((after.get(target.config) as ResultRecord[])[0]?.sql_sha256).toBe(target.sql_sha256);
    expect((after.get(target.config) as ResultRecord[])[0]?.rows).toEqual(target.rows);
  });

  it('runs a multi-statement config in one session of its own; the last statement gives the rows', async () => {
    const template = `-- a temporary table lives in the session only\nCREATE TEMPORARY TABLE t AS SELECT number * {k:UInt32} AS x FROM system.numbers LIMIT 10;\nSELECT sum(x) AS s, count() AS c, 'a;b' AS semi FROM t; -- trailing\n`;
    const f = await makeSweep({ spec: 'name: wmulti\ntemplate: q.sql\nparams:\n  k: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]\n', template, tag: 'wmulti' });
    try {
      const summary = await runUnit(opts(f));
      expect(summary).toMatchObject({ ok: 20, error: 0, missing: 0 });
      const per = byConfig(readRecords(f.results('all')));
      for (const c of f.index('all').configs) {
        // By hand: the two statements, in order, in one HTTP session.
        const session = `wmulti-${c.id}`;
        const [create, select] = f.sql('all', c.id).split(';\n');
        await chQuery(`${url}/?session_id=${session}`, create as string);
        const expected = (JSON.parse(await chQuery(`${url}/?session_id=${session}`, `${(select as string).replace(/;\s*--[^\n]*\n?$/, '')}\nFORMAT JSON`)) as { data: unknown[] }).data;
        const r = (per.get(c.id) as ResultRecord[])[0] as ResultRecord;
        expect(r.rows).toEqual(expected);
        expect(r.rows[0]).toMatchObject({ s: String(45 * Number(c.params['k'])), c: '10', semi: 'a;b' });
      }
    } finally {
      await f.tmp.remove();
    }
  });

  it('records a transient error that never clears after `retries` retries, and a permanent one after one attempt', async () => {
    // MEMORY_LIMIT_EXCEEDED (241) is transient: retried, then recorded with its attempts.
    const template = 'SET max_memory_usage = 10000000;\nSELECT {i:UInt32} AS i, length(groupArray(number + i)) AS n FROM (SELECT number FROM system.numbers LIMIT 2000000) WHERE {i:UInt32} = 0 OR number < 10\n';
    const f = await makeSweep({ spec: 'name: wmem\ntemplate: q.sql\nparams:\n  i: [0, 1]\nworker:\n  retries: 2\n', template, tag: 'wmem' });
    try {
      const summary = await runUnit(opts(f));
      const per = byConfig(readRecords(f.results('all')));
      expect(summary).toMatchObject({ ok: 1, error: 1 });
      expect((per.get('i-0') as ResultRecord[])[0]).toMatchObject({ status: 'error', attempts: 3, error: { code: 241, name: 'MEMORY_LIMIT_EXCEEDED' } });
      expect((per.get('i-1') as ResultRecord[])[0]).toMatchObject({ status: 'ok', attempts: 1 });
      const syntax = await makeSweep({ spec: 'name: wsyn\ntemplate: q.sql\nparams:\n  i: [0]\n', template: 'SELECT {i:UInt32} AS i,, 1\n', tag: 'wsyn' });
      try {
        await runUnit(opts(syntax));
        expect(readRecords(syntax.results('all'))).toMatchObject([{ status: 'error', attempts: 1, error: { code: 62, name: 'SYNTAX_ERROR' } }]);
      } finally {
        await syntax.tmp.remove();
      }
    } finally {
      await f.tmp.remove();
    }
  });

  it('records a SQL file that went missing or changed after generate as that config’s error, without running it', async () => {
    const f = await makeSweep({ spec: 'name: wsql\ntemplate: q.sql\nparams:\n  i: [1, 2, 3]\n', template: 'SELECT {i:UInt32} AS i\n', tag: 'wsql' });
    try {
      const { rmSync } = await import('node:fs');
      rmSync(`${f.out}/sql/all/i-1.sql`);
      writeFileSync(`${f.out}/sql/all/i-2.sql`, 'SELECT 999 AS i\n');
      const summary = await runUnit(opts(f));
      expect(summary).toMatchObject({ ok: 1, error: 2 });
      const per = byConfig(readRecords(f.results('all')));
      expect((per.get('i-1') as ResultRecord[])[0]?.error).toMatchObject({ code: null, name: 'SQL_MISSING' });
      expect((per.get('i-2') as ResultRecord[])[0]?.error).toMatchObject({ code: null, name: 'SQL_CHANGED' });
      expect((per.get('i-3') as ResultRecord[])[0]?.rows).toEqual([{ i: 3 }]);
    } finally {
      await f.tmp.remove();
    }
  });

  it('rejects bad input with a UserError naming the flag or path, expected vs found', async () => {
    const bad = async (o: Partial<RunUnitOptions>): Promise<UserError> => {
      const err = await runUnit({ ...opts(mix), ...o }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      return err as UserError;
    };
    expect((await bad({ dir: '/nonexistent/sweep' })).message).toMatch(/--dir \/nonexistent\/sweep: expected a sweep directory/);
    expect((await bad({ unit: 'nope' })).message).toMatch(/--unit nope: expected .*units\/nope\.json, found no such file; units here: all/);
    expect((await bad({ unit: '../all' })).code).toBe('UNIT_INVALID');
    expect((await bad({ concurrency: 0 })).message).toMatch(/--concurrency: expected a positive integer, found 0/);
  });
});
