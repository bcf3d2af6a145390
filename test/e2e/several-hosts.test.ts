/**
 * One sweep across two hosts, end to end: two private sshds (each its own
 * alias and remote dir), two isolated pueue daemons, two ClickHouse servers
 * given the same data by the spec's setup (run once per host, on its own
 * server). Placement by parallelism, a daemon killed mid-run and restarted,
 * --skip-unreachable and --rebalance, every record equal to its SQL run on
 * the server of the host that ran it, and hostile host names and dirs.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectReport } from '../../src/remote/collect.js';
import type { PlacementFile } from '../../src/remote/placement.js';
import type { StatusReport } from '../../src/remote/status.js';
import type { StopReport } from '../../src/remote/stop.js';
import type { SubmitReport } from '../../src/remote/submit.js';
import { lacks } from '../harness/components.js';
import { freePort } from '../harness/process.js';
import { entryOf, jsonKeys, startTwoHosts, writeHostsSweep, type HostsEnv, type HostsSweep } from './hosts-fixture.js';
import { runByHand, waitFor } from './remote-fixture.js';

const SETUP = (table: string): string =>
  [
    'CREATE DATABASE IF NOT EXISTS e2e_hosts',
    `DROP TABLE IF EXISTS e2e_hosts.${table}`,
    `CREATE TABLE e2e_hosts.${table} (k UInt32, v UInt64) ENGINE = MergeTree ORDER BY k`,
    `INSERT INTO e2e_hosts.${table} SELECT number, number * 7 FROM numbers(1000)`,
    '',
  ].join(';\n');

/** 6 units (u) x 4 configs (k), each config a short scan of the setup's table that takes `sleep` s. */
function sweepOf(env: HostsEnv, name: string, o: { sleep: number; hosts?: ReturnType<typeof entryOf>[]; units?: number; configs?: number }): HostsSweep {
  return writeHostsSweep(env, {
    name,
    setup: SETUP(name),
    template: `SELECT {u:UInt8} AS u, {k:UInt16} AS k, sum(v) AS s, count() AS n, sleep(${o.sleep}) AS z FROM e2e_hosts.${name} WHERE k % 10 = {k:UInt16} + {u:UInt8}\n`,
    params: { u: Array.from({ length: o.units ?? 6 }, (_, i) => i + 1), k: Array.from({ length: o.configs ?? 4 }, (_, i) => i) },
    unit: ['u'],
    hosts: o.hosts ?? [entryOf(env, env.a, name, { parallel: 2 }), entryOf(env, env.b, name, { parallel: 1 })],
  });
}

const placementOf = (s: HostsSweep): PlacementFile => JSON.parse(readFileSync(join(s.out, 'placement.json'), 'utf8')) as PlacementFile;

/** Every record equals its SQL run by hand on the server of the host it was placed on, and carries that host's target. */
async function expectRecordsFromTheirHosts(env: HostsEnv, s: HostsSweep, byTarget: Record<string, string>): Promise<void> {
  const records = s.collected();
  // All at once: each query sleeps as the template asks.
  const byHand = await Promise.all(
    records.map((r) => {
      const url = r.v === 2 ? byTarget[r.target] : undefined;
      expect(url, `record ${r.config} target ${r.v === 2 ? r.target : '(v1)'}`).toBeDefined();
      return runByHand(url as string, join(s.out, 'sql', r.unit, `${r.config}.sql`));
    }),
  );
  records.forEach((r, i) => expect(r.rows, `${r.unit} ${r.config}`).toEqual(byHand[i]));
}

