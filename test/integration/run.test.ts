/**
 * `sweep run` on this machine: the example sweep on the embedded engine and on
 * the real server gives the same records; SIGINT then a rerun completes; bad
 * input gets a clear message and the right exit code.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ResultRecord } from '../../src/results/record.js';
import { chQuery } from '../harness/clickhouse.js';
import { lacks } from '../harness/components.js';
import { startPueue } from '../harness/pueue.js';
import { CLI, REPO_ROOT, runSweep, tempDir } from '../helpers/cli.js';

function readRecords(path: string): ResultRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultRecord);
}

/** The example, copied so each run has its own out dir and (for the server) its own database. */
function copyExample(dir: string, database?: string): string {
  for (const f of ['breakout.yaml', 'breakout.sql', 'breakout-setup.sql']) cpSync(join(REPO_ROOT, 'sql', f), join(dir, f));
  if (database) writeFileSync(join(dir, 'breakout.yaml'), `${readFileSync(join(dir, 'breakout.yaml'), 'utf8')}clickhouse:\n  database: ${database}\n`);
  return join(dir, 'breakout.yaml');
}

const comparable = (r: ResultRecord) => ({ config: r.config, unit: r.unit, status: r.status, params: r.params, rows: r.rows, sql_sha256: r.sql_sha256 });

