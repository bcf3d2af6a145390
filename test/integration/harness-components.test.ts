/**
 * What `npm test` does on a machine that lacks a component, tried by running
 * vitest itself on one test file with the component withheld
 * (SWEEP_TEST_WITHOUT): without CI the tests that need it are skipped with a
 * message saying what is missing and how to install it, and the run ends with
 * the count of skipped tests; with CI=true the same run fails.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { lacks } from '../harness/components.js';
import { REPO_ROOT } from '../helpers/cli.js';

const VITEST = join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs');

function runVitest(files: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const base: NodeJS.ProcessEnv = { ...process.env };
    delete base['CI'];
    delete base['CLICKHOUSE_URL'];
    delete base['VITEST'];
    delete base['VITEST_POOL_ID'];
    delete base['VITEST_WORKER_ID'];
    delete base['NODE_ENV'];
    const child = spawn(process.execPath, [VITEST, 'run', ...files], { cwd: REPO_ROOT, env: { ...base, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('a missing component', () => {
  it('is skipped with what is missing and how to install it, and the count of skipped tests ends the run', async () => {
    const res = await runVitest(['test/integration/harness-pueue.test.ts', 'test/integration/harness-clickhouse.test.ts'], { SWEEP_TEST_WITHOUT: 'clickhouse,pueue' });
    expect(res.code, res.output).toBe(0);
    expect(res.output).toMatch(/skipping the tests that need pueue: withheld by SWEEP_TEST_WITHOUT=clickhouse,pueue; install: cargo install --locked pueue/);
    expect(res.output).toMatch(/skipping the tests that need clickhouse: .*install: set CLICKHOUSE_URL, run a Docker engine, or install a server \(Debian: apt-get install clickhouse-server\)/);
    expect(res.output).toMatch(/7 test\(s\) skipped; components missing on this machine:\n {2}clickhouse: .*\n {2}pueue: /);
    expect(res.output.trimEnd().split('\n').at(-1)).toBe('0 passed, 0 failed, 7 skipped');
  });

  it('fails the run under CI=true: a missing server stops it in the global setup', async () => {
    const res = await runVitest(['test/integration/harness-clickhouse.test.ts'], { CI: 'true', SWEEP_TEST_WITHOUT: 'clickhouse' });
    expect(res.code).not.toBe(0);
    expect(res.output).toMatch(/withheld by SWEEP_TEST_WITHOUT=clickhouse; install: set CLICKHOUSE_URL/);
  });

  it.skipIf(lacks('clickhouse'))('fails the run under CI=true: a missing program fails the files that need it', async () => {
    const res = await runVitest(['test/integration/harness-pueue.test.ts'], { CI: 'true', SWEEP_TEST_WITHOUT: 'pueue', CLICKHOUSE_URL: inject('clickhouseUrl') });
    expect(res.code).not.toBe(0);
    expect(res.output).toMatch(/CI=true, and a component these tests need is missing: pueue: withheld by SWEEP_TEST_WITHOUT=pueue; install: cargo install --locked pueue/);
    expect(res.output.trimEnd().split('\n').at(-1)).toMatch(/^0 passed, [1-9]\d* failed, 0 skipped$/);
  });
});
