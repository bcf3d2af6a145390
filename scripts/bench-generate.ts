/**
 * `npm run bench -- generate [--configs N] [--rounds R]`: generate 300,000
 * configs in 1,000 units, next to a baseline measured in the same run: plain
 * writeFileSync of the same number of equal-sized files into as many
 * directories. Each measurement runs in a fresh child process (peak RSS is that
 * child's), rounds alternate between the two, and the best round of each counts.
 * Goals: <= 1.5x the baseline's wall time and < 500 MB peak RSS.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Measure {
  ms: number;
  maxRssMb: number;
  detail?: unknown;
}

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');

function child(code: string): Measure {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop() as string) as Measure;
}

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

export async function run(args: string[]): Promise<void> {
  const configs = flag(args, '--configs', 300_000);
  const rounds = flag(args, '--rounds', 2);
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
    const sizeProbe = child(`
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

    const best = { base: [] as Measure[], gen: [] as Measure[], rerun: [] as Measure[] };
    for (let r = 0; r < rounds; r++) {
      const b = join(root, `base-${r}`);
      const g = join(root, `gen-${r}`);
      mkdirSync(b);
      best.base.push(child(baseline(b)));
      best.gen.push(child(generate(g)));
      best.rerun.push(child(generate(g)));
      rmSync(b, { recursive: true, force: true });
      rmSync(g, { recursive: true, force: true });
    }
    const min = (xs: Measure[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
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
