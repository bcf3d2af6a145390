/**
 * With no ClickHouse URL anywhere, the worker runs on the embedded engine (chdb)
 * with its data in <dir>/.chdb, and writes the same kind of records.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ResultRecord } from '../../src/results/record.js';
import { runUnit } from '../../src/worker/run-unit.js';
import { byConfig, makeSweep, readRecords, REPO_ROOT, type SweepFixture } from './worker-fixtures.js';

let f: SweepFixture;
beforeAll(async () => {
  f = await makeSweep({
    spec: 'name: wemb\ntemplate: q.sql\nparams:\n  i: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  kind: [0, 1, 2]\n',
    // kind 0: rows; 1: none; 2: division by zero (ILLEGAL_DIVISION, 153). Two statements in one session.
    template:
      "SET max_block_size = 1000;\nSELECT number AS n, toUInt64({i:UInt32}) * 1000000000000 AS big, intDiv(10, if({kind:UInt8} = 2, 0, 1)) AS q, 'a;b' AS s\nFROM numbers(3) WHERE {kind:UInt8} != 1\n",
    tag: 'wemb',
  });
});
afterAll(async () => {
  await f?.tmp.remove();
});

/** By hand: the same statements through chdb in a separate process (one data dir per process). */
function byHand(sql: string): { rows?: unknown[]; code?: number } {
  const script = `
    const { Session } = require('chdb');
    const s = new Session();
    const stmts = ${JSON.stringify(sql)}.split(';\\n');
    try {
      // As the HTTP interface does by default (and the engine matches): 64-bit integers as strings.
      s.query('SET output_format_json_quote_64bit_integers = 1');
      s.query(stmts[0]);
      const out = s.query(stmts[1], 'JSON');
      process.stdout.write(JSON.stringify({ rows: JSON.parse(out).data }));
    } catch (e) {
      process.stdout.write(JSON.stringify({ code: Number(/Code: (\\d+)/.exec(String(e.message))?.[1]) }));
    } finally { s.cleanup?.(); }
  `;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env } });
  return JSON.parse(out) as { rows?: unknown[]; code?: number };
}

it('runs a unit on the embedded engine when no server is configured', async () => {
  const summary = await runUnit({ dir: f.out, unit: 'all', env: {}, log: () => {}, progressIntervalMs: 0 });
  expect(summary).toMatchObject({ total: 30, ok: 10, skipped: 10, error: 10, missing: 0 });
  expect(summary.engine).toMatch(/^embedded \d+\.\d+/);
  expect(existsSync(join(f.out, '.chdb'))).toBe(true);
  const per = byConfig(readRecords(f.results('all')));
  expect(per.size).toBe(30);
  const sample = ['i-1__kind-0', 'i-7__kind-0', 'i-3__kind-1', 'i-5__kind-2'];
  for (const id of sample) {
    const r = (per.get(id) as ResultRecord[])[0] as ResultRecord;
    const hand = byHand(f.sql('all', id));
    if (hand.rows) {
      expect(r.rows, id).toEqual(hand.rows);
      expect(r.status).toBe(hand.rows.length > 0 ? 'ok' : 'skipped');
    } else {
      expect(r).toMatchObject({ status: 'error', error: { code: hand.code } });
    }
  }
  expect((per.get('i-7__kind-0') as ResultRecord[])[0]?.rows).toEqual([
    { n: '0', big: '7000000000000', q: 10, s: 'a;b' },
    { n: '1', big: '7000000000000', q: 10, s: 'a;b' },
    { n: '2', big: '7000000000000', q: 10, s: 'a;b' },
  ]);
  // A rerun finds everything done except the errors, which it retries.
  const again = await runUnit({ dir: f.out, unit: 'all', env: {}, log: () => {}, progressIntervalMs: 0 });
  expect(again).toMatchObject({ already_done: 20, ran: { ok: 0, skipped: 0, error: 10 } });
  expect(readRecords(f.results('all'))).toHaveLength(30);
});
