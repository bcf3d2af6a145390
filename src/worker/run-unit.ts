/**
 * `sweep run-unit`: run one unit's configs and append exactly one terminal
 * record per config to `results/<unit>.ndjson`.
 *
 * Order of work: lock the unit (for the whole life of the process) -> cut a torn
 * last line -> scan the records -> merge with the unit's configs (skip-done) ->
 * connect -> compact away superseded records (errors about to be retried, older
 * duplicates, records of changed SQL: so a finished unit holds exactly one
 * record per config) -> size max_threads -> run the rest through the
 * dispatcher, appending records in fsynced batches -> summary.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createEngine, redactUrl, type Engine, type EngineOptions } from '../engine/index.js';
import { UserError, WorkFailed } from '../errors.js';
import { cutTornTail, NdjsonAppender, rewriteKeeping, scanRecordHeads, type AppenderOptions } from '../results/ndjson.js';
import { deferOptimizingCompiler } from './jit.js';
import { acquireUnitLock } from './lock.js';
import { autoMaxThreads, readThreadFacts } from './max-threads.js';
import { progressLine, RateMeter, startTicker, type Counts } from './progress.js';
import { backoffMs, classifyFailure } from './retry.js';
import { ConfigRunner, jobsOf, type Job } from './config-runner.js';
import { Dispatcher } from './scheduler.js';
import { onStopSignals, SIGNAL_EXIT_CODE, type StopSignal } from './signals.js';
import { planTodo } from './todo.js';
import { loadUnitDir, type UnitDir } from './unit-dir.js';

export interface RunUnitOptions {
  dir: string;
  unit: string;
  /** --clickhouse-url; else env CLICKHOUSE_URL; else the spec's; else the embedded engine. */
  clickhouseUrl?: string;
  concurrency?: number;
  maxThreads?: number | 'auto';
  /** Units running at once on this host (default: the spec's remote.parallel, else 1). */
  unitsAtOnce?: number;
  /** Run configs whose record is `error` again (default true). */
  retryErrors?: boolean;
  /** Where CLICKHOUSE_URL and CLICKHOUSE_PASSWORD come from (default process.env). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** One human line at a time (default: stderr). */
  log?: (line: string) => void;
  /** Progress line period (default 5 s; 0 = none). */
  progressIntervalMs?: number;
  /**
   * Keep V8's optimizing compiler off until the run has finished enough configs
   * to repay it (see jit.ts). For a process that exists to run this unit: the CLI.
   */
  deferOptimizingJit?: boolean;
  /** Called with the unit's counts a few times a second while queries run, and once at the end (a caller's own progress view). */
  onProgress?: (counts: Readonly<Counts>) => void;
  /** Install SIGTERM/SIGINT handlers (the CLI does). */
  handleSignals?: boolean;
  /** Ask for a graceful stop, as a signal would (tests, embedding). The reason names the signal. */
  stop?: AbortSignal;
  /** Give up when the server stays away this long mid-run (default 5 min). */
  outageTimeoutMs?: number;
  /** Give up when the server does not answer at start-up within this (default 30 s). */
  startupTimeoutMs?: number;
  appender?: AppenderOptions;
}

export interface RunUnitSummary {
  sweep: string;
  unit: string;
  results: string;
  /** e.g. `http 18.16.1`; null when nothing had to run. */
  engine: string | null;
  total: number;
  ok: number;
  skipped: number;
  error: number;
  /** Configs with no terminal record (interrupted or abandoned run). */
  missing: number;
  /** What this run did. */
  ran: { ok: number; skipped: number; error: number; retries: number; queries_per_s: number };
  /** Records that stood from earlier runs. */
  already_done: number;
  rerun: { error: number; changed: number };
  elapsed_s: number;
  concurrency: number;
  max_threads: number | null;
  interrupted: StopSignal | null;
  /** Why the run ended early, other than a signal (e.g. the server stayed unreachable). */
  failure: string | null;
  file: { torn_bytes_cut: number; bad_lines: number; records_dropped: number; orphans: number };
}

/** Exit code for a summary: 0 all ok/skipped, 1 errors or missing, 130/143 on a signal. */
export function exitCodeOf(s: RunUnitSummary): number {
  if (s.interrupted) return SIGNAL_EXIT_CODE[s.interrupted];
  return s.error > 0 || s.missing > 0 || s.failure ? 1 : 0;
}

