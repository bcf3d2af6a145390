/**
 * `npm run bench -- export [--configs N] [--rounds R] [--clickhouse-url URL]`:
 * `sweep export` of a synthetic finished sweep of 300,000 configs (900,000
 * result rows; scripts/bench-results-fixture.ts) to CSV and Parquet, and with
 * a server URL (or env CLICKHOUSE_URL) into a ClickHouse table, next to the
 * same baseline as the report bench (reading and parsing every record). Each
 * measurement runs in a fresh child process; the best round counts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASELINE_CODE, buildFixture } from './bench-results-fixture.js';
import { flagText, type ChildMeasure, measureChild } from './bench-common.js';

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');

export async function run(args: string[]): Promise<void> {
  const configs = Number(flagText(args, '--configs', '300000'));
  const rounds = Number(flagText(args, '--rounds', '2'));
  const url = flagText(args, '--clickhouse-url', process.env['CLICKHOUSE_URL'] ?? '');
  const root = mkdtempSync(join(tmpdir(), 'sweep-bench-export-'));
  try {
    const fx = buildFixture(root, configs);
    process.stderr.write(`fixture: ${fx.configs} configs in ${fx.units} units, ${(fx.bytes / 1e6).toFixed(0)} MB of records\n`);
    const exportCode = (extra: string[]) => `
      const t0 = performance.now();
      const { runCli } = await import(${JSON.stringify(join(distRoot, 'src', 'cli', 'main.js'))});
      const out = [];
      const code = await runCli(['export', ${JSON.stringify(fx.specPath)}, '--out', ${JSON.stringify(fx.outDir)}, '--json', ...${JSON.stringify(extra)}], { stdout: (t) => out.push(t), stderr: () => {} });
      if (code !== 0) process.exit(code);
      const cpu = process.cpuUsage();
      console.log(JSON.stringify({ ms: performance.now() - t0, maxRssMb: process.resourceUsage().maxRSS / 1024, cpuS: (cpu.user + cpu.system) / 1e6, detail: JSON.parse(out.join('')) }));
    `;
    const cases: Array<{ label: string; args: string[]; file?: string }> = [
      { label: 'sweep export --format csv', args: ['--format', 'csv', '--to', join(root, 'rows.csv')], file: join(root, 'rows.csv') },
      { label: 'sweep export --format parquet', args: ['--format', 'parquet', '--to', join(root, 'rows.parquet')], file: join(root, 'rows.parquet') },
    ];
    if (url) {
      execFileSync('curl', ['-sS', '--fail', url, '--data-binary', 'CREATE DATABASE IF NOT EXISTS sweep_bench']);
      cases.push({ label: 'sweep export --to-clickhouse', args: ['--to-clickhouse', 'sweep_bench.rows', '--clickhouse-url', url] });
    }
    const base: ChildMeasure[] = [];
    const runs = cases.map(() => [] as ChildMeasure[]);
    for (let r = 0; r < rounds; r++) {
      base.push(measureChild(BASELINE_CODE(fx.outDir)));
      cases.forEach((c, i) => runs[i]?.push(measureChild(exportCode(c.args))));
    }
    const min = (xs: ChildMeasure[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const b = min(base);
    const lines = [
      `bench export: ${fx.configs} configs in ${fx.units} units (${(fx.bytes / 1e6).toFixed(0)} MB of records), best of ${rounds} alternating rounds; ${cpus().length} cores, load average ${(loadavg()[0] ?? 0).toFixed(1)}`,
      `  baseline (read + JSON.parse every record)   ${(b.ms / 1000).toFixed(2)} s   peak RSS ${b.maxRssMb.toFixed(0)} MB`,
    ];
    cases.forEach((c, i) => {
      const m = min(runs[i] as ChildMeasure[]);
      const rows = (m.detail as { rows: number }).rows;
      const size = c.file ? `, ${(statSync(c.file).size / 1e6).toFixed(0)} MB` : '';
      lines.push(`  ${c.label.padEnd(42)}  ${(m.ms / 1000).toFixed(2)} s   peak RSS ${m.maxRssMb.toFixed(0)} MB   CPU ${(m.cpuS ?? 0).toFixed(2)} s   (${rows} rows${size}; ${(m.ms / b.ms).toFixed(1)}x the baseline)`);
    });
    if (!url) lines.push('  (--clickhouse-url URL or env CLICKHOUSE_URL adds the --to-clickhouse case)');
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
