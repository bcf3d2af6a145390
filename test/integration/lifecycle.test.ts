/**
 * The everyday operations around a `sweep run`, as a new user does them, each
 * ending in a right record or a clear refusal: Ctrl-C and rerun with a setup
 * that rebuilds the data (units in a local pueue daemon), a change of target,
 * two runs at once, SIGHUP, a template failing everywhere, --fresh / --rerun /
 * --only, and the queries a killed worker leaves behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ResultRecord } from '../../src/results/record.js';
import type { RunSweepSummary } from '../../src/run/run-sweep.js';
import { chQuery } from '../harness/clickhouse.js';
import { lacks } from '../harness/components.js';
import { startPueue } from '../harness/pueue.js';
import { CLI, runSweep, tempDir } from '../helpers/cli.js';
import { bundleCli, spawnWorker } from './worker-fixtures.js';

const url = (): string => inject('clickhouseUrl');

function readRecords(path: string): ResultRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultRecord);
}

async function queriesOf(prefix: string): Promise<number> {
  return Number((await chQuery(url(), `SELECT count() FROM system.processes WHERE startsWith(query_id, '${prefix}')`)).trim());
}

async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Started {
  exited: Promise<number | null>;
  kill(sig: NodeJS.Signals): void;
  stdout(): string;
  stderr(): string;
  pid: number;
}

function startRun(dir: string, args: string[], env: NodeJS.ProcessEnv = process.env): Started {
  const child = spawn(process.execPath, [CLI, 'run', ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return {
    exited: new Promise((resolve) => child.on('close', (code) => resolve(code))),
    kill: (sig) => child.kill(sig),
    stdout: () => out,
    stderr: () => err,
    pid: child.pid as number,
  };
}

/**
 * A sweep whose setup rebuilds its table, and whose configs read it slowly enough
 * to interrupt: `slow` seconds of sleep(), or with 'heavy' a long scan that a
 * KILL QUERY stops at once (18.16 cannot interrupt a sleep() nor a scalar subquery).
 */
function writeSetupSweep(dir: string, name: string, db: string, slow: number | 'heavy' = 0.3): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'setup.sql'),
    `DROP TABLE IF EXISTS ${db}.facts;\nCREATE TABLE ${db}.facts (k UInt32, v UInt64) ENGINE = MergeTree ORDER BY k;\nINSERT INTO ${db}.facts SELECT number, number * 7 FROM numbers(50);\n`,
  );
  const sql =
    slow === 'heavy'
      ? `SELECT k, v, {g:String} AS g, z FROM (SELECT k, v FROM ${db}.facts WHERE k = {k:UInt32}) ANY LEFT JOIN (SELECT toUInt32({k:UInt32}) AS k, sum(number) AS z FROM numbers(20000000000)) USING k\n`
      : `SELECT k, v, {g:String} AS g, sleep(${slow}) AS z FROM ${db}.facts WHERE k = {k:UInt32}\n`;
  writeFileSync(join(dir, 'q.sql'), sql);
  writeFileSync(join(dir, 'sweep.yaml'), `name: ${name}\ntemplate: q.sql\nsetup: setup.sql\nparams:\n  g: [a, b, c, d]\n  k: [1, 2, 3, 4, 5]\nunit: [g]\nworker:\n  concurrency: 1\n`);
  return join(dir, 'sweep.yaml');
}