export async function runUnit(opts: RunUnitOptions): Promise<RunUnitSummary> {
  const t0 = performance.now();
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const env = opts.env ?? process.env;
  const u = loadUnitDir(opts.dir, opts.unit, opts.cwd);
  const worker = u.spec.worker;
  const concurrency = positiveInt(opts.concurrency ?? worker.concurrency, '--concurrency');
  const unitsAtOnce = positiveInt(opts.unitsAtOnce ?? u.spec.remote?.parallel ?? 1, '--units-at-once');
  const retryErrors = opts.retryErrors ?? true;
  const label = relative(opts.cwd ?? process.cwd(), u.resultsPath) || u.resultsPath;

  const target = chooseEngine(opts, u, env, concurrency);
  // Connect while the lock and the scan proceed: the server's first answer
  // (version, capabilities) is on the critical path of every short unit. Not for
  // the embedded engine, which loads a 550 MB library that an idle run never needs.
  const early = target.options.kind === 'http' ? connectEarly(target.options) : undefined;

  mkdirSync(u.resultsDir, { recursive: true });
  let lock;
  try {
    lock = await acquireUnitLock(u.lockPath);
  } catch (err) {
    await early?.discard();
    throw err;
  }
  let interrupted: StopSignal | null = null;
  let dispatcher: Dispatcher<Job> | undefined;
  let appender: NdjsonAppender | undefined;
  /** Set while queries run: KILLs every query of this run on the server. */
  let cancelRunning: (() => Promise<void>) | undefined;
  const requestStop = (sig: StopSignal): void => {
    if (interrupted) return;
    interrupted = sig;
    if (dispatcher) log(`${u.unit}: ${sig}: stopping: no new queries, cancelling the running ones`);
    // The engine KILLs each aborted query by id; one KILL by this run's prefix as well
    // catches a query whose request was still on its way to the server's process list.
    dispatcher?.stop('requested');
    void cancelRunning?.().catch(() => {});
  };
  const uninstall = opts.handleSignals
    ? onStopSignals((sig, count) => {
        if (count === 1) return requestStop(sig);
        // A second signal: keep what finished, leave now.
        try {
          appender?.flushSync();
        } finally {
          process.exit(SIGNAL_EXIT_CODE[sig]);
        }
      })
    : undefined;
  const onStop = (): void => requestStop(stopReason(opts.stop));
  if (opts.stop?.aborted) onStop();
  else opts.stop?.addEventListener('abort', onStop, { once: true });

  try {
    // ---- the file: torn tail, skip-done, compaction (all under the lock)
    const torn = await cutTornTail(u.resultsPath);
    if (torn) log(`${u.unit}: cut a torn last line (${torn.length} bytes at offset ${torn.offset}) from ${label}: ${JSON.stringify(torn.preview.slice(0, 60))}`);
    const scan = await scanRecordHeads(u.resultsPath);
    if (scan.bad.length > 0) log(`${u.unit}: ${scan.bad.length} line(s) in ${label} are not records (first: line ${scan.bad[0]?.lineNo}: ${scan.bad[0]?.reason}); their configs run again`);
    const plan = planTodo(u.configs, scan.heads, { retryErrors });
    // Superseded records go once the server has answered, so an unreachable server never costs a record.
    let dropped = 0;
    const compact = async (): Promise<void> => {
      if (plan.drop.length === 0) return;
      const drop = new Set(plan.drop);
      dropped = (await rewriteKeeping(u.resultsPath, (offset) => !drop.has(offset))).dropped;
    };
    const counts: Counts = { total: u.configs.length, ok: plan.done.ok, skipped: plan.done.skipped, error: plan.done.error };
    const alreadyDone = counts.ok + counts.skipped + counts.error;
    const ran = { ok: 0, skipped: 0, error: 0, retries: 0 };
    const base = {
      unit: u.unit,
      results: u.resultsPath,
      already_done: alreadyDone,
      rerun: plan.rerun,
      concurrency,
    };
    const summarize = (engineLabel: string | null, maxThreads: number | null, failure: string | null, runMs: number): RunUnitSummary => ({
      sweep: u.sweep,
      ...base,
      engine: engineLabel,
      total: counts.total,
      ok: counts.ok,
      skipped: counts.skipped,
      error: counts.error,
      missing: counts.total - counts.ok - counts.skipped - counts.error,
      ran: { ...ran, queries_per_s: runMs > 0 ? round1(((ran.ok + ran.skipped + ran.error) * 1000) / runMs) : 0 },
      elapsed_s: round3((performance.now() - t0) / 1000),
      max_threads: maxThreads,
      interrupted,
      failure,
      file: { torn_bytes_cut: torn?.length ?? 0, bad_lines: scan.bad.length, records_dropped: dropped, orphans: plan.orphans },
    });

    const why = [
      plan.rerun.error ? `${plan.rerun.error} error(s) retried` : '',
      plan.rerun.changed ? `${plan.rerun.changed} with changed SQL` : '',
      plan.done.error ? `${plan.done.error} error(s) kept (--no-retry-errors)` : '',
    ].filter(Boolean);
    log(`${u.unit}: ${plan.todo.length} of ${counts.total} configs to run (${alreadyDone} already done${why.length ? `; ${why.join(', ')}` : ''})`);
    if (plan.todo.length === 0 || interrupted) {
      await early?.discard();
      if (plan.todo.length === 0) await compact(); // only older duplicates can be dropped here
      const summary = summarize(null, null, null, 0);
      log(finalLine(summary, label));
      return summary;
    }

    // ---- the engine
    const engine = early ? early.engine : createEngine(target.options);
    try {
      const version = await waitForServer(engine, target.display, opts.startupTimeoutMs ?? 30_000, log, u.unit, early?.version);
      const engineLabel = `${engine.kind} ${version}`;
      const maxThreads = await chooseMaxThreads(engine, opts.maxThreads ?? worker.max_threads, concurrency, unitsAtOnce);
      log(`${u.unit}: ${maxThreads.explanation}`);
      log(`${u.unit}: ${engineLabel} at ${target.display}, concurrency ${concurrency}`);
      if (interrupted) {
        const summary = summarize(engineLabel, maxThreads.maxThreads, null, 0);
        log(finalLine(summary, label));
        return summary;
      }

      // ---- the run
      await compact();
      const runId = randomBytes(4).toString('hex');
      const queryIdPrefix = `${u.sweep}:${runId}:`;
      const out = NdjsonAppender.open(u.resultsPath, opts.appender);
      appender = out;
      const runner = new ConfigRunner({
        unit: u,
        engine,
        engineLabel,
        maxThreads: maxThreads.maxThreads,
        queryIdPrefix,
        timeoutMs: worker.query_timeout_s * 1000,
        retries: worker.retries,
        out,
        counts,
        ran,
      });

      let lastConcurrency = concurrency;
      const d = new Dispatcher<Job>({
        concurrency,
        attempt: runner.attempt,
        probe: async (signal) => {
          await engine.query('SELECT 1', { signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) });
        },
        outageTimeoutMs: opts.outageTimeoutMs ?? 300_000,
        onOutage: (e) =>
          log(
            e.state === 'down'
              ? `${u.unit}: ClickHouse stopped answering (${e.reason}); pausing, probing until it is back`
              : `${u.unit}: ClickHouse is back after ${(e.downForMs / 1000).toFixed(1)} s; resuming`,
          ),
        onConcurrency: (cur, tgt) => {
          // Every decrease, but only the end of the climb back (one line per step is noise).
          if (cur < lastConcurrency || cur === tgt) log(`${u.unit}: concurrency ${cur}/${tgt}${cur < tgt ? ' (the server is under pressure)' : ' (back to full)'}`);
          lastConcurrency = cur;
        },
      });
      dispatcher = d;
      if (interrupted) d.stop('requested');
      const runStart = performance.now();
      const meter = new RateMeter(runStart);
      const stopTicker =
        (opts.progressIntervalMs ?? 5000) > 0
          ? startTicker(opts.progressIntervalMs ?? 5000, () => {
              const note = d.inOutage ? 'waiting for ClickHouse' : d.concurrency < concurrency ? `concurrency ${d.concurrency}/${concurrency}` : '';
              const qps = meter.sample(ran.ok + ran.skipped + ran.error, performance.now());
              log(progressLine(u.unit, counts, qps, note));
            })
          : () => {};
      const jit = opts.deferOptimizingJit ? deferOptimizingCompiler() : undefined;
      const stopJitWatch = jit ? startTicker(1000, () => jit.progress(ran.ok + ran.skipped + ran.error)) : () => {};
      const onProgress = opts.onProgress;
      const stopReporting = onProgress ? startTicker(250, () => onProgress({ ...counts })) : () => {};
      cancelRunning = () => engine.cancelQueries(queryIdPrefix);
      let result;
      try {
        result = await d.run(jobsOf(plan.todo));
      } finally {
        stopTicker();
        stopReporting();
        stopJitWatch();
        jit?.restore();
        onProgress?.({ ...counts });
        if (interrupted) await engine.cancelQueries(queryIdPrefix).catch(() => {});
        cancelRunning = undefined;
      }
      // Records that cannot be written stop the run: say where and why, plainly (exit 1).
      try {
        await out.close();
      } catch (err) {
        throw new WorkFailed(`${label}: cannot append result records: ${(err as Error).message}`);
      }
      if (d.failure) {
        const e = d.failure as NodeJS.ErrnoException;
        if (typeof e.code === 'string' && typeof e.syscall === 'string') throw new WorkFailed(`${label}: cannot append result records: ${e.message}`);
        throw d.failure;
      }
      const runMs = performance.now() - runStart;
      const failure = result.stopped === 'unreachable' ? `ClickHouse at ${target.display} did not answer for ${Math.round((opts.outageTimeoutMs ?? 300_000) / 1000)} s (${result.reason ?? 'no answer'})` : null;
      const summary = summarize(engineLabel, maxThreads.maxThreads, failure, runMs);
      log(finalLine(summary, label));
      return summary;
    } finally {
      await engine.close().catch(() => {});
    }
  } finally {
    uninstall?.();
    opts.stop?.removeEventListener('abort', onStop);
    await lock.release();
  }
}