describe.skipIf(lacks('clickhouse'))('sweep run', () => {
  let t: { dir: string; cleanup: () => void };
  beforeAll(() => {
    t = tempDir('sweep-run-');
  });
  afterAll(() => t.cleanup());

  it('gives the same records on the embedded engine and on the real server', async () => {
    const embeddedDir = join(t.dir, 'embedded');
    const serverDir = join(t.dir, 'server');
    for (const d of [embeddedDir, serverDir]) mkdirSync(d);
    copyExample(embeddedDir);
    const url = inject('clickhouseUrl');
    await chQuery(url, 'CREATE DATABASE IF NOT EXISTS sweep_run_test');
    copyExample(serverDir, 'sweep_run_test');

    const env = { ...process.env, CLICKHOUSE_URL: '' };
    const embedded = await runSweep(['run', 'breakout.yaml', '--json'], { cwd: embeddedDir, env, timeoutMs: 120_000 });
    expect(embedded.stderr).toMatch(/engine: embedded chDB \(ClickHouse \d+\./);
    expect(embedded.code).toBe(0);
    const es = JSON.parse(embedded.stdout) as { ok: number; skipped: number; error: number; configs: number; complete: boolean; engine: { kind: string } };
    expect(es).toMatchObject({ configs: 36, error: 0, complete: true, engine: { kind: 'embedded' } });
    expect(es.ok).toBeGreaterThan(0);
    expect(es.skipped).toBeGreaterThan(0);

    const server = await runSweep(['run', 'breakout.yaml', '--json', '--clickhouse-url', url], { cwd: serverDir, env, timeoutMs: 120_000 });
    expect(server.stderr).toMatch(/engine: ClickHouse \d+\.\d+/);
    expect(server.code).toBe(0);

    const a = readRecords(join(embeddedDir, 'out', 'breakout', 'results.ndjson')).map(comparable);
    const b = readRecords(join(serverDir, 'out', 'breakout', 'results.ndjson')).map(comparable);
    expect(a).toHaveLength(36);
    expect(b).toEqual(a);
    const rows = readFileSync(join(embeddedDir, 'out', 'breakout', 'rows.ndjson'), 'utf8').trim().split('\n');
    expect(rows.length).toBe(a.reduce((n, r) => n + r.rows.length, 0));
    expect(JSON.parse(rows[0] ?? '{}')).toMatchObject({ symbol: expect.any(String), threshold: expect.any(Number), horizon: expect.anything() });
  }, 240_000);

  it('interrupted with SIGINT, exits 130, and run again completes with one record per config', async () => {
    const dir = join(t.dir, 'sigint');
    mkdirSync(dir);
    const url = inject('clickhouseUrl');
    await chQuery(url, 'CREATE DATABASE IF NOT EXISTS sweep_run_sigint');
    copyExample(dir, 'sweep_run_sigint');
    const resultsDir = join(dir, 'out', 'breakout', 'results');
    const child = spawn(process.execPath, [CLI, 'run', 'breakout.yaml', '--clickhouse-url', url, '--concurrency', '2'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // wait until a few records exist, then interrupt
    const deadline = Date.now() + 60_000;
    for (;;) {
      const n = existsSync(resultsDir) ? readdirSync(resultsDir).filter((f) => f.endsWith('.ndjson')).length : 0;
      if (n >= 1 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping/);
    // The summary goes to stdout, progress and notes to stderr.
    expect(stdout).toMatch(/interrupted \(SIGINT\): run again to resume/);

    const again = await runSweep(['run', 'breakout.yaml', '--clickhouse-url', url, '--json'], { cwd: dir, timeoutMs: 120_000 });
    expect(again.code).toBe(0);
    const records = readRecords(join(dir, 'out', 'breakout', 'results.ndjson'));
    expect(records).toHaveLength(36);
    expect(new Set(records.map((r) => r.config)).size).toBe(36);
  });

  it('bad input: missing spec (2), unreachable server (2), a template failing on every config (1)', async () => {
    const dir = join(t.dir, 'bad');
    mkdirSync(dir);
    copyExample(dir);
    const missing = await runSweep(['run', 'nope.yaml'], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.yaml: expected a sweep spec \(YAML\) file, found no such file/);

    const unreachable = await runSweep(['run', 'breakout.yaml', '--clickhouse-url', 'http://127.0.0.1:9'], { cwd: dir, timeoutMs: 60_000 });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/--clickhouse-url http:\/\/127\.0\.0\.1:9\/?: expected a ClickHouse server answering, found .*(ECONNREFUSED|refused)/);

    writeFileSync(join(dir, 'broken.sql'), 'SELECT {n:UInt32} AS n FROM table_that_does_not_exist');
    writeFileSync(join(dir, 'broken.yaml'), 'name: broken\ntemplate: broken.sql\nparams:\n  n: [1, 2, 3]\n');
    const url = inject('clickhouseUrl');
    const broken = await runSweep(['run', 'broken.yaml', '--clickhouse-url', url], { cwd: dir, timeoutMs: 60_000 });
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/sweep broken: INCOMPLETE/);
    expect(broken.stdout).toMatch(/n-1: UNKNOWN_TABLE \(60\): .*table_that_does_not_exist/);
    const records = readRecords(join(dir, 'out', 'broken', 'results.ndjson'));
    expect(records.map((r) => [r.status, r.error?.code])).toEqual([
      ['error', 60],
      ['error', 60],
      ['error', 60],
    ]);
  });

  it.skipIf(lacks('pueue'))('with --pueue, runs the units through your local pueue daemon (never starting one); without it, in-process', async () => {
    const pueue = await startPueue();
    try {
      const dir = join(t.dir, 'pueue');
      mkdirSync(dir);
      const url = inject('clickhouseUrl');
      await chQuery(url, 'CREATE DATABASE IF NOT EXISTS sweep_run_pueue');
      copyExample(dir, 'sweep_run_pueue');
      // The user's daemon is found through their own settings: here PUEUE_CONFIG_PATH.
      const env = { ...process.env, PUEUE_CONFIG_PATH: pueue.configPath, PATH: `${process.env['HOME']}/.cargo/bin:${process.env['PATH'] ?? ''}` };
      const res = await runSweep(['run', 'breakout.yaml', '--clickhouse-url', url, '--pueue', '--json'], { cwd: dir, env, timeoutMs: 180_000 });
      expect(res.stderr).toMatch(/units run in your local pueue daemon, group sweep-breakout: 12 queued/);
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toMatchObject({ configs: 36, complete: true, error: 0 });
      const status = await pueue.status();
      const labels = Object.values(status.tasks).map((task) => task.label).sort();
      expect(labels).toHaveLength(12);
      expect(labels.every((l) => typeof l === 'string' && l.startsWith('sweep:breakout:symbol-'))).toBe(true);
      expect(readRecords(join(dir, 'out', 'breakout', 'results.ndjson'))).toHaveLength(36);

      const again = await runSweep(['run', 'breakout.yaml', '--clickhouse-url', url, '--pueue', '--json'], { cwd: dir, env, timeoutMs: 120_000 });
      expect(again.code).toBe(0);
      expect(again.stderr).toMatch(/0 queued, 0 already queued or running, 12 complete/);
      // The daemon answering does not decide anything any more: without --pueue the units run here.
      const tasksBefore = Object.keys((await pueue.status()).tasks).length;
      const inProcess = await runSweep(['run', 'breakout.yaml', '--clickhouse-url', url, '--rerun', 'all', '--json'], { cwd: dir, env, timeoutMs: 120_000 });
      expect(inProcess.code).toBe(0);
      expect(inProcess.stderr).not.toMatch(/pueue daemon/);
      expect(JSON.parse(inProcess.stdout)).toMatchObject({ mode: 'in-process', ran: 36, complete: true });
      expect(Object.keys((await pueue.status()).tasks)).toHaveLength(tasksBefore);
    } finally {
      await pueue.stop();
    }
  });
});
