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

it.skipIf(noServer)('retries TOO_MANY_SIMULTANEOUS_QUERIES with back-off, lowering the concurrency, and ends with every config ok', async () => {
  // The server refuses a 4th concurrent query of this user: at concurrency 16 most
  // attempts fail at first with code 202, a transient error.
  const f = await makeSweep({
    spec: `name: wbusy\ntemplate: q.sql\nparams:\n  i: [${Array.from({ length: 40 }, (_, i) => i).join(', ')}]\nworker:\n  retries: 8\n`,
    template: 'SET max_concurrent_queries_for_user = 3;\nSELECT {i:UInt32} AS i, sleep(0.05) AS z\n',
    tag: 'wbusy',
  });
  try {
    const lines: string[] = [];
    const summary = await runUnit({ dir: f.out, unit: 'all', clickhouseUrl: ch.url, log: (l) => lines.push(l), progressIntervalMs: 0 });
    expect(summary).toMatchObject({ ok: 40, error: 0, missing: 0 });
    expect(summary.ran.retries).toBeGreaterThan(0);
    expect(lines.some((l) => /concurrency [0-9]+\/16 \(the server is under pressure\)/.test(l))).toBe(true);
    const records = readRecords(f.results('all'));
    expect(records).toHaveLength(40);
    expect(records.some((r) => r.attempts > 1)).toBe(true);
  } finally {
    await f.tmp.remove();
  }
});

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
