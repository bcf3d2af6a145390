/**
 * `npm run bench -- generate [--configs N] [--rounds R] [--only files|grids] [--dir DIR]`:
 *
 * files: generate 300,000 configs in 1,000 units, next to a baseline measured
 * in the same run: plain writeFileSync of the same number of equal-sized files
 * into as many directories. Goals: <= 1.5x the baseline's wall time and
 * < 500 MB peak RSS.
 *
 * grids (issue 11): a 300,000-config grid built from ranges, date epochs, a
 * `where` and a `sample` (480,000 combinations, where then sample cut them to
 * 300,000), next to the same-sized grid written as literal lists (start and
 * end dates as two linked lists), same units, same template size. Goal: <= 1.1x.
 *
 * Each measurement runs in a fresh child process (peak RSS is that child's),
 * rounds alternate between the sides, and the best round of each counts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flagNumber, type ChildMeasure, measureChild } from './bench-common.js';

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');

export async function run(args: string[]): Promise<void> {
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  if (only !== 'grids') await benchFiles(args);
  if (only !== 'files') await benchGrids(args);
}

async function benchFiles(args: string[]): Promise<void> {
  const configs = flagNumber(args, '--configs', 300_000);
  const rounds = flagNumber(args, '--rounds', 2);
  const units = Math.max(1, Math.round(configs / 300));
  const perUnit = Math.round(configs / units);
  const root = mkdtempSync(join(tmpdir(), 'sweep-bench-gen-'));
  try {
    // units = a (units/10 values) x b (10 values); configs per unit = c (perUnit/10) x d (10)
    const list = (n: number, f: (i: number) => string | number) => `[${Array.from({ length: n }, (_, i) => JSON.stringify(f(i))).join(', ')}]`;
    writeFileSync(
      join(root, 'sweep.yaml'),
      `name: bench\ntemplate: q.sql\nparams:\n  symbol: ${list(Math.max(1, units / 10), (i) => `SYM${i}USDT`)}\n  threshold: ${list(10, (i) => (i + 1) * 50)}\n  lookback: ${list(Math.max(1, perUnit / 10), (i) => i + 5)}\n  z: ${list(10, (i) => 1 + i / 4)}\nunit: [symbol, threshold]\n`,
    );
    writeFileSync(
      join(root, 'q.sql'),
      `-- a realistic template: ~700 bytes once rendered
SELECT {symbol:String} AS symbol, horizon, count() AS signals, avg(fwd) AS avg_fwd, countIf(fwd > 0) / count() AS hit_rate
FROM (
  SELECT arrayJoin([5, 20, 60]) AS horizon,
         arrayJoin(arrayFilter(i -> i > {lookback:UInt32} AND closes[i] > arrayReduce('max', arraySlice(closes, i - {lookback:UInt32}, {lookback:UInt32})) * (1 + {threshold:UInt32} / 10000), arrayEnumerate(closes))) AS i,
         closes[i + horizon] / closes[i] - 1 AS fwd,
         abs(fwd) > {z:Float64} * 0.01 AS big
  FROM (SELECT groupArray(close) AS closes FROM (SELECT close FROM bars WHERE symbol = {symbol:String} ORDER BY ts))
)
GROUP BY horizon ORDER BY horizon
`,
    );
    const genModule = join(distRoot, 'src', 'generate', 'generate.js');
    const sizeProbe = measureChild(`
      const m = await import(${JSON.stringify(genModule)});
      const p = await m.prepareSweep('sweep.yaml', ${JSON.stringify(root)});
      const c = p.grid.units[0].configs[0];
      console.log(JSON.stringify({ ms: 0, maxRssMb: 0, detail: Buffer.byteLength(p.renderer.render(c.params)) }));
    `);
    const fileSize = sizeProbe.detail as number;

    const baseline = (dir: string) => `
      import { mkdirSync, writeFileSync } from 'node:fs';
      const t0 = performance.now();
      const body = 'x'.repeat(${fileSize - 1}) + '\\n';
      for (let u = 0; u < ${units}; u++) {
        const d = ${JSON.stringify(dir)} + '/sql/unit-' + u;
        mkdirSync(d, { recursive: true });
        for (let c = 0; c < ${perUnit}; c++) writeFileSync(d + '/config-' + u + '-' + c + '.sql', body);
      }
      console.log(JSON.stringify({ ms: performance.now() - t0, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
    `;
    const generate = (dir: string) => `
      const m = await import(${JSON.stringify(genModule)});
      const t0 = performance.now();
      const s = await m.generate({ specPath: 'sweep.yaml', cwd: ${JSON.stringify(root)}, outDir: ${JSON.stringify(dir)}, withWorker: false });
      console.log(JSON.stringify({ ms: performance.now() - t0, maxRssMb: process.resourceUsage().maxRSS / 1024, detail: s }));
    `;

    const best = { base: [] as ChildMeasure[], gen: [] as ChildMeasure[], rerun: [] as ChildMeasure[] };
    for (let r = 0; r < rounds; r++) {
      const b = join(root, `base-${r}`);
      const g = join(root, `gen-${r}`);
      mkdirSync(b);
      best.base.push(measureChild(baseline(b)));
      best.gen.push(measureChild(generate(g)));
      best.rerun.push(measureChild(generate(g)));
      rmSync(b, { recursive: true, force: true });
      rmSync(g, { recursive: true, force: true });
    }
    const min = (xs: ChildMeasure[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const base = min(best.base);
    const gen = min(best.gen);
    const rerun = min(best.rerun);
    const summary = gen.detail as { configs: number; units: number; written: number };
    const ratio = gen.ms / base.ms;
    const lines = [
      `bench generate: ${summary.configs} configs in ${summary.units} units, ${fileSize}-byte files, best of ${rounds} alternating rounds`,
      `  baseline (plain writeFileSync, same files)   ${(base.ms / 1000).toFixed(2)} s   peak RSS ${base.maxRssMb.toFixed(0)} MB`,
      `  sweep generate (fresh out dir)              ${(gen.ms / 1000).toFixed(2)} s   peak RSS ${gen.maxRssMb.toFixed(0)} MB`,
      `  sweep generate (re-run, nothing changed)    ${(rerun.ms / 1000).toFixed(2)} s   peak RSS ${rerun.maxRssMb.toFixed(0)} MB`,
      `  ratio generate / baseline: ${ratio.toFixed(2)}x (goal <= 1.5x: ${ratio <= 1.5 ? 'met' : 'NOT met'}); peak RSS goal < 500 MB: ${gen.maxRssMb < 500 ? 'met' : 'NOT met'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The issue-11 comparison: the rich grid against the same-sized grid as literal lists. */
