/**
 * `npm run bench -- demo [--rounds N] [--jobs N]`: the example sweep on the
 * embedded engine, queries per second through the `sweep` launcher (which
 * sizes libuv's thread pool for jobs x concurrency before Node starts it)
 * against the plain ESM entry (the pool's default 4 threads), in turn, same run.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flagNumber } from './bench-common.js';

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');
const pkgRoot = resolve(distRoot, '..');

export async function run(args: string[]): Promise<void> {
  const rounds = flagNumber(args, '--rounds', 3);
  const jobs = flagNumber(args, '--jobs', 4);
  const entries = { launcher: join(distRoot, 'src', 'cli', 'launch.cjs'), 'plain ESM entry': join(distRoot, 'src', 'cli', 'bin.js') };
  const rates: Record<string, number[]> = { launcher: [], 'plain ESM entry': [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, entry] of r % 2 ? Object.entries(entries).reverse() : Object.entries(entries)) {
      const dir = mkdtempSync(join(tmpdir(), 'sweep-bench-demo-'));
      try {
        for (const f of ['breakout.yaml', 'breakout.sql', 'breakout-setup.sql']) cpSync(join(pkgRoot, 'sql', f), join(dir, f));
        const env: NodeJS.ProcessEnv = { ...process.env, CLICKHOUSE_URL: '' };
        delete env['UV_THREADPOOL_SIZE'];
        const res = spawnSync(process.execPath, [entry, 'run', 'breakout.yaml', '--jobs', String(jobs), '--json'], { cwd: dir, env, encoding: 'utf8' });
        if (res.status !== 0) throw new Error(`${name}: sweep run failed (${res.status}): ${res.stderr.slice(-1000)}`);
        const s = JSON.parse(res.stdout) as { queries_per_s: number; wall_s: number };
        rates[name]?.push(s.queries_per_s);
        process.stderr.write(`round ${r + 1} ${name}: ${s.queries_per_s} queries/s (${s.wall_s} s)\n`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const a = median(rates['launcher'] ?? []);
  const b = median(rates['plain ESM entry'] ?? []);
  process.stdout.write(`demo (36 configs, embedded, --jobs ${jobs}): ${a.toFixed(1)} queries/s through the launcher, ${b.toFixed(1)} with the default 4 pool threads (${(a / b).toFixed(2)}x)\n`);
}
