/**
 * How the remote tier fails and recovers, end to end: a pueue daemon restarted
 * mid-sweep, a unit whose worker fails (and the after steps that must not
 * run), the ClickHouse password kept out of every record of the run,
 * preflight errors naming the host and the step, and a dry run that changes
 * nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chQuery, startClickHouse, type ClickHouseHandle } from '../harness/clickhouse.js';
import { freePort } from '../harness/process.js';
import { lacks } from '../harness/components.js';
import type { CollectReport } from '../../src/remote/collect.js';
import type { StatusReport } from '../../src/remote/status.js';
import type { SubmitReport } from '../../src/remote/submit.js';
import { allCommandLines, cliEnv, splitCredentials, startRemoteEnv, waitFor, writeSweep, type RemoteEnv } from './remote-fixture.js';

const chUrl = inject('clickhouseUrl');

describe.skipIf(lacks('clickhouse', 'sshd', 'pueue'))('remote tier failures, end to end', () => {
  let env: RemoteEnv;
  beforeAll(async () => {
    env = await startRemoteEnv(chUrl);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('pueue daemon restarted mid-sweep: status says so plainly, submit-all resumes the sweep', async () => {
    const s = writeSweep(env, {
      name: 'restart',
      template: 'SELECT {u:String} AS u, {k:UInt32} AS k, sleep(0.1) AS z\n',
      params: { u: ['a', 'b', 'c', 'd'], k: Array.from({ length: 20 }, (_, i) => i) },
      unit: ['u'],
      parallel: 1,
      concurrency: 1,
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    expect((await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc.queued).toHaveLength(4);
    await waitFor('the first unit to be half done', () => s.remoteLines('u-a') >= 3, 30_000);

    // collect works on a sweep that is still running: what is there, validated, nothing torn kept.
    const partial = await s.json<CollectReport>(['collect', 'sweep.yaml', '--allow-partial'], { expectCode: 0 });
    expect(partial.doc.complete).toBe(false);
    expect(partial.doc.totals.ok).toBeGreaterThanOrEqual(3);
    expect(partial.doc.totals.ok + partial.doc.totals.missing).toBe(80);
    expect(s.collected()).toHaveLength(partial.doc.totals.ok);

    // Restart while a unit is running (not between two tasks).
    await waitFor(
      'a unit running with records written',
      async () =>
        Object.values((await env.pueue.status(s.group)).tasks).some((t) => {
          const unit = t.label?.replace('sweep:restart:', '') ?? '';
          return 'Running' in t.status && s.remoteLines(unit) >= 1 && s.remoteLines(unit) < 15;
        }),
      30_000,
    );
    await env.pueue.restartDaemon({ mode: 'kill' });

    const { doc: st, res } = await s.json<StatusReport>(['status', 'sweep.yaml'], { expectCode: 1 });
    expect(st.group_state.status).toBe('Paused');
    expect(st.totals.killed).toBe(1);
    const killed = st.units.filter((u) => u.task?.state === 'Killed').map((u) => u.unit);
    expect(killed).toHaveLength(1);
    const waiting = st.totals.queued;
    expect(waiting).toBeGreaterThanOrEqual(1);
    expect(st.notes.join('\n')).toMatch(
      new RegExp(`pueue group sweep-restart is PAUSED with ${waiting} unit\\(s\\) waiting: nothing in it will start\\. 1 unit\\(s\\) were Killed, as when the pueue daemon restarts`),
    );
    expect(st.notes.join('\n')).toMatch(/Run 'sweep submit-all' to resume/);
    expect(res.stderr).toBe('');
    const human = await s.run(['status', 'sweep.yaml']);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/pueue group sweep-restart: Paused/);
    expect(human.stdout).toMatch(new RegExp(`${killed[0] as string}\\s+Killed`));
    expect(human.stdout).toMatch(/note: pueue group sweep-restart is PAUSED/);

    const sub = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
    expect(sub.queued.map((q) => q.unit)).toEqual(killed);
    expect(sub.plan.active.map((a) => a.state)).toEqual(Array.from({ length: waiting }, () => 'Queued'));
    expect(sub.group_resumed).toBe(true);
    // status --watch refreshes (one session each) until no task of the sweep is waiting or running.
    const watched = await s.json<StatusReport>(['status', 'sweep.yaml', '--watch', '--interval', '0.5'], { expectCode: 0 });
    expect(watched.doc).toMatchObject({ idle: true, complete: true, progress: 1 });
    expect(watched.doc.connections).toBeGreaterThanOrEqual(1);
    expect(watched.res.stderr).toMatch(/restart: \d+\.\d% \(\d+\/80\)/);
    const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 });
    expect(col.totals).toMatchObject({ configs: 80, ok: 80, missing: 0, duplicate: 0 });
  });

  it('a unit whose worker fails: status and collect show it with the log tail, and the after steps do not run', async () => {
    await chQuery(chUrl, 'CREATE TABLE IF NOT EXISTS default.sweep_e2e_ok (x UInt32) ENGINE = Memory');
    await chQuery(chUrl, 'INSERT INTO default.sweep_e2e_ok VALUES (1), (2), (3)');
    const s = writeSweep(env, {
      name: 'fails',
      template: 'SELECT {k:UInt32} AS k, count() AS c FROM {tbl:Identifier}\n',
      params: { tbl: ['sweep_e2e_ok', 'sweep_e2e_missing'], k: [1, 2, 3, 4] },
      unit: ['tbl'],
      after: [{ name: 'optimize', sql: 'SELECT 1' }],
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    expect((await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc.queued).toHaveLength(2);
    await env.pueue.waitForGroupIdle(s.group, 60_000);

    const { doc: st } = await s.json<StatusReport>(['status', 'sweep.yaml'], { expectCode: 1 });
    const bad = st.units.find((u) => u.unit === 'tbl-sweep_e2e_missing');
    expect(bad?.task).toMatchObject({ state: 'Failed(1)', failed: true });
    expect(bad?.task?.explain).toMatch(/configs in error/);
    expect(bad?.task?.log).toMatch(/sweep_e2e_missing/);
    expect(bad).toMatchObject({ error: 4, ok: 0 });
    expect(st.units.find((u) => u.unit === 'tbl-sweep_e2e_ok')).toMatchObject({ ok: 4, task: { state: 'Success' } });
    expect(st.after[0]?.task?.state).toBe('DependencyFailed');
    expect(st.totals.failed).toBe(1);
    const human = await s.run(['status', 'sweep.yaml']);
    expect(human.stdout).toMatch(/--- tbl-sweep_e2e_missing: Failed\(1\) \(the worker finished with configs in error.*\n(\s+\| .*\n)+/);
    expect(human.stdout).toMatch(/after step optimize: DependencyFailed/);

    const col = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 1 });
    expect(col.doc.complete).toBe(false);
    expect(col.doc.totals).toMatchObject({ configs: 8, ok: 4, error: 4, missing: 0 });
    expect(col.doc.errors[0]).toMatchObject({ unit: 'tbl-sweep_e2e_missing', code: 60 });
    expect(col.res.stderr).toMatch(/incomplete: 0 config\(s\) missing, 4 in error/);
    const partial = await s.run(['collect', 'sweep.yaml', '--allow-partial']);
    expect(partial.code).toBe(0);
    expect(partial.stdout).toMatch(/INCOMPLETE/);
    expect(partial.stdout).toMatch(/UNKNOWN_TABLE \(60\)/);

    // Fix the cause; submit-all retries the errors and the after step runs.
    await chQuery(chUrl, 'CREATE TABLE IF NOT EXISTS default.sweep_e2e_missing (x UInt32) ENGINE = Memory');
    try {
      const again = (await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc;
      expect(again.queued.map((q) => q.unit)).toEqual(['tbl-sweep_e2e_missing']);
      expect(again.after.map((a) => a.step)).toEqual(['optimize']);
      await env.pueue.waitForGroupIdle(s.group, 60_000);
      const done = (await s.json<StatusReport>(['status', 'sweep.yaml'], { expectCode: 0 })).doc;
      expect(done.after[0]?.task?.state).toBe('Success');
      expect((await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 })).doc.totals).toMatchObject({ ok: 8, error: 0, duplicate: 0 });
    } finally {
      await chQuery(chUrl, 'DROP TABLE IF EXISTS default.sweep_e2e_missing');
      await chQuery(chUrl, 'DROP TABLE IF EXISTS default.sweep_e2e_ok');
    }
  });

  describe('the ClickHouse password', () => {
    let ch: ClickHouseHandle;
    let target: { url: string; user: string; password: string };
    const password = `s3cr3t-'q' "dq" $(touch PWNED) ;x`;
    beforeAll(async () => {
      // A server with a user that needs a password (the binary server's default user has none).
      ch = await startClickHouse();
      target = await passwordUser(ch, password);
    });
    afterAll(async () => {
      await ch?.stop();
    });

    it('reaches the worker but never appears in the pueue state file, task command lines, logs or records', async () => {
      const s = writeSweep(env, {
        name: 'secret',
        template: 'SELECT {u:String} AS u, {k:UInt32} AS k, sleep(0.1) AS z\n',
        params: { u: ['a', 'b'], k: [1, 2, 3, 4, 5, 6] },
        unit: ['u'],
        concurrency: 1,
        clickhouse: { url: target.url, user: target.user },
        after: [{ name: 'touch', sql: 'SELECT 1' }],
      });
      const withPassword = cliEnv({ CLICKHOUSE_PASSWORD: target.password });
      expect((await s.run(['generate', 'sweep.yaml'], { env: withPassword })).code).toBe(0);
      // Without it, the preflight probe from the remote is refused by the server.
      const refused = await s.run(['submit-all', 'sweep.yaml']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/sweep-test-remote: preflight: ClickHouse at .* does not answer from sweep-test-remote: HTTP \d+: .*(password|Authentication|user)/i);

      const sub = await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { env: withPassword, expectCode: 0 });
      expect(sub.doc.preflight.password).toBe('sent');
      // Watch every command line while the tasks run.
      const seen = new Set<string>();
      await waitFor(
        'the sweep to finish',
        async () => {
          for (const c of allCommandLines()) if (c.includes('run-unit') || c.includes('run-sql') || c.includes('pueue')) seen.add(c);
          const st = await env.pueue.status(s.group);
          return Object.values(st.tasks).every((t) => 'Done' in t.status);
        },
        60_000,
      );
      expect([...seen].some((c) => c.includes('run-unit'))).toBe(true);
      for (const c of seen) expect(c).not.toContain(target.password);

      const { doc: col } = await s.json<CollectReport>(['collect', 'sweep.yaml'], { expectCode: 0 });
      expect(col.totals).toMatchObject({ configs: 12, ok: 12, error: 0 });
      const st = (await s.json<StatusReport>(['status', 'sweep.yaml'], { expectCode: 0 })).doc;
      expect(st.after[0]?.task?.state).toBe('Success');

      const needle = Buffer.from(target.password);
      const leaks: string[] = [];
      const scan = (dir: string, skip: (p: string) => boolean = () => false): void => {
        for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
          const p = join(e.parentPath, e.name);
          if (!e.isFile() || skip(p)) continue;
          if (readFileSync(p).includes(needle)) leaks.push(p);
        }
      };
      const pwFile = join(s.sweepDir, '.sweep', 'clickhouse_password');
      scan(env.pueue.dir); // state.json, task logs, daemon log
      scan(s.local); // spec, out/, results.ndjson, rows.ndjson, submissions.ndjson
      scan(s.sweepDir, (p) => p === pwFile); // remote copy: results, worker, after steps
      expect(leaks).toEqual([]);
      const state = readFileSync(join(env.pueue.dir, 'data', 'state.json'), 'utf8');
      expect(state).toContain('sweep:secret:u-a');
      const ids = Object.values((await env.pueue.status()).tasks).map((t) => String(t.id));
      const logs = (await env.pueue.pueue(['log', '--json', '--full', ...ids])).stdout;
      expect(logs).toContain('sweep:secret:u-a');
      expect(logs).not.toContain(target.password);
      // The one place it lives: a 0600 file in a 0700 dir on the remote.
      expect(readFileSync(pwFile, 'utf8')).toBe(`${target.password}\n`);
      expect(statSync(pwFile).mode & 0o777).toBe(0o600);
      expect(statSync(join(s.sweepDir, '.sweep')).mode & 0o777).toBe(0o700);
    });
  });

  it('preflight errors name the host and the step and exit 2; a dry run changes nothing anywhere', async () => {
    const s = writeSweep(env, { name: 'pre', template: 'SELECT {u:UInt8} AS u\n', params: { u: [1, 2, 3] }, unit: ['u'] });
    const notGenerated = await s.run(['submit-all', 'sweep.yaml']);
    expect(notGenerated.code).toBe(2);
    expect(notGenerated.stderr).toMatch(/manifest\.json: expected the output of 'sweep generate', found no such file: run 'sweep generate sweep\.yaml' first/);
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);

    // dry run: prints the plan, changes nothing here or there.
    const before = execFileSync('find', [s.local, '-printf', '%p %s %T@\n'], { encoding: 'utf8' });
    const tasksBefore = Object.keys((await env.pueue.status()).tasks).length;
    const dry = await s.json<SubmitReport>(['submit-all', 'sweep.yaml', '--dry-run'], { expectCode: 0 });
    expect(dry.doc.dry_run).toBe(true);
    expect(dry.doc.plan.queue.map((q) => q.unit)).toEqual(['u-1', 'u-2', 'u-3']);
    expect(dry.doc.queued).toEqual([]);
    expect(existsSync(s.sweepDir)).toBe(false);
    expect(Object.keys((await env.pueue.status()).tasks)).toHaveLength(tasksBefore);
    expect((await env.pueue.status()).groups[s.group]).toBeUndefined();
    expect(execFileSync('find', [s.local, '-printf', '%p %s %T@\n'], { encoding: 'utf8' })).toBe(before);

    // memory_max: used only when a trial systemd-run --user --scope works on the host, else a warning.
    const trial = spawnSync('systemd-run', ['--user', '--scope', '--quiet', '-p', 'MemoryMax=1G', '-p', 'MemorySwapMax=0', '--', 'true'], { timeout: 15_000 });
    const capped = writeSweep(env, { name: 'capped', template: 'SELECT {u:UInt8} AS u\n', params: { u: [1] }, unit: ['u'], memoryMax: '1G' });
    expect((await capped.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const cap = (await capped.json<SubmitReport>(['submit-all', 'sweep.yaml', '--dry-run'], { expectCode: 0 })).doc;
    expect(cap.preflight.memory_cap).toMatchObject({ memory_max: '1G', enforced: trial.status === 0 });
    if (trial.status !== 0) expect(cap.warnings.join('\n')).toMatch(/remote\.memory_max 1G is NOT enforced on sweep-test-remote: a trial 'systemd-run --user --scope' failed/);

    // status and collect before any submission
    const st = await s.run(['status', 'sweep.yaml']);
    expect(st.code).toBe(1);
    expect(st.stdout).toMatch(/not submitted: .* does not exist on sweep-test-remote; run 'sweep submit-all' first/);
    const col = await s.run(['collect', 'sweep.yaml']);
    expect(col.code).toBe(2);
    expect(col.stderr).toMatch(/sweep-test-remote: collect: .*\/pre\/results does not exist on the host: was the sweep submitted\?/);

    const editSpec = (f: (spec: Record<string, unknown>) => void): void => {
      const spec = JSON.parse(readFileSync(s.specPath, 'utf8')) as Record<string, unknown>;
      f(spec);
      writeFileSync(s.specPath, JSON.stringify(spec));
    };
    const remote = (spec: Record<string, unknown>): Record<string, unknown> => spec['remote'] as Record<string, unknown>;
    const original = readFileSync(s.specPath, 'utf8');

    // An unknown host.
    editSpec((spec) => (remote(spec)['host'] = 'sweep-test-nowhere.invalid'));
    await s.run(['generate', 'sweep.yaml']);
    let res = await s.run(['submit-all', 'sweep.yaml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^sweep: sweep-test-nowhere\.invalid: connect: ssh could not connect \(exit 255; ssh config .*\):\n {2}ssh: Could not resolve hostname/m);

    // A daemon that does not answer: reported with how to start it, never started.
    writeFileSync(s.specPath, original);
    const deadConfig = join(env.root.path, 'dead-pueue.yml');
    writeFileSync(deadConfig, `shared:\n  pueue_directory: ${JSON.stringify(join(env.root.path, 'dead-pueue'))}\n  use_unix_socket: true\n  unix_socket_path: ${JSON.stringify(join(env.root.path, 'dead.sock'))}\n`);
    editSpec((spec) => (remote(spec)['pueue_config'] = deadConfig));
    await s.run(['generate', 'sweep.yaml']);
    res = await s.run(['submit-all', 'sweep.yaml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/sweep-test-remote: preflight: the pueue daemon does not answer/);
    expect(res.stderr).toMatch(/sweep never starts it for you\. Start it on sweep-test-remote, e\.g\.: .*pueued -c .*dead-pueue\.yml -d/);
    expect(existsSync(join(env.root.path, 'dead.sock'))).toBe(false);

    // ClickHouse unreachable from the remote.
    writeFileSync(s.specPath, original);
    const closedPort = await freePort();
    editSpec((spec) => ((spec['clickhouse'] as Record<string, unknown>)['url'] = `http://127.0.0.1:${closedPort}`));
    await s.run(['generate', 'sweep.yaml']);
    res = await s.run(['submit-all', 'sweep.yaml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/sweep-test-remote: preflight: ClickHouse at http:\/\/127\.0\.0\.1:\d+ does not answer from sweep-test-remote: ECONNREFUSED/);

    // A password in the URL would land in pueue's state file: refused before anything happens.
    writeFileSync(s.specPath, original);
    await s.run(['generate', 'sweep.yaml']);
    res = await s.run(['submit-all', 'sweep.yaml'], { env: cliEnv({ CLICKHOUSE_URL: 'http://u:pw@127.0.0.1:8123' }) });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/CLICKHOUSE_URL: expected a URL without a password/);

    // A spec edited after generate.
    writeFileSync(s.specPath, `${original}\n`);
    res = await s.run(['submit-all', 'sweep.yaml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/generated from an earlier version of sweep\.yaml .*run 'sweep generate sweep\.yaml' again/);
    expect(existsSync(s.sweepDir)).toBe(false);
  });
});

/**
 * A user of `ch` that needs `password`: added to users.xml for a server the
 * harness runs from its binary (ClickHouse 18.16 has no CREATE USER), by SQL
 * on a current server (a container, or one given by CLICKHOUSE_URL).
 */
async function passwordUser(ch: ClickHouseHandle, password: string): Promise<{ url: string; user: string; password: string }> {
  const given = splitCredentials(ch.url);
  if (!ch.dir) {
    await chQuery(ch.url, `CREATE USER IF NOT EXISTS sweep_pw IDENTIFIED BY '${password.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
    await chQuery(ch.url, 'GRANT ALL ON *.* TO sweep_pw');
    return { url: given.url, user: 'sweep_pw', password };
  }
  const xml = password.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const usersPath = join(ch.dir, 'users.xml');
  writeFileSync(
    usersPath,
    readFileSync(usersPath, 'utf8').replace(
      '</users>',
      `<sweep_pw><password>${xml}</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></sweep_pw></users>`,
    ),
  );
  await chQuery(ch.url, 'SYSTEM RELOAD CONFIG');
  return { url: given.url, user: 'sweep_pw', password };
}
