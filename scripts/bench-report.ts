/**
 * `npm run bench -- report [--configs N] [--rounds R]`: `sweep report` on a
 * synthetic finished sweep of 300,000 configs (scripts/bench-results-fixture.ts),
 * next to a baseline measured in the same run: reading and JSON.parse-ing every
 * record, the floor any report over the records stands on. Each measurement
 * runs in a fresh child process (wall time from the command's start to the
 * file written, peak RSS that child's); the best round counts.
 * Goal: the report written in under 5 s.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASELINE_CODE, buildFixture } from './bench-results-fixture.js';
import { flagNumber, type ChildMeasure, measureChild } from './bench-common.js';

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');

export async function run(args: string[]): Promise<void> {
  const configs = flagNumber(args, '--configs', 300_000);
  const rounds = flagNumber(args, '--rounds', 2);
  const root = mkdtempSync(join(tmpdir(), 'sweep-bench-report-'));
  try {
    const t0 = performance.now();
    const fx = buildFixture(root, configs);
    process.stderr.write(`fixture: ${fx.configs} configs in ${fx.units} units, ${(fx.bytes / 1e6).toFixed(0)} MB of records, built in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    const report = join(root, 'report.html');
    // The command as the CLI runs it, module loading included.
    const code = `
      const t0 = performance.now();
      const { runCli } = await import(${JSON.stringify(join(distRoot, 'src', 'cli', 'main.js'))});
      const out = [];
      const code = await runCli(['report', ${JSON.stringify(fx.specPath)}, '--dir', ${JSON.stringify(fx.outDir)}, '--out', ${JSON.stringify(report)}, '--json'], { stdout: (t) => out.push(t), stderr: (t) => process.stderr.write(t) });
      if (code !== 0) process.exit(code);
      const cpu = process.cpuUsage();
      console.log(JSON.stringify({ ms: performance.now() - t0, maxRssMb: process.resourceUsage().maxRSS / 1024, cpuS: (cpu.user + cpu.system) / 1e6, detail: JSON.parse(out.join('')) }));
    `;
    const base: ChildMeasure[] = [];
    const rep: ChildMeasure[] = [];
    for (let r = 0; r < rounds; r++) {
      base.push(measureChild(BASELINE_CODE(fx.outDir)));
      rep.push(measureChild(code));
    }
    const min = (xs: ChildMeasure[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const b = min(base);
    const m = min(rep);
    const d = m.detail as { charts: number; with_value: number; bytes: number; phases_s: Record<string, number> };
    const load = loadavg()[0] ?? 0;
    const lines = [
      `bench report: ${fx.configs} configs in ${fx.units} units (${(fx.bytes / 1e6).toFixed(0)} MB of records), best of ${rounds} alternating rounds; ${cpus().length} cores, load average ${load.toFixed(1)}`,
      `  baseline (read + JSON.parse every record)   ${(b.ms / 1000).toFixed(2)} s   peak RSS ${b.maxRssMb.toFixed(0)} MB`,
      `  sweep report                                ${(m.ms / 1000).toFixed(2)} s   peak RSS ${m.maxRssMb.toFixed(0)} MB   CPU ${(m.cpuS ?? 0).toFixed(2)} s   (${d.charts} charts, ${d.with_value} configs plotted, ${(statSync(report).size / 1024).toFixed(0)} KiB of HTML)`,
      `    phases: ${Object.entries(d.phases_s).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')} (+ process start and module loading)`,
      `  ratio report / baseline: ${(m.ms / b.ms).toFixed(2)}x; goal under 5 s: ${m.ms < 5000 ? 'met' : 'NOT met'}${load > cpus().length ? ' (on a machine busy with other work: compare with the baseline)' : ''}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
