/**
 * `sweep run`: the whole pipeline on this machine, with the same code and files
 * as the remote path: generate -> setup once -> every unit through the worker
 * (`runUnit`, one unit after another) -> validate and merge (`mergeResults`, as
 * collect does). With no server given, the embedded engine (chDB) runs it, its
 * data in <out>/.chdb, which is where the worker looks for it.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { createEngine, redactUrl, splitStatements, type Engine, type EngineOptions } from '../engine/index.js';
import { UserError } from '../errors.js';
import { generate, prepareSweep } from '../generate/generate.js';
import { localPueueAnswers } from '../pueue/local-daemon.js';
import { readManifestHead } from '../remote/context.js';
import { sweepStatus } from '../remote/status.js';
import { submitAll } from '../remote/submit.js';
import { forEachLine } from '../results/ndjson.js';
import { mergeResults, type MergeReport } from '../results/merge.js';
import type { RemoteSettings, Spec } from '../spec/schema.js';
import { exitCodeOf, runUnit, type RunUnitSummary } from '../worker/run-unit.js';
import { SIGNAL_EXIT_CODE, type StopSignal } from '../worker/signals.js';
import { createProgressView, type OverallCounts } from './view.js';

export interface RunSweepOptions {
  specPath: string;
  cwd?: string;
  clickhouseUrl?: string;
  concurrency?: number;
  env?: NodeJS.ProcessEnv;
  /** Human output (progress, summary). */
  write?: (text: string) => void;
  isTTY?: boolean;
  /** Aborting stops the run gracefully, as SIGINT does; the reason names the signal. */
  stop?: AbortSignal;
}

export interface RunSweepSummary {
  sweep: string;
  engine: { kind: 'http' | 'embedded'; version: string; where: string };
  configs: number;
  units: number;
  ok: number;
  skipped: number;
  error: number;
  missing: number;
  wall_s: number;
  queries_per_s: number;
  slowest: Array<{ config: string; unit: string; elapsed_ms: number; status: string }>;
  errors: MergeReport['errors'];
  outputs: { dir: string; results: string; rows: string; per_unit: string; log: string };
  interrupted: StopSignal | null;
  complete: boolean;
}

export function exitCodeOfRun(s: RunSweepSummary): number {
  if (s.interrupted) return SIGNAL_EXIT_CODE[s.interrupted];
  return s.complete ? 0 : 1;
}

interface EngineChoice {
  options: EngineOptions;
  kind: 'http' | 'embedded';
  where: string;
  /** Which setting chose it, for error messages. */
  from: string;
}

function chooseEngine(spec: Spec, outDir: string, flagUrl: string | undefined, env: NodeJS.ProcessEnv, concurrency: number): EngineChoice {
  const url = flagUrl || env['CLICKHOUSE_URL'] || spec.clickhouse.url;
  const from = flagUrl ? '--clickhouse-url' : env['CLICKHOUSE_URL'] ? 'CLICKHOUSE_URL' : 'clickhouse.url in the spec';
  if (!url) {
    const path = join(outDir, '.chdb');
    return { options: { kind: 'embedded', path, database: spec.clickhouse.database }, kind: 'embedded', where: path, from: 'no server given' };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (!/^https?:$/.test(parsed.protocol)) throw new Error('not http');
  } catch {
    throw new UserError('CLICKHOUSE_URL_INVALID', `${from}: expected an http(s):// URL such as http://localhost:8123, found ${JSON.stringify(redactUrl(url))}`);
  }
  const password = env['CLICKHOUSE_PASSWORD'];
  return {
    options: {
      kind: 'http',
      url,
      database: spec.clickhouse.database,
      ...(parsed.username ? {} : { username: spec.clickhouse.user }),
      ...(password !== undefined ? { password } : {}),
      concurrency,
      queryTimeoutMs: spec.worker.query_timeout_s * 1000,
    },
    kind: 'http',
    where: redactUrl(url),
    from,
  };
}