async function benchGrids(args: string[]): Promise<void> {
  const rounds = flagNumber(args, '--rounds', 2);
  // --dir /dev/shm keeps a busy disk (other jobs' writes) out of a comparison of two grids whose writes are the same.
  const base = args.includes('--dir') ? (args[args.indexOf('--dir') + 1] as string) : tmpdir();
  const root = mkdtempSync(join(base, 'sweep-bench-grids-'));
  try {
    const list = (values: Array<string | number>) => `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
    const symbols = Array.from({ length: 100 }, (_, i) => `SYM${i}USDT`);
    const template = (start: string, end: string) => `-- a realistic template: ~750 bytes once rendered
SELECT {symbol:String} AS symbol, horizon, count() AS signals, avg(fwd) AS avg_fwd, countIf(fwd > 0) / count() AS hit_rate
FROM (
  SELECT arrayJoin([5, 20, 60]) AS horizon,
         arrayJoin(arrayFilter(i -> i > {lookback:UInt32} AND closes[i] > arrayReduce('max', arraySlice(closes, i - {lookback:UInt32}, {lookback:UInt32})) * (1 + {threshold:UInt32} / 10000), arrayEnumerate(closes))) AS i,
         closes[i + horizon] / closes[i] - 1 AS fwd,
         abs(fwd) > {z:Float64} * 0.01 AS big
  FROM (SELECT groupArray(close) AS closes FROM (SELECT close FROM bars WHERE symbol = {symbol:String} AND toDate(ts) BETWEEN {${start}:Date} AND {${end}:Date} ORDER BY ts))
)
GROUP BY horizon ORDER BY horizon
`;
    // Rich: 100 x 10 x 6 x 8 x 10 = 480,000 combinations; where drops some, sample keeps 300,000.
    mkdirSync(join(root, 'rich'));
    writeFileSync(
      join(root, 'rich', 'sweep.yaml'),
      `name: bench\ntemplate: q.sql\nparams:\n  symbol: ${list(symbols)}\n  threshold: {from: 50, to: 500, step: 50}\n` +
        `  period: {from: 2019-03-14, to: 2024-11-29, every: year}\n  lookback: {from: 10, to: 80, step: 10}\n  z: {from: 0.25, to: 2.5, step: 0.25}\n` +
        `unit: [symbol, threshold]\nwhere: "lookback <= threshold or z < 1.5"\nsample: {n: 300000, seed: 7}\n`,
    );
    writeFileSync(join(root, 'rich', 'q.sql'), template('period.start', 'period.end'));
    // Literal: 100 x 10 units of 6 (linked start/end) x 5 x 10 = 300 configs each.
    mkdirSync(join(root, 'literal'));
    const starts = ['2019-03-14', '2020-01-01', '2021-01-01', '2022-01-01', '2023-01-01', '2024-01-01'];
    const ends = ['2019-12-31', '2020-12-31', '2021-12-31', '2022-12-31', '2023-12-31', '2024-11-29'];
    writeFileSync(
      join(root, 'literal', 'sweep.yaml'),
      `name: bench\ntemplate: q.sql\nparams:\n  symbol: ${list(symbols)}\n  threshold: ${list(Array.from({ length: 10 }, (_, i) => (i + 1) * 50))}\n` +
        `  period_start: ${list(starts)}\n  period_end: ${list(ends)}\n  lookback: ${list([10, 20, 30, 40, 50])}\n` +
        `  z: ${list(Array.from({ length: 10 }, (_, i) => (i + 1) / 4))}\nunit: [symbol, threshold]\nlink: [[period_start, period_end]]\n`,
    );
    writeFileSync(join(root, 'literal', 'q.sql'), template('period_start', 'period_end'));

    const genModule = join(distRoot, 'src', 'generate', 'generate.js');
    const generate = (side: string, dir: string) => `
      const m = await import(${JSON.stringify(genModule)});
      const cwd = ${JSON.stringify(join(root, side))};
      const outDir = ${JSON.stringify(dir)};
      const t0 = performance.now();
      // What sweep run does: prepare (spec, values, grid, type checks), then write.
      const prepared = await m.prepareSweep('sweep.yaml', cwd, { outDir });
      const prepareMs = performance.now() - t0;
      const s = await m.generate({ specPath: 'sweep.yaml', cwd, outDir, withWorker: false, prepared });
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage();
      console.log(JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024, detail: { prepareMs, configs: s.configs, units: s.units, userS: cpu.user / 1e6, sysS: cpu.system / 1e6, grid: { combinations: s.grid.combinations, removed: s.grid.removed } } }));
    `;
    // Each run's output is deleted and the disk synced before the next run starts: otherwise the
    // previous run's writeback and the discards of its deleted files (ext4 online discard) land
    // inside the next measurement, which then measures the order of the runs, not the grid.
    const results = { rich: [] as ChildMeasure[], literal: [] as ChildMeasure[] };
    for (let r = 0; r < rounds; r++) {
      for (const side of r % 2 === 0 ? (['literal', 'rich'] as const) : (['rich', 'literal'] as const)) {
        const out = join(root, `${side}-out-${r}`);
        execFileSync('sync');
        results[side].push(measureChild(generate(side, out)));
        rmSync(out, { recursive: true, force: true });
      }
    }
    const min = (xs: ChildMeasure[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const rich = min(results.rich);
    const literal = min(results.literal);
    const rd = rich.detail as { prepareMs: number; configs: number; units: number; userS: number; sysS: number; grid: { combinations: number; removed: Record<string, number> } };
    const ld = literal.detail as { prepareMs: number; configs: number; units: number; userS: number; sysS: number };
    const minPrepare = (xs: ChildMeasure[]) => Math.min(...xs.map((x) => (x.detail as { prepareMs: number }).prepareMs));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const extra = minPrepare(results.rich) - minPrepare(results.literal);
    const ratio = rich.ms / literal.ms;
    const removed = Object.entries(rd.grid.removed)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n.toLocaleString('en-US')} by ${k}`)
      .join(', ');
    const lines = [
      `bench generate (grids): best of ${rounds} alternating rounds (wall = prepare + write)`,
      `  literal lists: ${ld.configs.toLocaleString('en-US')} configs in ${ld.units} units`,
      `    ${(literal.ms / 1000).toFixed(2)} s wall (prepare ${(minPrepare(results.literal) / 1000).toFixed(2)} s), CPU ${ld.userS.toFixed(2)} s user + ${ld.sysS.toFixed(2)} s system, peak RSS ${literal.maxRssMb.toFixed(0)} MB (all rounds: ${results.literal.map((m) => (m.ms / 1000).toFixed(2)).join(', ')} s)`,
      `  ranges + epochs + where + sample: ${rd.grid.combinations.toLocaleString('en-US')} combinations, ${removed} -> ${rd.configs.toLocaleString('en-US')} configs in ${rd.units} units`,
      `    ${(rich.ms / 1000).toFixed(2)} s wall (prepare ${(minPrepare(results.rich) / 1000).toFixed(2)} s), CPU ${rd.userS.toFixed(2)} s user + ${rd.sysS.toFixed(2)} s system, peak RSS ${rich.maxRssMb.toFixed(0)} MB (all rounds: ${results.rich.map((m) => (m.ms / 1000).toFixed(2)).join(', ')} s)`,
      `  ratio rich / literal (best wall times): ${ratio.toFixed(3)}x (goal <= 1.1x: ${ratio <= 1.1 ? 'met' : 'NOT met'}); medians ${(median(results.rich.map((x) => x.ms)) / median(results.literal.map((x) => x.ms))).toFixed(3)}x; user CPU ${(rd.userS / ld.userS).toFixed(3)}x`,
      `  what the grid features add (best prepare, rich - literal): ${(extra / 1000).toFixed(2)} s = ${((100 * extra) / literal.ms).toFixed(1)}% of the literal generate`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