interface EngineTarget {
  options: EngineOptions;
  display: string;
}

function chooseEngine(opts: RunUnitOptions, u: UnitDir, env: NodeJS.ProcessEnv, concurrency: number): EngineTarget {
  const url = opts.clickhouseUrl || env['CLICKHOUSE_URL'] || u.spec.clickhouse.url;
  const database = u.spec.clickhouse.database;
  if (!url) {
    const path = join(u.dir, '.chdb');
    return { options: { kind: 'embedded', path, database }, display: `${path} (embedded)` };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const from = opts.clickhouseUrl ? '--clickhouse-url' : env['CLICKHOUSE_URL'] ? 'CLICKHOUSE_URL' : `${u.dir}/spec.json clickhouse.url`;
    throw new UserError('CLICKHOUSE_URL_INVALID', `${from}: expected an http(s):// URL, found ${JSON.stringify(redactUrl(url))}`);
  }
  const password = env['CLICKHOUSE_PASSWORD'];
  return {
    options: {
      kind: 'http',
      url,
      database,
      // A user named in the URL wins over the spec's default user.
      ...(parsed.username ? {} : { username: u.spec.clickhouse.user }),
      ...(password !== undefined ? { password } : {}),
      concurrency,
      queryTimeoutMs: u.spec.worker.query_timeout_s * 1000,
    },
    display: redactUrl(url),
  };
}