/** Connect and ask the version; an unreachable server is the user's to fix (exit 2). */
async function connect(choice: EngineChoice): Promise<{ engine: Engine; version: string }> {
  const engine = createEngine(choice.options);
  try {
    const version = await withTimeout(engine.version(), 15_000);
    return { engine, version };
  } catch (err) {
    await engine.close().catch(() => {});
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    if (choice.kind === 'embedded') {
      throw new UserError('ENGINE_UNAVAILABLE', `the embedded engine (chDB) did not start: ${why}; install it with 'npm ci' or pass --clickhouse-url`);
    }
    throw new UserError('CLICKHOUSE_UNREACHABLE', `${choice.from} ${choice.where}: expected a ClickHouse server answering, found ${why}`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export async function runSweepLocally(opts: RunSweepOptions): Promise<RunSweepSummary> {
  const t0 = performance.now();
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const write = opts.write ?? ((t: string) => process.stderr.write(t));
  // Validate everything (spec, template, values, engine URL) before writing anything.
  const prepared = await prepareSweep(opts.specPath, cwd);
  const spec = prepared.loaded.spec;
  const concurrency = opts.concurrency ?? spec.worker.concurrency;
  const gen = await generate({ specPath: opts.specPath, cwd, prepared });
  const outDir = gen.out;
  const logPath = join(outDir, 'run.log');
  const logLine = (line: string) => appendFileSync(logPath, `${new Date().toISOString()} ${line}\n`);
  const choice = chooseEngine(spec, outDir, opts.clickhouseUrl, env, concurrency);

  const { engine, version } = await connect(choice);
  const engineName = choice.kind === 'embedded' ? `embedded chDB (ClickHouse ${version})` : `ClickHouse ${version} at ${choice.where}`;
  write(`sweep run ${spec.name}: ${gen.configs} configs in ${gen.units} units; engine: ${engineName}\n`);
  logLine(`run: engine ${engineName}; ${gen.configs} configs in ${gen.units} units`);
  try {
    if (spec.setup) {
      const setupPath = join(prepared.loaded.dir, spec.setup);
      const statements = splitStatements(readFileSync(setupPath, 'utf8'));
      const ts = performance.now();
      for (const sql of statements) {
        try {
          await engine.exec(sql);
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          throw new UserError('SETUP_FAILED', `${relative(cwd, setupPath) || setupPath}: setup statement failed on ${engineName}: ${msg.split('\n')[0]}`);
        }
      }
      write(`setup: ${statements.length} statements from ${spec.setup} in ${((performance.now() - ts) / 1000).toFixed(1)} s\n`);
    }
  } finally {
    // The embedded engine holds its data directory; each unit opens it again.
    await engine.close();
  }

  const units = readManifestHead(outDir, opts.specPath).units;
  if (choice.kind === 'http' && (await localPueueAnswers(env))) {
    return runThroughPueue({ opts, cwd, env, write, t0, spec, outDir, units, choice, version, logPath, configs: gen.configs });
  }
  const overall: OverallCounts = { total: gen.configs, ok: 0, skipped: 0, error: 0, unitsDone: 0, units: units.length };
  const view = createProgressView(write, opts.isTTY ?? false);
  const base = { ok: 0, skipped: 0, error: 0 };
  let interrupted: StopSignal | null = null;
  let ran = 0;
  let announcedThreads = false;
  for (const unit of units) {
    if (opts.stop?.aborted) {
      interrupted = stopSignalOf(opts.stop);
      break;
    }
    const s: RunUnitSummary = await runUnit({
      dir: outDir,
      unit: unit.id,
      ...(opts.clickhouseUrl ? { clickhouseUrl: opts.clickhouseUrl } : {}),
      concurrency,
      env,
      cwd,
      progressIntervalMs: 0,
      handleSignals: false,
      ...(opts.stop ? { stop: opts.stop } : {}),
      log: (line) => {
        logLine(line);
        if (!announcedThreads && /max_threads/.test(line)) {
          announcedThreads = true;
          view.close();
          write(`${line.replace(/^[^:]*: /, '')}\n`);
        }
      },
      onProgress: (c) => view.update({ ...overall, ok: base.ok + c.ok, skipped: base.skipped + c.skipped, error: base.error + c.error }),
    });
    base.ok += s.ok;
    base.skipped += s.skipped;
    base.error += s.error;
    ran += s.ran.ok + s.ran.skipped + s.ran.error;
    overall.ok = base.ok;
    overall.skipped = base.skipped;
    overall.error = base.error;
    overall.unitsDone++;
    view.update({ ...overall });
    if (s.interrupted) {
      interrupted = s.interrupted;
      break;
    }
    if (s.failure) {
      view.close();
      write(`${unit.id}: ${s.failure}\n`);
      if (exitCodeOf(s) !== 0 && /unreachable|did not answer|gave up/i.test(s.failure)) break;
    }
  }
  view.close();

  return finish({ spec, outDir, units, choice, version, logPath, configs: gen.configs, t0, ran, interrupted });
}

/** What every way of running the units shares. */
interface RunContext {
  spec: Spec;
  outDir: string;
  units: ReadonlyArray<{ id: string }>;
  choice: EngineChoice;
  version: string;
  logPath: string;
  configs: number;
  t0: number;
}

interface FinishInput extends RunContext {
  /** Configs run by this invocation (for queries/s). */
  ran: number;
  interrupted: StopSignal | null;
}

/** Validate and merge as collect does, and build the summary. */
async function finish(f: FinishInput): Promise<RunSweepSummary> {
  const { spec, outDir, units, choice, version, logPath, t0, ran, interrupted } = f;
  const merged = await mergeResults({ sweep: spec.name, outDir, units });
  const wall = (performance.now() - t0) / 1000;
  return {
    sweep: spec.name,
    engine: { kind: choice.kind, version, where: choice.where },
    configs: f.configs,
    units: units.length,
    ok: merged.totals.ok,
    skipped: merged.totals.skipped,
    error: merged.totals.error,
    missing: merged.totals.missing,
    wall_s: Number(wall.toFixed(2)),
    queries_per_s: Number((ran / wall).toFixed(1)),
    slowest: await slowestConfigs(merged.files.results, 5),
    errors: merged.errors,
    outputs: { dir: outDir, results: merged.files.results, rows: merged.files.rows, per_unit: join(outDir, 'results'), log: logPath },
    interrupted,
    complete: merged.complete && !interrupted,
  };
}

interface PueueRunInput extends RunContext {
  opts: RunSweepOptions;
  cwd: string;
  env: NodeJS.ProcessEnv;
  write: (text: string) => void;
}

/**
 * Units as tasks of the user's local pueue daemon, through exactly the remote
 * tier's code (submit-all and status with the local transport; the sweep dir on
 * "the host" is the output dir itself). An interrupt stops the watching only:
 * the tasks keep running in pueue, and running the command again resumes.
 */
async function runThroughPueue(p: PueueRunInput): Promise<RunSweepSummary> {
  const remote: RemoteSettings = {
    host: 'local',
    dir: dirname(p.outDir),
    group: p.spec.remote?.group ?? `sweep-${p.spec.name}`,
    parallel: p.spec.remote?.parallel ?? 1,
  };
  if (basename(p.outDir) !== p.spec.name) throw new Error(`internal: out dir ${p.outDir} is not named after the sweep`);
  const env = { ...p.env, CLICKHOUSE_URL: p.opts.clickhouseUrl || p.env['CLICKHOUSE_URL'] || p.spec.clickhouse.url };
  const log = (line: string) => appendFileSync(p.logPath, `${new Date().toISOString()} ${line}\n`);
  const submitted = await submitAll({ specPath: p.opts.specPath, cwd: p.cwd, remote, env, log });
  p.write(`units run in your local pueue daemon, group ${remote.group}: ${submitted.queued.length} queued, ${submitted.plan.active.length} already queued or running, ${submitted.plan.complete.length} complete\n`);
  for (const f of submitted.failed) p.write(`${f.unit}: could not be queued: ${f.message}\n`);
  const view = createProgressView(p.write, p.opts.isTTY ?? false);
  let interrupted: StopSignal | null = null;
  let before: number | undefined;
  let last: { ok: number; skipped: number; error: number } = { ok: 0, skipped: 0, error: 0 };
  for (;;) {
    const st = await sweepStatus({ specPath: p.opts.specPath, cwd: p.cwd, remote });
    before ??= st.totals.ok + st.totals.skipped + st.totals.error;
    last = st.totals;
    view.update({ total: p.configs, ok: st.totals.ok, skipped: st.totals.skipped, error: st.totals.error, unitsDone: st.totals.unitsComplete, units: p.units.length });
    if (st.idle) {
      view.close();
      for (const note of st.notes) p.write(`${note}\n`);
      break;
    }
    if (p.opts.stop?.aborted) {
      interrupted = stopSignalOf(p.opts.stop);
      view.close();
      p.write(`the units keep running in pueue group ${remote.group}; run the same command again to watch and finish\n`);
      break;
    }
    await sleep(1000, p.opts.stop);
  }
  const ran = last.ok + last.skipped + last.error - (before ?? 0);
  return finish({ ...p, ran, interrupted });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function stopSignalOf(signal: AbortSignal): StopSignal {
  return signal.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
}

async function slowestConfigs(resultsPath: string, n: number): Promise<RunSweepSummary['slowest']> {
  const top: RunSweepSummary['slowest'] = [];
  await forEachLine(resultsPath, (buf, start, end) => {
    const r = JSON.parse(buf.toString('utf8', start, end)) as { config: string; unit: string; elapsed_ms: number; status: string };
    if (top.length < n || r.elapsed_ms > (top[top.length - 1]?.elapsed_ms ?? 0)) {
      top.push({ config: r.config, unit: r.unit, elapsed_ms: r.elapsed_ms, status: r.status });
      top.sort((a, b) => b.elapsed_ms - a.elapsed_ms);
      if (top.length > n) top.pop();
    }
  });
  return top;
}