describe.skipIf(lacks('clickhouse'))('sweep run lifecycle', () => {
  let t: { dir: string; cleanup: () => void };
  beforeAll(async () => {
    t = tempDir('sweep-life-');
    await chQuery(url(), 'CREATE DATABASE IF NOT EXISTS sweep_life');
  });
  afterAll(() => t.cleanup());

  it.skipIf(lacks('pueue'))('the first scenario: units in a local pueue daemon, setup that rebuilds a table, Ctrl-C, rerun: setup does not run under the units, every record equals its SQL run on the rebuilt data', async () => {
    const pueue = await startPueue();
    try {
      const dir = join(t.dir, 'first');
      writeSetupSweep(dir, 'first', 'sweep_life');
      const env = { ...process.env, PUEUE_CONFIG_PATH: pueue.configPath, PATH: `${process.env['HOME']}/.cargo/bin:${process.env['PATH'] ?? ''}` };
      const run = startRun(dir, ['sweep.yaml', '--pueue', '--clickhouse-url', url()], env);
      const resultsDir = join(dir, 'out', 'first', 'results');
      await waitFor('some records', () => existsSync(resultsDir) && readdirSync(resultsDir).some((f) => f.endsWith('.ndjson') && readFileSync(join(resultsDir, f), 'utf8').length > 0), 60_000);
      run.kill('SIGINT');
      expect(await run.exited).toBe(130);
      // Ctrl-C stops what the run started: nothing of the sweep is queued or running in pueue, nothing on the server.
      expect(run.stderr()).toMatch(/stopping the units this run queued in pueue group sweep-first/);
      const tasks = Object.values((await pueue.status()).tasks).filter((tk) => tk.label?.startsWith('sweep:first:'));
      expect(tasks.every((tk) => 'Done' in tk.status)).toBe(true);
      expect(await queriesOf('first:')).toBe(0);

      // Rerun as sweep advises: setup is current, so it does not run again; the rest completes.
      const again = await runSweep(['run', 'sweep.yaml', '--pueue', '--clickhouse-url', url(), '--json'], { cwd: dir, env, timeoutMs: 180_000 });
      expect(again.stderr).toMatch(/setup: already ran on this target/);
      expect(again.code).toBe(0);
      const summary = JSON.parse(again.stdout) as RunSweepSummary;
      expect(summary).toMatchObject({ configs: 20, ok: 20, skipped: 0, error: 0, complete: true, mode: 'pueue' });
      expect(summary.setup.action).toBe('current');
      const records = readRecords(join(dir, 'out', 'first', 'results.ndjson'));
      expect(records).toHaveLength(20);
      for (const r of records) {
        const k = Number(r.params['k']);
        expect(r.rows).toEqual([{ k, v: String(k * 7), g: r.params['g'], z: 0 }]);
        expect(r.setup).toBe(summary.setup.generation);
      }

      // With --detach, Ctrl-C leaves the units; then --setup is refused while they run, naming them.
      const detached = startRun(dir, ['sweep.yaml', '--pueue', '--clickhouse-url', url(), '--rerun', 'all', '--detach'], env);
      await waitFor('units queued again', async () => Object.values((await pueue.status()).tasks).some((tk) => tk.label?.startsWith('sweep:first:') && ('Running' in tk.status || 'Queued' in tk.status)), 60_000);
      detached.kill('SIGINT');
      expect(await detached.exited).toBe(130);
      expect(detached.stdout()).toMatch(/the units keep running in pueue \(--detach\)/);
      const refused = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--setup'], { cwd: dir, env });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/setup must run \(--setup\) but \d+ unit\(s\) of this sweep are queued or running: g-/);
      // sweep stop ends them; then --setup runs and every record of the target is stale: all run again.
      const stop = await runSweep(['stop', 'sweep.yaml', '--json'], { cwd: dir, env });
      expect(stop.code).toBe(0);
      const rebuilt = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--setup', '--json'], { cwd: dir, env, timeoutMs: 180_000 });
      expect(rebuilt.code).toBe(0);
      const after = JSON.parse(rebuilt.stdout) as RunSweepSummary;
      expect(after.setup).toMatchObject({ action: 'run', reason: '--setup' });
      expect(after.ran).toBe(20);
      expect(after.rerun.setup + after.rerun.target).toBeGreaterThan(0);
      expect(readRecords(join(dir, 'out', 'first', 'results.ndjson')).every((r) => r.setup === after.setup.generation)).toBe(true);
    } finally {
      await pueue.stop();
    }
  }, 300_000);

  it('a change of target (embedded, then a server) runs every config again, and says why', async () => {
    const dir = join(t.dir, 'switch');
    mkdirSync(dir);
    writeFileSync(join(dir, 'q.sql'), 'SELECT {n:UInt32} * 2 AS twice, version() AS ver\n');
    writeFileSync(join(dir, 'sweep.yaml'), 'name: switch\ntemplate: q.sql\nparams:\n  n: [1, 2, 3]\n');
    const env = { ...process.env, CLICKHOUSE_URL: '' };
    const embedded = await runSweep(['run', 'sweep.yaml', '--json'], { cwd: dir, env, timeoutMs: 120_000 });
    expect(embedded.code).toBe(0);
    const server = await runSweep(['run', 'sweep.yaml', '--json', '--clickhouse-url', url()], { cwd: dir, env, timeoutMs: 120_000 });
    expect(server.code).toBe(0);
    const s = JSON.parse(server.stdout) as RunSweepSummary;
    expect(s).toMatchObject({ ran: 3, rerun: { target: 3 }, complete: true });
    expect(server.stdout).toContain('"target"');
    const records = readRecords(join(dir, 'out', 'switch', 'results.ndjson'));
    // What the server computed, not what the embedded engine did.
    expect(records.map((r) => r.rows[0]?.['ver'])).toEqual(Array(3).fill(s.engine.version));
    expect(records.every((r) => r.target === s.target && r.engine.startsWith('http '))).toBe(true);
    // Human summary names the reason.
    const human = await runSweep(['run', 'sweep.yaml'], { cwd: dir, env, timeoutMs: 120_000 });
    expect(human.stdout).toMatch(/run again: 3 target changed/);
  });

  it('two runs of one spec at once: the second exits 2 naming the holder (host, pid, command); generate too', async () => {
    const dir = join(t.dir, 'twice');
    writeSetupSweep(dir, 'twice', 'sweep_life', 0.5);
    const first = startRun(dir, ['sweep.yaml', '--clickhouse-url', url()]);
    await waitFor('the first run to hold the sweep dir', () => existsSync(join(dir, 'out', 'twice', 'results')), 60_000);
    const second = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url()], { cwd: dir });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`sweep dir .*out/twice: expected no other sweep command writing it, found one: ${hostname()} pid ${first.pid} \\(sweep run sweep\\.yaml\\)`));
    expect(second.stderr).not.toMatch(/ENOTEMPTY|internal error|npm ci/);
    const gen = await runSweep(['generate', 'sweep.yaml'], { cwd: dir });
    expect(gen.code).toBe(2);
    expect(gen.stderr).toMatch(/found one: .* \(sweep run sweep\.yaml\)/);
    first.kill('SIGTERM');
    expect(await first.exited).toBe(143);
  });

  it('SIGHUP (the terminal closed) ends sweep run like SIGTERM: exit 129, none of its queries left on the server', async () => {
    const dir = join(t.dir, 'hup');
    writeSetupSweep(dir, 'hup', 'sweep_life', 'heavy');
    const run = startRun(dir, ['sweep.yaml', '--clickhouse-url', url()]);
    await waitFor('queries of the sweep running', async () => (await queriesOf('hup:')) > 0, 60_000);
    run.kill('SIGHUP');
    expect(await run.exited).toBe(129);
    expect(run.stderr()).toMatch(/SIGHUP: stopping/);
    await waitFor('no query of the sweep on the server', async () => (await queriesOf('hup:')) === 0, 5_000);
  });

  it('a template that fails on every config halts the unit after the first K, instead of writing an error record for each', async () => {
    const dir = join(t.dir, 'halt');
    mkdirSync(dir);
    writeFileSync(join(dir, 'q.sql'), 'SELECT {n:UInt32} AS n FROM table_that_is_not_there\n');
    writeFileSync(join(dir, 'sweep.yaml'), `name: halt\ntemplate: q.sql\nparams:\n  n: [${Array.from({ length: 200 }, (_, i) => i).join(', ')}]\nworker:\n  concurrency: 2\n  halt_after: 5\n`);
    const res = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--json'], { cwd: dir, timeoutMs: 60_000 });
    expect(res.code).toBe(1);
    const s = JSON.parse(res.stdout) as RunSweepSummary;
    expect(s.halted).toEqual([{ unit: 'all', code: 60, name: 'UNKNOWN_TABLE', configs: 5 }]);
    // At most the halting window and what was already in flight: never 200 error records.
    expect(s.error).toBeGreaterThanOrEqual(5);
    expect(s.error).toBeLessThanOrEqual(7);
    expect(s.missing).toBe(200 - s.error);
    const human = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url()], { cwd: dir, timeoutMs: 60_000 });
    expect(human.stdout).toMatch(/halted: all: every config failed with 60 UNKNOWN_TABLE/);
  });

  it('--fresh moves the results aside (never deleted) and runs all; --rerun skipped and --only select what runs again', async () => {
    const dir = join(t.dir, 'rerun');
    mkdirSync(dir);
    writeFileSync(join(dir, 'q.sql'), 'SELECT {s:String} AS s, {n:UInt32} AS n FROM system.one WHERE {n:UInt32} > 1\n');
    writeFileSync(join(dir, 'sweep.yaml'), 'name: rerun\ntemplate: q.sql\nparams:\n  s: [x, y]\n  n: [1, 2, 3]\nunit: [s]\n');
    const first = JSON.parse((await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--json'], { cwd: dir })).stdout) as RunSweepSummary;
    expect(first).toMatchObject({ ok: 4, skipped: 2, ran: 6 });
    const skippedAgain = JSON.parse((await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--rerun', 'skipped', '--json'], { cwd: dir })).stdout) as RunSweepSummary;
    expect(skippedAgain).toMatchObject({ ran: 2, rerun: { requested: 2 }, complete: true });
    const only = JSON.parse((await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--rerun', 'all', '--only', 's=y,n=3', '--json'], { cwd: dir })).stdout) as RunSweepSummary;
    expect(only).toMatchObject({ ran: 1, rerun: { requested: 1 }, complete: true });
    const badOnly = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--only', 'venue=x'], { cwd: dir });
    expect(badOnly.code).toBe(2);
    expect(badOnly.stderr).toMatch(/--only "venue=x": expected a param name \(one of: s, n\), found "venue"/);
    // A value that matches no config runs nothing: a refusal, never "complete".
    const noMatch = await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--only', 'n=3.0'], { cwd: dir });
    expect(noMatch.code).toBe(2);
    expect(noMatch.stderr).toMatch(/--only n=3\.0: expected it to select some configs, found none in the sweep \(values as the spec wrote them: n: /);
    const fresh = JSON.parse((await runSweep(['run', 'sweep.yaml', '--clickhouse-url', url(), '--fresh', '--json'], { cwd: dir })).stdout) as RunSweepSummary;
    expect(fresh).toMatchObject({ ran: 6, complete: true });
    expect(fresh.moved_aside).toMatch(/results\/\.previous\/\d{8}T\d{6}Z$/);
    // Moved aside, never deleted: the earlier files are all there.
    expect(readdirSync(fresh.moved_aside as string).filter((f) => f.endsWith('.ndjson')).sort()).toEqual(['s-x.ndjson', 's-y.ndjson']);
  });

  it('a worker killed with -9 leaves its queries running; the next worker of that unit cancels them before starting its own', async () => {
    const bundle = await bundleCli();
    const dir = join(t.dir, 'orphans');
    mkdirSync(dir);
    writeFileSync(join(dir, 'q.sql'), 'SELECT {i:UInt32} AS i, sum(number) AS s FROM numbers(20000000000)\n');
    writeFileSync(join(dir, 'sweep.yaml'), 'name: orphans\ntemplate: q.sql\nparams:\n  i: [1, 2, 3, 4]\nworker:\n  concurrency: 2\n');
    expect((await runSweep(['generate', 'sweep.yaml'], { cwd: dir })).code).toBe(0);
    const out = join(dir, 'out', 'orphans');
    const victim = spawnWorker(bundle, ['--dir', out, '--unit', 'all', '--clickhouse-url', url()]);
    await waitFor('the first worker\'s queries on the server', async () => (await queriesOf('orphans:all:')) === 2, 30_000);
    const before = (await chQuery(url(), "SELECT query_id FROM system.processes WHERE startsWith(query_id, 'orphans:all:') ORDER BY query_id")).trim().split('\n');
    victim.child.kill('SIGKILL');
    await victim.exit;
    // kill -9: the server knows nothing of it, the queries run on.
    expect(await queriesOf('orphans:all:')).toBe(2);
    const next = spawnWorker(bundle, ['--dir', out, '--unit', 'all', '--clickhouse-url', url()]);
    await waitFor('the orphans to be gone', async () => {
      const now = (await chQuery(url(), "SELECT query_id FROM system.processes WHERE startsWith(query_id, 'orphans:all:')")).trim().split('\n');
      return !before.some((q) => now.includes(q));
    }, 10_000);
    next.child.kill('SIGTERM');
    expect((await next.exit).code).toBe(143);
  });
});
