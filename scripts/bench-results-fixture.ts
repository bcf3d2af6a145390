/**
 * A synthetic finished sweep for the report and export benches: the files
 * `sweep generate`, the worker and collect leave (spec, template, manifest
 * head, units/<unit>.json, results/<unit>.ndjson of v2 records made by
 * makeRecord with results/shapes/<unit>.ndjson, and the merged results.ndjson
 * and shapes.ndjson), without SQL files or a single query.
 *
 * The grid is the example sweep's, scaled up: symbol (10) x threshold (10)
 * units, lookback (30) x z (N / 3,000) configs per unit; each config returns
 * three rows (horizons 5, 20, 60) with a UInt64 count and two Float64 metrics,
 * 2% of configs skipped (no rows) and 0.5% in error, like a real sweep's.
 */
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRecord } from '../src/results/record.js';

export interface Fixture {
  specPath: string;
  outDir: string;
  configs: number;
  units: number;
  bytes: number;
}

const SHAPE = {
  shape: 'b0b0b0b0b0b0b0b0',
  columns: [
    { name: 'symbol', type: 'String' },
    { name: 'horizon', type: 'UInt8' },
    { name: 'signals', type: 'UInt64' },
    { name: 'avg_fwd_return', type: 'Float64' },
    { name: 'hit_rate', type: 'Float64' },
  ],
};

export function buildFixture(root: string, configs: number): Fixture {
  const symbols = Array.from({ length: 10 }, (_, i) => `SYM${i}USDT`);
  const thresholds = Array.from({ length: 10 }, (_, i) => (i + 1) * 25);
  const lookbacks = Array.from({ length: 30 }, (_, i) => 5 + i * 5);
  const zs = Array.from({ length: Math.max(1, Math.round(configs / 3000)) }, (_, i) => Number((0.5 + i * 0.05).toFixed(2)));
  writeFileSync(
    join(root, 'sweep.yaml'),
    `name: bench\ntemplate: q.sql\nparams:\n  symbol: ${JSON.stringify(symbols)}\n  threshold: ${JSON.stringify(thresholds)}\n  lookback: ${JSON.stringify(lookbacks)}\n  z: ${JSON.stringify(zs)}\nunit: [symbol, threshold]\nreport:\n  metric: avg_fwd_return\n  filter: horizon = 20\n`,
  );
  writeFileSync(
    join(root, 'q.sql'),
    'SELECT {symbol:String} AS symbol, horizon, count() AS signals, avg(r) AS avg_fwd_return, avg(r > 0) AS hit_rate\nFROM bars WHERE lookback = {lookback:UInt32} AND threshold = {threshold:UInt32} AND z = {z:Float64} GROUP BY horizon\n',
  );
  const outDir = join(root, 'out', 'bench');
  for (const d of ['units', 'results/shapes']) mkdirSync(join(outDir, d), { recursive: true });
  const units: Array<{ id: string; params: Record<string, string | number>; configs: number }> = [];
  let total = 0;
  let bytes = 0;
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const started = Date.parse('2026-11-01T00:00:00Z');
  for (const symbol of symbols) {
    for (const threshold of thresholds) {
      const unit = `symbol-${symbol}__threshold-${threshold}`;
      const index: Array<{ id: string; params: Record<string, string | number>; sql_sha256: string }> = [];
      const lines: string[] = [];
      for (const lookback of lookbacks) {
        for (const z of zs) {
          const id = `${unit}__lookback-${lookback}__z-${z}`;
          const params = { symbol, threshold, lookback, z };
          const sha = (total % 16).toString(16).repeat(64);
          index.push({ id, params, sql_sha256: sha });
          const roll = rand();
          const status = roll < 0.005 ? 'error' : roll < 0.025 ? 'skipped' : 'ok';
          // A smooth surface with noise: best near lookback 30, threshold 100, z 1.0.
          const base = 0.02 - ((lookback - 30) / 150) ** 2 * 0.01 - ((threshold - 100) / 250) ** 2 * 0.01 - (z - 1) ** 2 * 0.004;
          const rows =
            status === 'ok'
              ? [5, 20, 60].map((horizon) => ({
                  symbol,
                  horizon,
                  signals: String(Math.floor(50 + rand() * 2000)),
                  avg_fwd_return: Number((base * (horizon / 20) ** 0.5 + (rand() - 0.5) * 0.004).toFixed(6)),
                  hit_rate: Number((0.45 + rand() * 0.3).toFixed(4)),
                }))
              : [];
          const t = started + total * 40;
          const record = makeRecord({
            config: id,
            status,
            sql_sha256: sha,
            target: 'http://bigblack:8123/default',
            setup: 'aaaaaaaaaaaa-20261101T000000-0001',
            sweep: 'bench',
            unit,
            params,
            shape: status === 'ok' ? SHAPE.shape : null,
            rows,
            rows_read: 180_000,
            bytes_read: 1_440_000,
            elapsed_ms: Number((20 + rand() * rand() * 400).toFixed(3)),
            attempts: 1,
            query_id: `bench:${unit}:00000000:${lookback}-${z}:1`,
            max_threads: 4,
            engine: 'http 25.8.1.1',
            host: 'bigblack',
            worker: '0.1.0',
            started_at: new Date(t).toISOString(),
            finished_at: new Date(t + 35).toISOString(),
          });
          if (status === 'error') record.error = { code: 241, name: 'MEMORY_LIMIT_EXCEEDED', message: 'Memory limit (for query) exceeded: would use 9.31 GiB' };
          lines.push(JSON.stringify(record));
          total++;
        }
      }
      index.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      writeFileSync(join(outDir, 'units', `${unit}.json`), JSON.stringify({ v: 1, sweep: 'bench', unit, params: { symbol, threshold }, configs: index }));
      const text = `${lines.join('\n')}\n`;
      bytes += Buffer.byteLength(text);
      writeFileSync(join(outDir, 'results', `${unit}.ndjson`), text);
      appendFileSync(join(outDir, '.results.ndjson.tmp'), text);
      writeFileSync(join(outDir, 'results', 'shapes', `${unit}.ndjson`), `${JSON.stringify(SHAPE)}\n`);
      units.push({ id: unit, params: { symbol, threshold }, configs: index.length });
    }
  }
  // The merge, written last (as collect does): the per-unit files are not newer than it.
  renameSync(join(outDir, '.results.ndjson.tmp'), join(outDir, 'results.ndjson'));
  writeFileSync(join(outDir, 'shapes.ndjson'), `${JSON.stringify(SHAPE)}\n`);
  writeFileSync(
    join(outDir, 'manifest.json'),
    `${JSON.stringify({ v: 1, name: 'bench', tool_version: '0.1.0', spec_sha256: '', template_sha256: '', units }).slice(0, -1)},"configs":[\n]}\n`,
  );
  return { specPath: join(root, 'sweep.yaml'), outDir, configs: total, units: units.length, bytes };
}

/** The floor both commands stand on: every record of every unit file read and parsed. */
export const BASELINE_CODE = (outDir: string): string => `
  import { readdirSync, readFileSync } from 'node:fs';
  const t0 = performance.now();
  let n = 0;
  const dir = ${JSON.stringify(join(outDir, 'results'))};
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.ndjson')) continue;
    for (const line of readFileSync(dir + '/' + f, 'utf8').split('\\n')) if (line) { JSON.parse(line); n++; }
  }
  console.log(JSON.stringify({ ms: performance.now() - t0, maxRssMb: process.resourceUsage().maxRSS / 1024, detail: n }));
`;