describe.skipIf(lacks('clickhouse', 'sshd', 'pueue'))('one sweep on two hosts, end to end', () => {
  let env: HostsEnv;
  beforeAll(async () => {
    env = await startTwoHosts();
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('6 units placed 4 / 2 by parallelism 2 / 1; a daemon killed mid-run: status says so for that host only, submit-all resumes there, collect is complete, one record per config, each equal to its SQL on its own host', async () => {
    const s = sweepOf(env, 'hk', { sleep: 0.6 });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const { doc: sub } = await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], 0);
    const [ha, hb] = sub.hosts;
    expect(sub.hosts.map((h) => [h.host, h.units, h.queued.length])).toEqual([
      [env.a.alias, 4, 4],
      [env.b.alias, 2, 2],
    ]);
    // Setup ran once on each host's own server, before its units were queued.
    expect([ha?.setup.action, hb?.setup.action]).toEqual(['run', 'run']);
    expect(ha?.target).not.toBe(hb?.target);
    // One session and one rsync per host.
    expect(sub.connections).toBe(4);
    const placement = placementOf(s);
    expect(Object.values(placement.units).map((h) => h.at(-1))).toEqual([env.a.alias, env.a.alias, env.b.alias, env.a.alias, env.a.alias, env.b.alias]);
    // Each host received only its units' SQL.
    const unitsB = Object.entries(placement.units).filter(([, h]) => h.at(-1) === env.b.alias).map(([u]) => u);
    expect(existsSync(join(s.sweepDirs[env.b.alias] ?? '', 'sql', unitsB[0] ?? ''))).toBe(true);
    expect(existsSync(join(s.sweepDirs[env.b.alias] ?? '', 'sql', 'u-1'))).toBe(false);
    expect(existsSync(join(s.sweepDirs[env.a.alias] ?? '', 'sql', unitsB[0] ?? ''))).toBe(false);
    // JSON keys are snake_case (placement counts are keyed by host name).
    expect(jsonKeys(sub, (p) => p === '.placement.counts').filter((k) => !/^[a-z0-9_]+$/.test(k))).toEqual([]);

    // B's first unit is running and has written some of its records: kill B's daemon (its running task dies with it).
    await waitFor('a unit running on host b with some records', () => unitsB.some((u) => s.remoteLines(env.b.alias, u) >= 1 && s.remoteLines(env.b.alias, u) < 4), 60_000);
    await env.b.pueue.stopDaemon({ mode: 'kill' });
    const down = await s.json<StatusReport>(['status', 'sweep.yaml'], 1);
    expect(down.doc.hosts.map((h) => [h.host, h.reachable])).toEqual([
      [env.a.alias, true],
      [env.b.alias, false],
    ]);
    expect(down.doc.hosts[1]?.why).toMatch(/the pueue daemon does not answer/);
    expect(down.doc.hosts[0]?.why).toBeNull();
    expect(down.doc.notes.join('\n')).toMatch(new RegExp(`host ${env.b.alias} is unreachable \\(the pueue daemon does not answer`));
    expect(down.doc.idle).toBe(false);
    expect(jsonKeys(down.doc).filter((k) => !/^[a-z0-9_]+$/.test(k))).toEqual([]);
    const text = await s.run(['status', 'sweep.yaml']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`\\nhost ${env.b.alias}: 2 units: .* \\| UNREACHABLE: the pueue daemon does not answer`));
    expect(text.stdout).toMatch(new RegExp(`\\nhost ${env.a.alias}: 4 units: [^|]* \\| parallel 2 \\|`));

    // The daemon comes back (as after a reboot): its running task is Killed, its group Paused; only B says so.
    await env.b.pueue.startDaemon();
    const back = await s.json<StatusReport>(['status', 'sweep.yaml'], 1);
    expect(back.doc.hosts.map((h) => h.reachable)).toEqual([true, true]);
    expect(back.doc.hosts[1]?.group_state.status).toBe('Paused');
    expect(back.doc.hosts[0]?.group_state.status).toBe('Running');
    const killed = back.doc.units.filter((u) => u.task?.state === 'Killed');
    expect(killed.map((u) => u.host)).toEqual([env.b.alias]);
    expect(back.doc.notes.filter((n) => /PAUSED/.test(n))).toEqual([expect.stringMatching(new RegExp(`^host ${env.b.alias}: pueue group sweep-hk is PAUSED`))]);

    // submit-all resumes there: the killed unit queued again, the group started; nothing queued twice anywhere.
    const { doc: again } = await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], 0);
    expect(again.hosts[1]?.queued.map((q) => q.unit)).toEqual(killed.map((u) => u.unit));
    expect(again.hosts[1]?.group_resumed).toBe(true);
    expect(again.hosts[0]?.queued).toEqual([]);
    await Promise.all([env.a.pueue.waitForGroupIdle(s.group, 120_000), env.b.pueue.waitForGroupIdle(s.group, 120_000)]);

    const st = await s.json<StatusReport>(['status', 'sweep.yaml'], 0);
    expect(st.doc).toMatchObject({ complete: true, idle: true, totals: { configs: 24, ok: 24, units_complete: 6 } });
    expect(st.doc.connections).toBe(2);

    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], 0);
    expect(col).toMatchObject({ complete: true, mixed_origins: false, totals: { configs: 24, ok: 24, missing: 0, error: 0 } });
    expect(col.hosts.map((h) => [h.host, h.reachable, h.local])).toEqual([
      [env.a.alias, true, join(s.out, 'hosts', env.a.alias, 'results')],
      [env.b.alias, true, join(s.out, 'hosts', env.b.alias, 'results')],
    ]);
    const records = s.collected();
    expect(records).toHaveLength(24);
    expect(new Set(records.map((r) => r.config)).size).toBe(24);
    // Records of B's units carry B's target, A's carry A's: each ran on its own host's server.
    for (const r of records) expect(r.v === 2 && r.target).toBe(placement.units[r.unit]?.at(-1) === env.a.alias ? ha?.target : hb?.target);
    await expectRecordsFromTheirHosts(env, s, { [ha?.target ?? '']: env.a.ch.url, [hb?.target ?? '']: env.b.ch.url });
  }, 300_000);

  it('a host down at submit time stops the submission (exit 2 naming it, nothing queued anywhere); --skip-unreachable places its units on the other host and says so; status reports it in its row without hanging', async () => {
    const closed = await freePort();
    const downConfig = join(env.root.path, 'down_ssh_config');
    writeFileSync(downConfig, `Host sweep-test-down\n  HostName 127.0.0.1\n  Port ${closed}\n  BatchMode yes\n  ConnectTimeout 5\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n`);
    const downDir = join(env.root.path, 'hs-down');
    mkdirSync(downDir, { recursive: true });
    const s = sweepOf(env, 'hs', {
      sleep: 0,
      hosts: [entryOf(env, env.a, 'hs', { parallel: 1 }), { host: 'sweep-test-down', dir: downDir, parallel: 3, ssh_config: downConfig, clickhouse_url: env.b.ch.url }],
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const tasksBefore = Object.keys((await env.a.pueue.status()).tasks).length;
    const refused = await s.run(['submit-all', 'sweep.yaml']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/1 host\(s\) unreachable:\n {2}sweep-test-down \(remote\.hosts\[1\]\): connect: ssh could not connect/);
    expect(refused.stderr).toMatch(/nothing was queued on any host/);
    expect(Object.keys((await env.a.pueue.status()).tasks)).toHaveLength(tasksBefore);
    expect(existsSync(join(s.out, 'placement.json'))).toBe(false);

    const skip = await s.json<SubmitReport>(['submit-all', 'sweep.yaml', '--skip-unreachable'], 0);
    expect(skip.doc.placement.unreachable).toEqual(['sweep-test-down']);
    expect(skip.doc.placement.counts).toEqual({ [env.a.alias]: 6, 'sweep-test-down': 0 });
    expect(skip.doc.queued).toHaveLength(6);
    expect(skip.doc.hosts[1]).toMatchObject({ reachable: false, why: expect.stringMatching(/ssh could not connect/) });
    expect(skip.res.stderr).toMatch(/placing 6 new unit\(s\) on the reachable hosts only \(sweep-test-down unreachable\)/);
    await env.a.pueue.waitForGroupIdle(s.group, 60_000);

    const t0 = Date.now();
    const st = await s.json<StatusReport>(['status', 'sweep.yaml'], 1);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(st.doc.hosts[1]).toMatchObject({ host: 'sweep-test-down', reachable: false, units: 0, why: expect.stringMatching(/ssh could not connect/) });
    expect(st.doc.totals).toMatchObject({ ok: 24, units_complete: 6 });
    expect(st.doc.complete).toBe(true);
    const col = await s.json<CollectReport>(['collect', 'sweep.yaml'], 0);
    expect(col.doc.totals).toMatchObject({ ok: 24, missing: 0 });
    const stop = await s.json<StopReport>(['stop', 'sweep.yaml'], 1);
    expect(stop.doc.hosts.map((h) => [h.host, h.reachable])).toEqual([
      [env.a.alias, true],
      ['sweep-test-down', false],
    ]);
    expect(stop.doc.errors.join('\n')).toMatch(/sweep-test-down: did not answer/);
  }, 180_000);

  it('--rebalance with one host\'s daemon stopped moves its unfinished units to the other; when it is back, its queued copies are removed, not run twice; collect keeps one record per config', async () => {
    const s = sweepOf(env, 'hr', { sleep: 1, configs: 4 });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    expect((await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], 0)).doc.queued).toHaveLength(6);
    const unitsB = Object.entries(placementOf(s).units).filter(([, h]) => h.at(-1) === env.b.alias).map(([u]) => u);
    expect(unitsB).toHaveLength(2);
    await waitFor("host b's first unit to start", () => unitsB.some((u) => s.remoteLines(env.b.alias, u) >= 1), 60_000);
    await env.b.pueue.stopDaemon({ mode: 'kill' });

    // Without a flag: exit 2 naming the host; nothing queued on A either.
    const aTasks = Object.keys((await env.a.pueue.status()).tasks).length;
    const refused = await s.run(['submit-all', 'sweep.yaml']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`${env.b.alias} \\(remote\\.hosts\\[1\\]\\): preflight: the pueue daemon does not answer`));
    expect(Object.keys((await env.a.pueue.status()).tasks)).toHaveLength(aTasks);
    // --skip-unreachable: B's units stay placed there (they may be running or done there), and it says so.
    const skip = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml', '--skip-unreachable'], 0)).doc;
    expect(skip.placement.waiting.map((w) => w.unit).sort()).toEqual([...unitsB].sort());
    expect(skip.placement.moved).toEqual([]);
    expect(skip.warnings.join('\n')).toMatch(/2 unit\(s\) stay placed on unreachable .*--rebalance' moves the unfinished ones now/);

    // --rebalance: both are unfinished (the killed one partly done, the other not started): they move to A.
    const reb = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml', '--rebalance'], 0)).doc;
    expect(reb.placement.moved.map((m) => [m.unit, m.from, m.to]).sort()).toEqual(unitsB.map((u) => [u, env.b.alias, env.a.alias]).sort());
    expect(reb.hosts[0]?.queued.map((q) => q.unit).sort()).toEqual([...unitsB].sort());
    expect(placementOf(s).units[unitsB[0] ?? '']).toEqual([env.b.alias, env.a.alias]);
    await env.a.pueue.waitForGroupIdle(s.group, 120_000);

    // B comes back: its group holds the moved units' queued task (paused); the next submission removes it, never runs it.
    await env.b.pueue.startDaemon();
    const after = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], 0)).doc;
    expect(after.hosts[1]?.moved_away.removed.length).toBeGreaterThanOrEqual(1);
    expect(after.queued).toEqual([]);
    const bTasks = Object.values((await env.b.pueue.status()).tasks).filter((t) => t.label?.startsWith('sweep:hr:'));
    expect(bTasks.filter((t) => 'Queued' in t.status || 'Running' in t.status)).toEqual([]);

    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], 0);
    expect(col).toMatchObject({ complete: true, totals: { configs: 24, ok: 24, missing: 0 } });
    const records = s.collected();
    expect(records).toHaveLength(24);
    // The unit killed on B had records there too: collect read both hosts' files and kept one per config.
    expect(col.totals.duplicate).toBeGreaterThanOrEqual(1);
    const targets = Object.fromEntries(Object.entries(placementOf(s).hosts).map(([h, v]) => [v.target ?? '', h === env.a.alias ? env.a.ch.url : env.b.ch.url]));
    await expectRecordsFromTheirHosts(env, s, targets);
  }, 300_000);

  it("hosts aimed at one server (a cluster's load balancer): the setup runs once, from the first host; the other takes its record; collect is complete with one target and one generation", async () => {
    const s = sweepOf(env, 'hl', {
      sleep: 0,
      hosts: [entryOf(env, env.a, 'hl', { parallel: 1 }), entryOf(env, env.b, 'hl', { parallel: 1, clickhouse_url: env.a.ch.url })],
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const { doc: sub } = await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], 0);
    expect(sub.hosts[0]?.target).toBe(sub.hosts[1]?.target);
    expect(sub.hosts[0]?.setup).toMatchObject({ action: 'run', statements: 4 });
    expect(sub.hosts[1]?.setup).toMatchObject({ action: 'run', reason: `runs once for this target, on ${env.a.alias}`, statements: 0 });
    await Promise.all([env.a.pueue.waitForGroupIdle(s.group, 60_000), env.b.pueue.waitForGroupIdle(s.group, 60_000)]);
    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], 0);
    expect(col).toMatchObject({ complete: true, totals: { configs: 24, ok: 24 } });
    expect(col.origins).toHaveLength(1);
    const again = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], 0)).doc;
    expect(again.hosts.map((h) => h.setup.action)).toEqual(['current', 'current']);
    await expectRecordsFromTheirHosts(env, s, { [sub.hosts[0]?.target ?? '']: env.a.ch.url });
  }, 180_000);

  it('more hosts than units: a host with no unit is left alone (no sweep dir, no setup on its server); status and collect are complete', async () => {
    const s = sweepOf(env, 'h1', { sleep: 0, units: 1, configs: 2 });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const { doc: sub } = await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], 0);
    expect(sub.hosts.map((h) => [h.host, h.units, h.reachable, h.setup.action])).toEqual([
      [env.a.alias, 1, true, 'run'],
      [env.b.alias, 0, true, 'none'],
    ]);
    expect(existsSync(s.sweepDirs[env.b.alias] ?? '/')).toBe(false);
    await env.a.pueue.waitForGroupIdle(s.group, 60_000);
    const st = await s.json<StatusReport>(['status', 'sweep.yaml'], 0);
    expect(st.doc.notes.filter((n) => /not submitted/.test(n))).toEqual([]);
    expect((await s.json<CollectReport>(['collect', 'sweep.yaml'], 0)).doc.totals).toMatchObject({ configs: 2, ok: 2 });
  }, 120_000);

  it('hostile host names are refused before anything runs (exit 2 naming the entry); hostile dirs run correctly and execute nothing', async () => {
    const canary = join(env.root.path, 'canary');
    for (const host of [`-oProxyCommand=touch ${canary}`, `a;touch ${canary}`, `$(touch ${canary})`]) {
      const s = writeHostsSweep(env, {
        name: 'hh',
        template: 'SELECT {u:UInt8} AS u\n',
        params: { u: [1, 2] },
        unit: ['u'],
        hosts: [entryOf(env, env.a, 'hh'), { host, dir: '/tmp' }],
      });
      const res = await s.run(['generate', 'sweep.yaml']);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/sweep\.yaml:\d+:\d+: remote\.hosts\[1\]\.host: expected an ssh destination/);
      expect((await s.run(['status', 'sweep.yaml'])).code).toBe(2);
    }
    const evil = `d $(touch ${canary}) ; 'q' "dq" \`id\``;
    const s = writeHostsSweep(env, {
      name: 'hd',
      template: 'SELECT {u:UInt8} AS u, {k:UInt8} AS k\n',
      params: { u: [1, 2, 3], k: [1, 2] },
      unit: ['u'],
      hosts: [entryOf(env, env.a, 'hd', { dir: join(env.root.path, `a ${evil}`) }), entryOf(env, env.b, 'hd', { dir: join(env.root.path, `b ${evil}`) })],
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    expect((await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], 0)).doc.queued).toHaveLength(3);
    await Promise.all([env.a.pueue.waitForGroupIdle(s.group, 60_000), env.b.pueue.waitForGroupIdle(s.group, 60_000)]);
    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], 0);
    expect(col.totals).toMatchObject({ configs: 6, ok: 6 });
    expect(existsSync(join(env.root.path, `a ${evil}`, 'hd', 'results'))).toBe(true);
    expect((await s.run(['logs', 'sweep.yaml'])).stdout).toMatch(new RegExp(`^${env.b.alias} \\| u-\\d \\| `, 'm'));
    expect(existsSync(canary)).toBe(false);
  }, 180_000);
});
