/**
 * dist/worker.mjs, the file every pueue task runs, stays lean: the worker's
 * commands only, none of the CLI's heavy dependencies (a unit starts 1,000 times
 * a sweep; `npm run bench -- worker` measures the start). `npm test` builds it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';

const BUNDLE = join(REPO_ROOT, 'dist', 'worker.mjs');

describe('the worker bundle', () => {
  it('holds none of the CLI-only dependencies (commander, zod, yaml, execa, @clickhouse/client, charts)', () => {
    const text = readFileSync(BUNDLE, 'utf8');
    for (const dep of ['node_modules/commander', 'node_modules/zod', 'node_modules/yaml', 'node_modules/execa', 'node_modules/@clickhouse', 'node_modules/vega', 'node_modules/mathjs', 'node_modules/log-update', 'node_modules/cli-table3']) {
      expect(text.includes(dep), dep).toBe(false);
    }
    // chDB is loaded only when the embedded engine runs, never bundled.
    expect(text).toMatch(/import\(["']chdb["']\)/);
    expect(text.length).toBeLessThan(400_000);
  });

  it('answers --version and refuses what it does not run, with exit 2', () => {
    expect(execFileSync(process.execPath, [BUNDLE, '--version'], { encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+$/);
    let code = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, [BUNDLE, 'generate', 'x.yaml'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      code = (err as { status: number }).status;
      stderr = String((err as { stderr: string }).stderr);
    }
    expect(code).toBe(2);
    expect(stderr).toMatch(/expected run-unit or setup-target \(this is the worker bundle; the whole CLI is 'sweep'\), found "generate"/);
  });
});
