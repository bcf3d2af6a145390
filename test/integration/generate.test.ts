import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Manifest, UnitIndex } from '../../src/format/manifest.js';
import { runSweep, tempDir } from '../helpers/cli.js';

const TEMPLATE = 'SELECT {symbol:String} AS symbol, {threshold:UInt32} AS threshold, {z:Float64} AS z;\n';
const spec = (thresholds: string, zs = '[1.5, 2]') =>
  `name: demo\ntemplate: q.sql\nparams:\n  symbol: [BTC, ETH]\n  threshold: ${thresholds}\n  z: ${zs}\nunit: [symbol, threshold]\nexclude:\n  - { symbol: ETH, threshold: 250 }\n`;

function listSql(out: string): string[] {
  const root = join(out, 'sql');
  return readdirSync(root)
    .flatMap((u) => readdirSync(join(root, u)).map((f) => `${u}/${f}`))
    .sort();
}

describe('sweep generate', () => {
  let t: { dir: string; cleanup: () => void };
  beforeEach(() => {
    t = tempDir();
    writeFileSync(join(t.dir, 'q.sql'), TEMPLATE);
    writeFileSync(join(t.dir, 'sweep.yaml'), spec('[250, 500]'));
  });
  afterEach(() => t.cleanup());

  it('writes one SQL file per config, the manifest, unit indexes, the spec copy and the worker bundle', async () => {
    const res = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: t.dir });
    expect(res.code).toBe(0);
    const out = join(t.dir, 'out', 'demo');
    expect(JSON.parse(res.stdout)).toEqual({
      configs: 6,
      units: 3,
      written: 6,
      unchanged: 0,
      removed: 0,
      out,
      warnings: [],
      grid: {
        params: { symbol: 2, threshold: 2, z: 2 },
        combinations: 8,
        removed: { exclude: 2, where: 0, sample: 0, limit: 0 },
        links: [],
        per_unit: [
          { unit: 'symbol-BTC__threshold-250', configs: 2 },
          { unit: 'symbol-BTC__threshold-500', configs: 2 },
          { unit: 'symbol-ETH__threshold-500', configs: 2 },
        ],
        first_ids: ['symbol-BTC__threshold-250__z-1.5', 'symbol-BTC__threshold-250__z-2', 'symbol-BTC__threshold-500__z-1.5', 'symbol-BTC__threshold-500__z-2', 'symbol-ETH__threshold-500__z-1.5'],
      },
      values: [],
      limit: null,
      notes: [],
    });
    expect(listSql(out)).toEqual([
      'symbol-BTC__threshold-250/symbol-BTC__threshold-250__z-1.5.sql',
      'symbol-BTC__threshold-250/symbol-BTC__threshold-250__z-2.sql',
      'symbol-BTC__threshold-500/symbol-BTC__threshold-500__z-1.5.sql',
      'symbol-BTC__threshold-500/symbol-BTC__threshold-500__z-2.sql',
      'symbol-ETH__threshold-500/symbol-ETH__threshold-500__z-1.5.sql',
      'symbol-ETH__threshold-500/symbol-ETH__threshold-500__z-2.sql',
    ]);
    const sql = readFileSync(join(out, 'sql/symbol-BTC__threshold-500/symbol-BTC__threshold-500__z-2.sql'), 'utf8');
    expect(sql).toBe("SELECT 'BTC' AS symbol, toUInt32(500) AS threshold, 2.0 AS z;\n");
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.name).toBe('demo');
    expect(manifest.tool_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(manifest.spec_sha256).toBe(createHash('sha256').update(readFileSync(join(t.dir, 'sweep.yaml'))).digest('hex'));
    expect(manifest.configs).toHaveLength(6);
    const c = manifest.configs.find((x) => x.id === 'symbol-BTC__threshold-500__z-2');
    expect(c).toEqual({ id: 'symbol-BTC__threshold-500__z-2', unit: 'symbol-BTC__threshold-500', params: { symbol: 'BTC', threshold: 500, z: 2 }, sql_sha256: createHash('sha256').update(sql).digest('hex') });
    const index = JSON.parse(readFileSync(join(out, 'units', 'symbol-BTC__threshold-500.json'), 'utf8')) as UnitIndex;
    expect(index.configs.map((x) => x.id)).toEqual(['symbol-BTC__threshold-500__z-1.5', 'symbol-BTC__threshold-500__z-2']);
    expect(JSON.parse(readFileSync(join(out, 'spec.json'), 'utf8'))).toMatchObject({ name: 'demo', worker: { concurrency: 16 } });
    expect(statSync(join(out, 'worker.mjs')).size).toBeGreaterThan(10_000);
  });

  it('re-running keeps unchanged files untouched, replaces changed ones and removes configs that left the grid', async () => {
    expect((await runSweep(['generate', 'sweep.yaml'], { cwd: t.dir })).code).toBe(0);
    const out = join(t.dir, 'out', 'demo');
    const keep = join(out, 'sql/symbol-BTC__threshold-250/symbol-BTC__threshold-250__z-1.5.sql');
    const past = new Date('2020-01-01T00:00:00Z');
    for (const f of listSql(out)) utimesSync(join(out, 'sql', f), past, past);
    const manifestBefore = statSync(join(out, 'manifest.json')).mtimeMs;

    const same = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: t.dir });
    expect(JSON.parse(same.stdout)).toMatchObject({ written: 0, unchanged: 6, removed: 0 });
    expect(statSync(keep).mtime.toISOString()).toBe(past.toISOString());
    expect(statSync(join(out, 'manifest.json')).mtimeMs).toBe(manifestBefore);

    // threshold 500 leaves, 750 arrives, and z=2 renders differently (2 -> 2.5)
    writeFileSync(join(t.dir, 'sweep.yaml'), spec('[250, 750]', '[1.5, 2.5]'));
    const changed = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: t.dir });
    expect(changed.code).toBe(0);
    expect(JSON.parse(changed.stdout)).toMatchObject({ configs: 6, units: 3, written: 5, unchanged: 1, removed: 5 });
    expect(statSync(keep).mtime.toISOString()).toBe(past.toISOString());
    expect(listSql(out)).toEqual([
      'symbol-BTC__threshold-250/symbol-BTC__threshold-250__z-1.5.sql',
      'symbol-BTC__threshold-250/symbol-BTC__threshold-250__z-2.5.sql',
      'symbol-BTC__threshold-750/symbol-BTC__threshold-750__z-1.5.sql',
      'symbol-BTC__threshold-750/symbol-BTC__threshold-750__z-2.5.sql',
      'symbol-ETH__threshold-750/symbol-ETH__threshold-750__z-1.5.sql',
      'symbol-ETH__threshold-750/symbol-ETH__threshold-750__z-2.5.sql',
    ]);
    expect(readdirSync(join(out, 'units')).sort()).toEqual(['symbol-BTC__threshold-250.json', 'symbol-BTC__threshold-750.json', 'symbol-ETH__threshold-750.json']);
    expect(existsSync(join(out, '.staging'))).toBe(false);
    expect(existsSync(join(out, '.sweep-generating'))).toBe(false);
  });

  it('after a crash mid-run (marker left behind) compares contents instead of trusting the old manifest', async () => {
    expect((await runSweep(['generate', 'sweep.yaml'], { cwd: t.dir })).code).toBe(0);
    const out = join(t.dir, 'out', 'demo');
    const victim = join(out, 'sql/symbol-BTC__threshold-250/symbol-BTC__threshold-250__z-1.5.sql');
    writeFileSync(victim, 'SELECT half-written');
    writeFileSync(join(out, '.sweep-generating'), '12345\n');
    const res = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: t.dir });
    expect(JSON.parse(res.stdout)).toMatchObject({ written: 1, unchanged: 5 });
    expect(readFileSync(victim, 'utf8')).toBe("SELECT 'BTC' AS symbol, toUInt32(250) AS threshold, 1.5 AS z;\n");
  });

  it('--dry-run counts and writes nothing; results and files outside the sql tree are never touched', async () => {
    const dry = await runSweep(['generate', 'sweep.yaml', '--dry-run', '--json'], { cwd: t.dir });
    expect(JSON.parse(dry.stdout)).toMatchObject({ configs: 6, units: 3, written: 6 });
    expect(existsSync(join(t.dir, 'out'))).toBe(false);

    expect((await runSweep(['generate', 'sweep.yaml'], { cwd: t.dir })).code).toBe(0);
    const out = join(t.dir, 'out', 'demo');
    mkdirSync(join(out, 'results'));
    writeFileSync(join(out, 'results', 'symbol-BTC__threshold-500.ndjson'), '{"v":1}\n');
    writeFileSync(join(t.dir, 'out', 'neighbour.txt'), 'not ours');
    writeFileSync(join(t.dir, 'sweep.yaml'), spec('[250]'));
    const res = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: t.dir });
    expect(JSON.parse(res.stdout)).toMatchObject({ configs: 2, removed: 4 });
    expect(readFileSync(join(out, 'results', 'symbol-BTC__threshold-500.ndjson'), 'utf8')).toBe('{"v":1}\n');
    expect(readFileSync(join(t.dir, 'out', 'neighbour.txt'), 'utf8')).toBe('not ours');
    const dryAgain = await runSweep(['generate', 'sweep.yaml', '--dry-run', '--json'], { cwd: t.dir });
    expect(JSON.parse(dryAgain.stdout)).toMatchObject({ written: 0, unchanged: 2, removed: 0 });
  });

  it('prints a human summary without --json', async () => {
    const res = await runSweep(['generate', 'sweep.yaml', '--out', 'elsewhere'], { cwd: t.dir });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^6 configs in 3 units -> .*elsewhere\nwrote 6, unchanged 0, removed 0\n$/);
  });

  it('warns, and still writes, when a config passes the server\'s max_query_size or a unit holds one config', async () => {
    const dir = join(t.dir, 'warn');
    mkdirSync(dir);
    // A 300 KiB literal in every config: ClickHouse parses 256 KiB of query text by default (code 62 beyond).
    writeFileSync(join(dir, 'q.sql'), `SELECT {a:UInt32} AS a, {b:UInt32} AS b, '${'x'.repeat(300 * 1024)}' AS big`);
    writeFileSync(join(dir, 'sweep.yaml'), 'name: warn\ntemplate: q.sql\nparams:\n  a: [1, 2]\n  b: [1, 2, 3]\nunit: [a, b]\n');
    const res = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: dir });
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/warning: config a-1__b-1: its SQL is 300 KiB, above ClickHouse's default max_query_size of 256 KiB: every such config fails with SYNTAX_ERROR \(62\)/);
    expect(res.stderr).toMatch(/warning: sweep\.yaml: unit: 6 units of 1 config\(s\) each \(it lists every param: one query per pueue task\); pueue is for units \(hundreds of tasks\)/);
    expect((JSON.parse(res.stdout) as { warnings: string[]; written: number }).written).toBe(6);
  });
});
