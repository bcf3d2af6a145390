/**
 * The whole round trip through the real sshd, an isolated pueue daemon and the
 * real ClickHouse: generate -> submit-all -> wait -> collect, idempotence, a
 * worker killed mid-run, hostile values, and the local transport.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lacks } from '../harness/components.js';
import type { PueueStatus, PueueTask } from '../harness/pueue.js';
import type { CollectReport } from '../../src/remote/collect.js';
import type { StatusReport } from '../../src/remote/status.js';
import type { SubmitReport } from '../../src/remote/submit.js';
import { runByHand, startRemoteEnv, waitFor, workerPids, writeSweep, type RemoteEnv } from './remote-fixture.js';

const chUrl = inject('clickhouseUrl');

describe.skipIf(lacks('clickhouse', 'sshd', 'pueue'))('remote tier, end to end', () => {
  let env: RemoteEnv;
  beforeAll(async () => {
    env = await startRemoteEnv(chUrl);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('generate -> submit-all -> wait -> collect: complete, every record equal to its SQL run by hand; submitting again queues nothing', async () => {
    const s = writeSweep(env, {
      name: 'rt',
      template: 'SELECT {sym:String} AS sym, toUInt32({n:UInt32} * {k:UInt32}) AS prod, sum(number) AS s FROM numbers({k:UInt32} * 10)\n',
      params: { sym: ['A', 'B', 'C'], n: [1, 2], k: [1, 2, 3, 4, 5, 6] },
      unit: ['sym', 'n'],
      after: [{ name: 'check', sql: 'SELECT 1' }],
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);

    const first = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(first.queued.map((q) => q.unit).sort()).toEqual(s.units());
    expect(first.queued.every((q) => q.label === `sweep:rt:${q.unit}`)).toBe(true);
    // One session and one rsync, whatever the number of units.
    expect(first.connections).toBe(2);
    expect(first.after).toHaveLength(1);

    // Right after the submission every task is there, whatever its state (only a later submit-all cleans finished ones).
    const ours = (st: PueueStatus): PueueTask[] => Object.values(st.tasks).filter((t) => t.label?.startsWith('sweep:rt:'));
    const queuedTasks = ours(await env.pueue.status());
    expect(queuedTasks).toHaveLength(7);
    expect(queuedTasks.filter((t) => !t.label?.includes(':after:')).map((t) => t.label?.slice('sweep:rt:'.length)).sort()).toEqual(s.units());
    for (const t of queuedTasks) {
      // An absolute working dir, and a small explicit environment: nothing of ours leaked.
      expect(t.path).toBe(s.sweepDir);
      expect(Object.keys(t.envs).sort()).toEqual(expect.arrayContaining(['HOME', 'PATH']));
      expect(Object.keys(t.envs).every((k) => ['HOME', 'PATH', 'USER', 'LOGNAME', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'PUEUE_CONFIG_PATH', 'PUEUE_GROUP', 'PUEUE_WORKER_ID'].includes(k))).toBe(true);
    }

    // Submitting again at once: every unit is queued, running or complete; nothing is queued twice.
    const second = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(second.queued).toEqual([]);
    expect(second.plan.active.length + second.plan.complete.length).toBe(6);
    expect(second.after).toEqual([]);
    // Never more tasks than units + after steps (the bash tier's restart loop made 12,800 of 60);
    // units that finished in between were cleaned by this submission, so at most, and one per unit.
    const left = ours(await env.pueue.status());
    expect(left.length).toBeLessThanOrEqual(7);
    expect(new Set(left.map((t) => t.label)).size).toBe(left.length);

    const st = await env.pueue.waitForGroupIdle(s.group, 60_000);
    // The sweep's own group, sized from the spec.
    expect(st.groups[s.group]).toEqual({ status: 'Running', parallel_tasks: 2 });
    for (const t of ours(st)) expect(t.status).toMatchObject({ Done: { result: 'Success' } });

    const status = await s.json<StatusReport>(['status', 'sweep.yaml'], { expectCode: 0 });
    expect(status.doc.complete).toBe(true);
    expect(status.doc.idle).toBe(true);
    expect(status.doc.totals).toMatchObject({ configs: 36, ok: 36, remaining: 0, error: 0, units_complete: 6 });
    // The after step's task is there unless it had finished and the second submission cleaned it.
    if (left.some((t) => t.label?.includes(':after:'))) expect(status.doc.after[0]?.task?.state).toBe('Success');
    expect(status.doc.connections).toBe(1);

    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 });
    expect(col.complete).toBe(true);
    expect(col.totals).toMatchObject({ configs: 36, ok: 36, skipped: 0, error: 0, missing: 0, duplicate: 0, torn: 0, bad: 0 });
    expect(col.connections).toBe(1);
    const records = s.collected();
    expect(records).toHaveLength(36);
    for (const r of records) {
      expect(r.rows).toEqual(await runByHand(chUrl, join(s.out, 'sql', r.unit, `${r.config}.sql`)));
    }
    const rows = readFileSync(join(s.out, 'rows.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(36);
    expect(rows[0]).toMatchObject({ config: expect.any(String), unit: expect.any(String), sym: expect.any(String), n: expect.any(Number), k: expect.any(Number), prod: expect.any(Number) });

    // Other work on the daemon: a group of another project, and a stray task in our group (bash tier:
    // sweeps shared group p1 and reset and cleaned it under each other).
    expect((await env.pueue.pueue(['group', 'add', 'p1', '-p', '5'])).exitCode).toBe(0);
    const other = (await env.pueue.pueue(['add', '-g', 'p1', '-l', 'other-project', '-p', '--', 'true'])).stdout.trim();
    const stray = (await env.pueue.pueue(['add', '-g', s.group, '-l', 'not-a-sweep-task', '-p', '--', 'true'])).stdout.trim();
    await env.pueue.waitForGroupIdle(s.group, 20_000);
    await env.pueue.waitForGroupIdle('p1', 20_000);

    // After completion: a third submission removes this sweep's finished tasks, only those, and queues nothing.
    const third = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(third.queued).toEqual([]);
    expect(third.plan.complete).toHaveLength(6);
    expect(third.removed).toBe(7);
    expect(third.warnings.join('\n')).toMatch(/pueue group sweep-rt also holds 1 task\(s\) that are not this sweep's/);
    const after = await env.pueue.status();
    expect(Object.values(after.tasks).filter((t) => t.label?.startsWith('sweep:rt:'))).toEqual([]);
    expect(after.tasks[other]?.label).toBe('other-project');
    expect(after.tasks[stray]?.label).toBe('not-a-sweep-task');
    expect(after.groups['p1']).toEqual({ status: 'Running', parallel_tasks: 5 });
    // The local record of each submission.
    expect(readFileSync(join(s.out, 'submissions.ndjson'), 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('a worker killed with kill -9 mid-run: submit-all again queues exactly that unit, collect is complete with no duplicates', async () => {
    const s = writeSweep(env, {
      name: 'kill',
      template: 'SELECT {u:String} AS u, {k:UInt32} AS k, sleep(0.15) AS z\n',
      params: { u: ['a', 'b', 'c'], k: Array.from({ length: 16 }, (_, i) => i) },
      unit: ['u'],
      parallel: 3,
      concurrency: 1,
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    expect((await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc.queued).toHaveLength(3);
    const victim = 'u-a';
    await waitFor('a few records of the victim unit', () => s.remoteLines(victim) >= 3, 30_000);
    const pids = workerPids(s.sweepDir, victim);
    expect(pids).toHaveLength(1);
    process.kill(pids[0] as number, 'SIGKILL');
    await env.pueue.waitForGroupIdle(s.group, 60_000);
    const killedAt = s.remoteLines(victim);
    expect(killedAt).toBeLessThan(16);

    const status = (await s.json<StatusReport>(['status', 'sweep.yaml'], { expectCode: 1 })).doc;
    const unit = status.units.find((u) => u.unit === victim);
    expect(unit?.task?.state).toMatch(/^(Killed|Failed\(137\))$/);
    expect(unit?.remaining).toBeGreaterThan(0);
    expect(status.complete).toBe(false);

    const again = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(again.queued.map((q) => q.unit)).toEqual([victim]);
    expect(again.plan.complete.sort()).toEqual(['u-b', 'u-c']);
    await env.pueue.waitForGroupIdle(s.group, 60_000);

    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 });
    expect(col.totals).toMatchObject({ configs: 48, ok: 48, missing: 0, duplicate: 0, error: 0 });
    const records = s.collected();
    expect(new Set(records.map((r) => r.config)).size).toBe(48);
    // The resumed worker kept what the killed one had finished.
    const victimFile = readFileSync(join(s.out, 'hosts', env.sshd.host, 'results', `${victim}.ndjson`), 'utf8').trim().split('\n');
    expect(victimFile).toHaveLength(16);
  });

  it('hostile values: a param value and a remote dir with spaces, quotes, $(...) and ; run correctly and execute nothing', async () => {
    // Sweep names cannot carry any of this: the spec schema allows [a-z0-9][a-z0-9_-]{0,63} only
    // (checked below), so the name's path is the param values, the remote dir and the ssh config path.
    const hostileDir = join(env.root.path, `remote dir 'sq' "dq" $(touch PWNED) ; touch PWNED2 #`);
    // The ssh config path too: it reaches ssh as an argv word and rsync inside its -e value.
    const hostileSsh = join(env.root.path, `ssh cfg 'sq' "dq" $(touch PWNED) ;`);
    mkdirSync(hostileSsh);
    copyFileSync(env.sshd.sshConfigPath, join(hostileSsh, 'config'));
    const values = [`it's`, `"dq"`, '$(touch PWNED)', 'a;b', '`touch PWNED3`', 'x y'];
    const s = writeSweep(env, {
      name: 'hostile',
      template: 'SELECT {v:String} AS v, {k:UInt8} AS k\n',
      params: { v: values, k: [1, 2] },
      unit: ['v'],
      remoteDir: hostileDir,
      sshConfig: join(hostileSsh, 'config'),
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const sub = await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 });
    expect(sub.doc.queued).toHaveLength(6);
    await env.pueue.waitForGroupIdle(s.group, 60_000);
    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 });
    expect(col.totals).toMatchObject({ configs: 12, ok: 12, missing: 0, error: 0 });
    expect(s.collected().map((r) => r.rows[0]?.['v']).sort()).toEqual([...values, ...values].sort());
    expect(existsSync(join(hostileDir, 'hostile', 'worker.mjs'))).toBe(true);
    // Nothing was executed: no PWNED file anywhere we or the tasks ran.
    for (const dir of [env.root.path, s.local, s.sweepDir, hostileDir, hostileSsh, env.pueue.dir, process.env['HOME'] ?? '/root', '/tmp']) {
      expect(readdirSync(dir).filter((f) => f.startsWith('PWNED'))).toEqual([]);
    }

    const bad = writeSweep(env, { name: 'placeholder', template: 'SELECT {k:UInt8} AS k\n', params: { k: [1] }, unit: [] });
    const badSpec = readFileSync(bad.specPath, 'utf8').replace('"name": "placeholder"', `"name": "x'; touch PWNED; $(touch PWNED)"`);
    writeFileSync(bad.specPath, badSpec);
    const res = await bad.run(['submit-all', 'sweep.yaml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/name: expected a name matching \[a-z0-9\]\[a-z0-9_-\]\{0,63\}/);
  });

  it('the local transport runs the same steps on this machine (host: local)', async () => {
    const s = writeSweep(env, {
      name: 'loc',
      host: 'local',
      template: 'SELECT {u:UInt8} AS u, {k:UInt8} * 2 AS d\n',
      params: { u: [1, 2], k: [1, 2, 3] },
      unit: ['u'],
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const sub = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(sub.hosts.map((h) => h.host)).toEqual(['local']);
    expect(sub.queued).toHaveLength(2);
    expect(sub.connections).toBe(0);
    await env.pueue.waitForGroupIdle(s.group, 60_000);
    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 });
    expect(col.totals).toMatchObject({ configs: 6, ok: 6, missing: 0 });
    // The local and "remote" dirs stay distinct: results arrived by rsync.
    expect(existsSync(join(s.sweepDir, 'results'))).toBe(true);
    expect(existsSync(join(s.out, 'hosts', 'local', 'results'))).toBe(true);
  });
});
