/**
 * Fixtures for the worker tests: real sweep directories made by `generate`
 * from a spec and template written to a temp dir, the CLI bundled fresh (so a
 * process test never runs a stale dist/), and helpers to read results.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { build } from 'esbuild';
import type { UnitIndex } from '../../src/format/manifest.js';
import { generate } from '../../src/generate/generate.js';
import type { ResultRecord } from '../../src/results/record.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

export interface SweepFixture {
  tmp: TempDir;
  /** The sweep directory (generate's --out). */
  out: string;
  units: string[];
  index(unit: string): UnitIndex;
  results(unit: string): string;
  sql(unit: string, config: string): string;
}

export async function makeSweep(opts: { spec: string; template: string; tag?: string }): Promise<SweepFixture> {
  const tmp = makeTempDir(opts.tag ?? 'wk');
  writeFileSync(join(tmp.path, 'q.sql'), opts.template);
  writeFileSync(join(tmp.path, 'sweep.yaml'), opts.spec);
  const out = join(tmp.path, 'out');
  await generate({ specPath: join(tmp.path, 'sweep.yaml'), outDir: out, withWorker: false });
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { units: Array<{ id: string }> };
  return {
    tmp,
    out,
    units: manifest.units.map((u) => u.id),
    index: (unit) => JSON.parse(readFileSync(join(out, 'units', `${unit}.json`), 'utf8')) as UnitIndex,
    results: (unit) => join(out, 'results', `${unit}.ndjson`),
    sql: (unit, config) => readFileSync(join(out, 'sql', unit, `${config}.sql`), 'utf8'),
  };
}

/** Regenerate after editing the template (same spec). */
export async function regenerate(f: SweepFixture, template: string): Promise<void> {
  writeFileSync(join(f.tmp.path, 'q.sql'), template);
  await generate({ specPath: join(f.tmp.path, 'sweep.yaml'), outDir: f.out, withWorker: false });
}

/** Every line must be a whole record: throws on a torn or bad line. */
export function readRecords(path: string): ResultRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${path}: torn last line: ${JSON.stringify(text.slice(text.lastIndexOf('\n') + 1, text.lastIndexOf('\n') + 80))}`);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as ResultRecord;
      } catch (err) {
        throw new Error(`${path}:${i + 1}: not JSON: ${(err as Error).message}: ${l.slice(0, 100)}`);
      }
    });
}

/** config -> its records; the test asserts there is exactly one. */
export function byConfig(records: ResultRecord[]): Map<string, ResultRecord[]> {
  const m = new Map<string, ResultRecord[]>();
  for (const r of records) {
    const list = m.get(r.config) ?? [];
    list.push(r);
    m.set(r.config, list);
  }
  return m;
}

/** What a record says, without what varies between runs (timings, ids, attempts). */
export function essence(r: ResultRecord): unknown {
  return { config: r.config, status: r.status, sql_sha256: r.sql_sha256, rows: r.rows, code: r.error?.code ?? null, name: r.error?.name ?? null };
}

// ---------------------------------------------------------------- the CLI as a process

let bundled: { path: string; dir: string } | undefined;

/**
 * The CLI as one file, built now from the sources under test (same options as
 * scripts/bundle-worker.mjs), inside the repo so `chdb` resolves from node_modules.
 */
export async function bundleCli(): Promise<string> {
  if (bundled) return bundled.path;
  const dir = join(REPO_ROOT, '.sweep-tmp', `worker-test-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'worker.mjs');
  await build({
    entryPoints: [join(REPO_ROOT, 'src/worker/main.ts')],
    outfile: path,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: ['chdb'],
    banner: { js: "import { createRequire as __sweepCreateRequire } from 'node:module'; const require = __sweepCreateRequire(import.meta.url);" },
    logLevel: 'error',
  });
  bundled = { path, dir };
  return path;
}

export function removeBundle(): void {
  if (bundled) rmSync(bundled.dir, { recursive: true, force: true });
  bundled = undefined;
}

export interface WorkerProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when stderr has printed a line matching `re`. */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnWorker(bundle: string, args: string[], env: NodeJS.ProcessEnv = {}): WorkerProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv['CLICKHOUSE_URL'];
  const child = spawn(process.execPath, [bundle, 'run-unit', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of waiters.slice()) {
      if (w.re.test(err)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor: (re, timeoutMs = 20_000) =>
      new Promise<void>((res, rej) => {
        if (re.test(err)) return res();
        const timer = setTimeout(() => rej(new Error(`worker did not print ${re} within ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
        waiters.push({
          re,
          resolve: () => {
            clearTimeout(timer);
            res();
          },
        });
        void exit.then(() => {
          if (!re.test(err)) {
            clearTimeout(timer);
            rej(new Error(`worker exited before printing ${re}; stderr:\n${err}`));
          }
        });
      }),
  };
}

/** Run to the end; kill if it hangs. */
export async function runWorker(bundle: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000) {
  const w = spawnWorker(bundle, args, env);
  const timer = setTimeout(() => w.child.kill('SIGKILL'), timeoutMs);
  const res = await w.exit;
  clearTimeout(timer);
  return { ...res, stdout: w.stdout(), stderr: w.stderr() };
}
