/**
 * A record names its result shape (column names and types) in
 * results/shapes/<unit>.ndjson. When that file is lost, the records' types are
 * unknown: `run` and `collect` must not say "complete" (they did, and export
 * then guessed the types from the values). Embedded engine: no server needed.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSweep, tempDir } from '../helpers/cli.js';

describe('lost result shapes', () => {
  const t = tempDir('sweep-shapes-');
  afterAll(() => t.cleanup());
  const env = { ...process.env, CLICKHOUSE_URL: '' };

  it('make run and collect incomplete (exit 1, saying why and what to do) until a --fresh run writes them again', async () => {
    writeFileSync(join(t.dir, 'q.sql'), "SELECT CAST({u:UInt8}, if({u:UInt8} = 1, 'UInt64', 'String')) AS v\n");
    writeFileSync(join(t.dir, 'sweep.yaml'), 'name: sh\ntemplate: q.sql\nparams:\n  u: [1, 2]\n');
    const first = await runSweep(['run', 'sweep.yaml', '--quiet'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(first.code).toBe(0);
    rmSync(join(t.dir, 'out', 'sh', 'results', 'shapes', 'all.ndjson'));
    const again = await runSweep(['run', 'sweep.yaml', '--json'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(again.code).toBe(1);
    const summary = JSON.parse(again.stdout) as { complete: boolean; ok: number; missing_shapes: string[] };
    expect(summary).toMatchObject({ complete: false, ok: 2 });
    expect(summary.missing_shapes).toHaveLength(2);
    const collect = await runSweep(['collect', 'sweep.yaml'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(collect.code).toBe(1);
    expect(collect.stderr).toMatch(/incomplete: 0 config\(s\) missing, 0 in error, 2 result shape\(s\) in no shapes file/);
    expect(collect.stdout).toMatch(/all: 2 result shape\(s\) named by its records are in no shapes file/);
    const fresh = await runSweep(['run', 'sweep.yaml', '--fresh', '--json'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(fresh.code).toBe(0);
    expect(JSON.parse(fresh.stdout)).toMatchObject({ complete: true, missing_shapes: [] });
  });
});
