/**
 * The lifecycle around a remote sweep, through the real sshd, an isolated pueue
 * daemon and the real ClickHouse: setup runs once on the host's server before
 * anything is queued (never under running units), `sweep stop` ends the work and
 * the sweep's queries on the server within seconds, `sweep logs` reads the
 * workers' own logs after pueue's are gone.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CollectReport } from '../../src/remote/collect.js';
import type { StatusReport } from '../../src/remote/status.js';
import type { StopReport } from '../../src/remote/stop.js';
import type { SubmitReport } from '../../src/remote/submit.js';
import { chQuery } from '../harness/clickhouse.js';
import { lacks } from '../harness/components.js';
import { runByHand, startRemoteEnv, waitFor, writeSweep, type RemoteEnv } from './remote-fixture.js';

const chUrl = inject('clickhouseUrl');

async function sweepQueriesOnServer(prefix: string): Promise<number> {
  return Number((await chQuery(chUrl, `SELECT count() FROM system.processes WHERE startsWith(query_id, '${prefix}')`)).trim());
}

describe.skipIf(lacks('clickhouse', 'sshd', 'pueue'))('remote lifecycle, end to end', () => {
  let env: RemoteEnv;
  beforeAll(async () => {
    env = await startRemoteEnv(chUrl);
    await chQuery(chUrl, 'CREATE DATABASE IF NOT EXISTS sweep_e2e_life');
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('submit-all runs setup on the host once, before queueing (dry run says so); records carry its generation; --setup is refused while units are queued', async () => {
    const s = writeSweep(env, {
      name: 'rsetup',
      setup: 'DROP TABLE IF EXISTS sweep_e2e_life.data;\nCREATE TABLE sweep_e2e_life.data (k UInt32, v UInt64) ENGINE = MergeTree ORDER BY k;\nINSERT INTO sweep_e2e_life.data SELECT number, number * 3 FROM numbers(100);\n',
      template: 'SELECT k, v, sleep(0.2) AS z FROM sweep_e2e_life.data WHERE k = {k:UInt32}\n',
      params: { k: [1, 2, 3, 4], grp: ['a', 'b'] },
      unit: ['grp'],
      parallel: 1,
      concurrency: 1,
    });
    // grp is only a unit key: the template must use it.
    const tpl = readFileSync(join(s.local, 'q.sql'), 'utf8').replace('AS z', 'AS z, {grp:String} AS grp');
    writeFileSync(join(s.local, 'q.sql'), tpl);
    await chQuery(chUrl, 'DROP TABLE IF EXISTS sweep_e2e_life.data');
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);

    const dry = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml', '--dry-run'], { expectCode: 0 })).doc;
    expect(dry.setup).toMatchObject({ action: 'run', reason: 'never ran on this target' });
    // A dry run changes nothing: the table does not exist yet.
    expect(await chQuery(chUrl, "SELECT count() FROM system.tables WHERE database = 'sweep_e2e_life' AND name = 'data'")).toBe('0\n');

    const first = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(first.setup).toMatchObject({ action: 'run', statements: 3 });
    expect(first.queued).toHaveLength(2);

    // Setup must run again (--setup) while the units are queued or running: refused, exit 2, naming them.
    const refused = await s.run(['submit-all', 'sweep.yaml', '--setup']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/setup must run \(--setup\), but 2 unit\(s\) of this sweep are queued or running on .*: grp-a, grp-b/);

    await env.pueue.waitForGroupIdle(s.group, 90_000);
    const second = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(second.setup.action).toBe('current');
    expect(second.queued).toEqual([]);

    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 });
    expect(col.totals).toMatchObject({ configs: 8, ok: 8, error: 0, missing: 0 });
    const setupDir = join(s.sweepDir, '.sweep', 'setup');
    const hostRecord = readFileSync(join(setupDir, readdirSync(setupDir).find((f) => f.endsWith('.json')) ?? ''), 'utf8');
    const generation = (JSON.parse(hostRecord) as { generation: string }).generation;
    for (const r of s.collected()) {
      expect(r.v === 2 && r.setup).toBe(generation);
      expect(r.rows).toEqual(await runByHand(chUrl, join(s.out, 'sql', r.unit, `${r.config}.sql`)));
    }

    // --setup when idle: it runs again, and every record of the target is stale: all configs run again.
    const again = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml', '--setup'], { expectCode: 0 })).doc;
    expect(again.setup).toMatchObject({ action: 'run', reason: '--setup' });
    expect(again.queued).toHaveLength(2);
    await env.pueue.waitForGroupIdle(s.group, 90_000);
    const { doc: col2 } = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 });
    expect(col2.origins).toHaveLength(1);
    expect(s.collected().every((r) => r.v === 2 && r.setup !== generation)).toBe(true);
  });

  it('sweep stop: queued units removed, running ones stopped with SIGTERM, the sweep\'s queries gone from system.processes within seconds; submit-all resumes', async () => {
    const s = writeSweep(env, {
      name: 'rstop',
      // Each config scans for many seconds: long queries in flight when stop comes.
      template: 'SELECT {u:UInt8} AS u, {i:UInt32} AS i, sum(number) AS s FROM numbers(20000000000)\n',
      params: { u: [1, 2, 3], i: [1, 2] },
      unit: ['u'],
      parallel: 1,
      concurrency: 2,
      queryTimeoutS: 600,
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    expect((await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc.queued).toHaveLength(3);
    await waitFor('the first unit\'s queries to be running on the server', async () => (await sweepQueriesOnServer('rstop:')) >= 2, 30_000);

    const t0 = Date.now();
    const { doc: stop } = await s.json<StopReport>(['stop', 'sweep.yaml'], { expectCode: 0 });
    const stopMs = Date.now() - t0;
    expect(stop.removed.map((t) => t.label).sort()).toEqual(['sweep:rstop:u-2', 'sweep:rstop:u-3']);
    expect(stop.signalled.map((t) => t.label)).toEqual(['sweep:rstop:u-1']);
    expect(stop.killed).toEqual([]);
    expect(stop.queries?.remaining).toBe(0);
    expect(await sweepQueriesOnServer('rstop:')).toBe(0);
    // Measured: from `sweep stop` starting to no query of the sweep on the server (the command waits for it).
    console.log(`sweep stop: workers ended ${stop.ended_ms} ms after SIGTERM; the whole stop took ${stopMs} ms (queries gone after ${stop.queries?.waited_ms} ms of checking)`);
    expect(stopMs).toBeLessThan(15_000);

    const st = await env.pueue.status();
    const ours = Object.values(st.tasks).filter((t) => t.label?.startsWith('sweep:rstop:'));
    // The stopped worker ended as SIGTERM asks (exit 143), the group is left running.
    expect(ours.map((t) => t.status)).toEqual([{ Done: expect.objectContaining({ result: { Failed: 143 } }) }]);
    expect(st.groups[s.group]?.status).toBe('Running');

    const status = await s.json<StatusReport>(['status', 'sweep.yaml']);
    expect(status.doc.idle).toBe(true);
    expect(status.doc.complete).toBe(false);

    // submit-all resumes: every unit is queued again; then stop again (the queries are long).
    const resumed = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(resumed.queued.map((q) => q.unit).sort()).toEqual(['u-1', 'u-2', 'u-3']);
    const { doc: stop2 } = await s.json<StopReport>(['stop', 'sweep.yaml'], { expectCode: 0 });
    expect(stop2.removed.length + stop2.signalled.length).toBe(3);
  });

  it("sweep logs shows a unit's worker log through one session, after the next submit-all removed pueue's task logs", async () => {
    const s = writeSweep(env, { name: 'rlogs', template: 'SELECT {a:UInt8} AS a, {b:UInt8} AS b\n', params: { a: [1, 2], b: [1, 2, 3] }, unit: ['a'] });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    expect((await s.run(['submit-all', 'sweep.yaml'])).code).toBe(0);
    await env.pueue.waitForGroupIdle(s.group, 60_000);
    // The next submission removes this sweep's finished tasks, and pueue's logs with them.
    const again = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(again.removed).toBe(2);
    const logs = await s.run(['logs', 'sweep.yaml', 'a-1']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/a-1: 3 of 3 configs to run/);
    expect(logs.stdout).toMatch(/a-1: done in [0-9.]+ s: ok 3, skipped 0, error 0, missing 0 of 3/);
    const all = await s.run(['logs', 'sweep.yaml']);
    expect(all.stdout).toMatch(/^a-2 \| .*a-2: done in/m);
    const bad = await s.run(['logs', 'sweep.yaml', 'a-9']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unit "a-9": expected a unit of sweep rlogs/);
  });
});
