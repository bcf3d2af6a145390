/**
 * The server in trouble, on a private server (this file stops it, and counts
 * every query of its user): overloaded (TOO_MANY_SIMULTANEOUS_QUERIES), then
 * gone mid-run (killed, as the OOM killer does) and back a few seconds later.
 * Either way the worker finishes with zero error records.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runUnit } from '../../src/worker/run-unit.js';
import { startClickHouse, type ClickHouseHandle } from '../harness/clickhouse.js';
import { lacks } from '../harness/components.js';
import { byConfig, makeSweep, readRecords } from './worker-fixtures.js';

let ch: ClickHouseHandle;
const noServer = lacks('clickhouse');

beforeAll(async () => {
  if (!noServer) ch = await startClickHouse();
});
afterAll(async () => {
  await ch?.stop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function killServerHard(handle: ClickHouseHandle): void {
  const ps = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const line = ps.split('\n').find((l) => l.includes(`${handle.dir}/config.xml`));
  const pid = Number(line?.trim().split(/\s+/)[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`cannot find the server process of ${handle.dir}`);
  process.kill(pid, 'SIGKILL');
}

it.skipIf(noServer)('a server at its limit (TOO_MANY_SIMULTANEOUS_QUERIES) is back-pressure: concurrency comes down, no config spends a retry, every config ends ok', async () => {
  // The case: max_concurrent_queries=4 and queue_max_wait_ms=0 (the current
  // default; a 5th query is refused at once), 40 configs of sleep(1) at concurrency 16.
  // Before, 9-11 of them ended as `error` records, code 202, after the 3-retry budget.
  const busy = await startClickHouse({ maxConcurrentQueries: 4, profile: { queue_max_wait_ms: 0 } });
  const f = await makeSweep({
    spec: `name: wbusy\ntemplate: q.sql\nparams:\n  i: [${Array.from({ length: 40 }, (_, i) => i).join(', ')}]\n`,
    template: 'SELECT {i:UInt32} AS i, sleep(1) AS z\n',
    tag: 'wbusy',
  });
  try {
    const lines: string[] = [];
    const summary = await runUnit({ dir: f.out, unit: 'all', clickhouseUrl: busy.url, log: (l) => lines.push(l), progressIntervalMs: 0 });
    expect(summary).toMatchObject({ ok: 40, error: 0, missing: 0, failure: null });
    // Refusals are not retries of the config: its retry budget (3) is untouched.
    expect(summary.ran.retries).toBe(0);
    expect(lines.some((l) => /concurrency [0-9]+\/16 \(the server is under pressure or at its limit\)/.test(l))).toBe(true);
    const records = readRecords(f.results('all'));
    expect(records).toHaveLength(40);
    expect(records.every((r) => r.status === 'ok' && r.attempts === 1)).toBe(true);
    // The server did refuse queries: the limit was really hit.
    expect(summary.ran.refused).toBeGreaterThan(0);
  } finally {
    await f.tmp.remove();
    await busy.stop();
  }
}, 120_000);

it.skipIf(noServer)('completes with zero error records when the server is killed mid-run and back several seconds later', async () => {
  if (ch.kind !== 'binary') throw new Error(`this test needs a server it can stop and start (harness kind ${ch.kind})`);
  const f = await makeSweep({
    spec: `name: wdown\ntemplate: q.sql\nparams:\n  i: [${Array.from({ length: 800 }, (_, i) => i).join(', ')}]\n`,
    template: 'SELECT {i:UInt32} AS i, sleep(0.04) AS z, toString({i:UInt32} * 7) AS s\n',
    tag: 'wdown',
  });
  try {
    const lines: string[] = [];
    const run = runUnit({ dir: f.out, unit: 'all', clickhouseUrl: ch.url, log: (l) => lines.push(l), progressIntervalMs: 500 });
    // Kill the server once the run is well under way, keep it down for ~4 s, start it again.
    const started = Date.now();
    while (!lines.some((l) => /\d+\/800 \(/.test(l) && !/ 0\/800/.test(l)) && Date.now() - started < 10_000) await sleep(50);
    // SIGKILL, as the OOM killer does: a graceful stop lets 18.16 drain the busy
    // keep-alive connections first, which would hide the outage.
    killServerHard(ch);
    await ch.pause(); // reaps the dead process; resume() starts a new one on the same ports and data
    const downAt = Date.now();
    await sleep(4000);
    await ch.resume();
    const downFor = Date.now() - downAt;
    const summary = await run;

    expect(downFor).toBeGreaterThanOrEqual(4000);
    expect(summary).toMatchObject({ total: 800, ok: 800, error: 0, missing: 0, failure: null });
    expect(lines.some((l) => /stopped answering/.test(l))).toBe(true);
    expect(lines.some((l) => /back after/.test(l))).toBe(true);
    const records = readRecords(f.results('all'));
    expect(records.filter((r) => r.status === 'error')).toEqual([]);
    const per = byConfig(records);
    expect(per.size).toBe(800);
    for (const [id, list] of per) {
      expect(list, id).toHaveLength(1);
      const i = Number(id.replace('i-', ''));
      expect(list[0]?.rows).toEqual([{ i, z: 0, s: String(i * 7) }]);
    }
  } finally {
    await f.tmp.remove();
  }
});