/** The version, waiting a while for a server that is (re)starting; UserError when it never answers. */
interface EarlyEngine {
  engine: Engine;
  /** The first version() call, already under way. */
  version: Promise<string>;
  /** Close it (nothing to run, or the lock was refused); never throws. */
  discard(): Promise<void>;
}

function connectEarly(options: EngineOptions): EarlyEngine {
  const engine = createEngine(options);
  const version = engine.version();
  // A failure is reported where the version is awaited, not as an unhandled rejection.
  version.catch(() => {});
  return { engine, version, discard: () => engine.close().catch(() => {}) };
}

async function waitForServer(
  engine: Engine,
  display: string,
  timeoutMs: number,
  log: (l: string) => void,
  unit: string,
  firstAttempt?: Promise<string>,
): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  for (let n = 1; ; n++) {
    try {
      return await (n === 1 && firstAttempt ? firstAttempt : engine.version());
    } catch (err) {
      const f = classifyFailure(err);
      if (f.kind === 'permanent' || performance.now() >= deadline) {
        throw new UserError('CLICKHOUSE_UNAVAILABLE', `ClickHouse at ${display}: expected it to answer, found ${f.error.name}: ${f.error.message.slice(0, 300)}`);
      }
      if (n === 1) log(`${unit}: waiting for ClickHouse at ${display} (${f.error.name})`);
      await new Promise((r) => setTimeout(r, Math.min(backoffMs(n, { baseMs: 250, capMs: 5000 }), Math.max(0, deadline - performance.now()))));
    }
  }
}

async function chooseMaxThreads(engine: Engine, setting: number | 'auto', concurrency: number, unitsAtOnce: number) {
  if (setting !== 'auto') return { maxThreads: setting, explanation: `max_threads ${setting} (set)` };
  return autoMaxThreads(await readThreadFacts(engine), concurrency, unitsAtOnce);
}

function stopReason(signal: AbortSignal | undefined): StopSignal {
  return signal?.reason === 'SIGINT' ? 'SIGINT' : 'SIGTERM';
}

function positiveInt(n: number, flag: string): number {
  if (!Number.isInteger(n) || n < 1) throw new UserError('FLAG_INVALID', `${flag}: expected a positive integer, found ${JSON.stringify(n)}`);
  return n;
}

function finalLine(s: RunUnitSummary, label: string): string {
  const head = s.interrupted ? `stopped by ${s.interrupted}` : s.failure ? 'gave up' : s.missing === 0 ? 'done' : 'incomplete';
  return (
    `${s.unit}: ${head} in ${s.elapsed_s.toFixed(1)} s: ok ${s.ok}, skipped ${s.skipped}, error ${s.error}, missing ${s.missing} of ${s.total}` +
    ` (this run: ${s.ran.ok + s.ran.skipped + s.ran.error} at ${s.ran.queries_per_s} q/s, ${s.ran.retries} retries) -> ${label}` +
    (s.failure ? `\n${s.unit}: ${s.failure}` : '')
  );
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
