/**
 * `sweep run-unit`: run one unit's configs and append exactly one terminal
 * record per config to `results/<unit>.ndjson`.
 *
 * Phases, each a function below:
 *   open       read the unit, the settings, the target and its setup generation
 *              (refuse, exit 2, when the sweep's setup has not run on the target)
 *   lock       the unit's lock, for the whole life of the process
 *   plan       cut a torn last line, scan the records, merge with the configs (skip-done:
 *              a record counts for its SQL hash, target and setup generation only)
 *   connect    the engine and its version; cancel queries an earlier run of this unit
 *              left on the server (a kill -9 leaves them running)
 *   compact    move superseded records aside (results/.superseded/), so a finished unit
 *              holds exactly one record per config
 *   run        the dispatcher: configs through p-queue, records appended in fsynced
 *              batches, halted early when a template fails everywhere the same way
 *   summarise  counts, reasons, what happened
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { chooseEngine } from '../engine/choice.js';
import { createEngine, type Engine, type EngineOptions } from '../engine/index.js';
import { UserError, WorkFailed } from '../errors.js';
import { cutTornTail, NdjsonAppender, rewriteKeeping, scanRecordHeads, type AppenderOptions, type TornTail } from '../results/ndjson.js';
import { currentSetupGeneration } from '../setup/setup.js';
import { concurrencyPlan, type ConcurrencyPlan, type ConcurrencySetting } from '../spec/concurrency.js';
import { ConfigRunner, HaltWatch, jobsOf, ShapeBook, type Job } from './config-runner.js';
import { deferOptimizingCompiler } from './jit.js';
import { acquireUnitLock, type UnitLock } from './lock.js';
import { readAutoStart, recordAutoEnd } from './auto-start.js';
import { autoMaxThreads, readThreadFacts, type ThreadFacts } from './max-threads.js';
import { progressLine, RateMeter, startTicker, type Counts } from './progress.js';
import { backoffMs, classifyFailure } from './retry.js';
import { Dispatcher } from './scheduler.js';
import { isSelected, type ConfigSelection } from './select.js';
import { onStopSignals, SIGNAL_EXIT_CODE, type StopSignal } from './signals.js';
import { planTodo, type RerunMode, type RerunReasons, type TodoPlan } from './todo.js';
import { loadUnitDir, type UnitDir } from './unit-dir.js';
import { unitLogPath, UnitLogFile } from './unit-log.js';

export interface RunUnitOptions {
  dir: string;
  unit: string;
  /** --clickhouse-url; else env CLICKHOUSE_URL; else the spec's; else the embedded engine. */
  clickhouseUrl?: string;
  /** An engine the caller owns and keeps open (`sweep run` shares one across units); with `target`. */
  engine?: { engine: Engine; target: string; display: string };
  /** Queries in flight: a number, or `auto` / {min, max} to seek the best (default: the spec's). */
  concurrency?: ConcurrencySetting;
  maxThreads?: number | 'auto';
  /** Units running at once on this host (default: the spec's remote.parallel, else 1). */
  unitsAtOnce?: number;
  /** What runs again besides configs without a current record (default `errors`). */
  rerun?: RerunMode;
  /** --only: run only these configs. */
  only?: ConfigSelection;
  /** Where CLICKHOUSE_URL and CLICKHOUSE_PASSWORD come from (default process.env). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** One human line at a time (default: stderr). Every line also goes to <dir>/logs/<unit>.log. */
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
  /** Install SIGTERM/SIGINT/SIGHUP handlers (the CLI does). */
  handleSignals?: boolean;
  /** Ask for a graceful stop, as a signal would (tests, embedding). The reason names the signal. */
  stop?: AbortSignal;
  /** Give up when the server stays away (or at its limit) this long mid-run (default 5 min). */
  outageTimeoutMs?: number;
  /** Give up when the server does not answer at start-up within this (default 30 s). */
  startupTimeoutMs?: number;
  appender?: AppenderOptions;
}

export interface RunUnitSummary {
  sweep: string;
  unit: string;
  results: string;
  /** Where the queries ran (src/engine/target.ts). */
  target: string;
  /** The setup generation records were written under; null without setup. */
  setup: string | null;
  /** e.g. `http 18.16.1`; null when nothing had to run. */
  engine: string | null;
  total: number;
  ok: number;
  skipped: number;
  error: number;
  /** Configs with no terminal record (interrupted, halted, abandoned, or not selected). */
  missing: number;
  /** What this run did (`refused`: attempts the server turned away at its limit, tried again without spending a retry). */
  ran: { ok: number; skipped: number; error: number; retries: number; refused: number; queries_per_s: number };
  /** Records that stood from earlier runs. */
  already_done: number;
  /** Configs run again although they had a record, by reason. */
  rerun: RerunReasons;
  elapsed_s: number;
  /** The most queries in flight (auto: its ceiling). */
  concurrency: number;
  /** With concurrency auto: every change it made, and where it ended. */
  auto: { final: number; changes: Array<{ from: number; to: number; rate: number; reason: string }> } | null;
  max_threads: number | null;
  interrupted: StopSignal | null;
  /** Set when the first configs all failed with one permanent error and the unit stopped. */
  halted: { code: number | null; name: string; configs: number } | null;
  /** Why the run ended early, other than a signal or a halt (e.g. the server stayed unreachable). */
  failure: string | null;
  file: { torn_bytes_cut: number; bad_lines: number; records_moved_aside: number; orphans: number };
  /** The worker's own log on this host. */
  log: string;
}

/** Exit code for a summary: 0 all ok/skipped, 1 errors, missing or halted, 129/130/143 on a signal. */
export function exitCodeOf(s: RunUnitSummary): number {
  if (s.interrupted) return SIGNAL_EXIT_CODE[s.interrupted];
  return s.error > 0 || s.missing > 0 || s.failure || s.halted ? 1 : 0;
}

/** Everything the phases share. */
interface UnitRun {
  opts: RunUnitOptions;
  u: UnitDir;
  t0: number;
  /** The ceiling of queries in flight. */
  concurrency: number;
  concurrencyPlan: ConcurrencyPlan;
  unitsAtOnce: number;
  rerun: RerunMode;
  engineTarget: EngineTarget;
  setup: string | null;
  log: (line: string) => void;
  logFile: UnitLogFile;
  label: string;
  interrupted: StopSignal | null;
}

export async function runUnit(opts: RunUnitOptions): Promise<RunUnitSummary> {
  const run = openUnit(opts);
  const { u } = run;
  // Connect while the lock and the scan proceed: the server's first answer (version,
  // capabilities) is on the critical path of every short unit. Not for the embedded
  // engine, which loads a 550 MB library that an idle run never needs.
  const early = !opts.engine && run.engineTarget.options?.kind === 'http' ? connectEarly(run.engineTarget.options) : undefined;
  let lock: UnitLock;
  try {
    mkdirSync(u.resultsDir, { recursive: true });
    lock = await acquireUnitLock(u.lockPath);
  } catch (err) {
    await early?.discard();
    throw err;
  }
  const stopper = new Stopper(run);
  try {
    const file = await planFile(run);
    const summarise = (
      engineLabel: string | null,
      maxThreads: number | null,
      failure: string | null,
      runMs: number,
      halted: RunUnitSummary['halted'],
      movedAside: number,
      auto: RunUnitSummary['auto'] = null,
    ) => summary(run, file, { engineLabel, maxThreads, failure, runMs, halted, movedAside, auto });
    if (file.plan.todo.length === 0 || run.interrupted) {
      await early?.discard();
      // Only older duplicates can be moved aside here; nothing is rerun.
      const moved = file.plan.todo.length === 0 ? await compact(run, file.plan) : 0;
      return finish(run, summarise(null, null, null, 0, null, moved));
    }

    const { engine, owned } = await connect(run, early);
    try {
      const version = await waitForServer(engine, run.engineTarget.display, opts.startupTimeoutMs ?? 30_000, run.log, u.unit, early?.version);
      const engineLabel = `${engine.kind} ${version}`;
      const queryIdPrefix = `${u.sweep}:${u.unit}:`;
      // A worker killed with -9 left its queries running; we hold the unit's lock, so any
      // query of this unit on the server is such an orphan. Cancel before starting ours.
      await engine.cancelQueries(queryIdPrefix).catch((err: unknown) => run.log(`${u.unit}: could not cancel earlier queries of this unit: ${String(err)}`));
      const threadSetting = opts.maxThreads ?? u.spec.worker.max_threads;
      const facts = threadSetting === 'auto' ? await readThreadFacts(engine) : undefined;
      const autoStart = run.concurrencyPlan.kind === 'auto' ? readAutoStart(u.dir, run.engineTarget.target, run.concurrencyPlan) : undefined;
      const startLevel = autoStart?.level ?? run.concurrency;
      const maxThreads = facts ? autoMaxThreads(facts, startLevel, run.unitsAtOnce) : { maxThreads: threadSetting as number, explanation: `max_threads ${threadSetting} (set)` };
      run.log(`${u.unit}: ${maxThreads.explanation}`);
      const cp = run.concurrencyPlan;
      run.log(`${u.unit}: ${engineLabel} at ${run.engineTarget.display}, concurrency ${cp.kind === 'auto' ? `auto (${cp.min} to ${cp.max}, starting at ${startLevel}, ${autoStart?.from ?? ''})` : run.concurrency}`);
      if (run.interrupted) return finish(run, summarise(engineLabel, maxThreads.maxThreads, null, 0, null, 0));
      const moved = await compact(run, file.plan);
      const result = await runConfigs(run, stopper, file, engine, engineLabel, { maxThreads: maxThreads.maxThreads, facts }, startLevel, `${queryIdPrefix}${randomBytes(4).toString('hex')}:`);
      return finish(run, summarise(engineLabel, result.maxThreads, result.failure, result.runMs, result.halted, moved, result.auto));
    } finally {
      if (owned) await engine.close().catch(() => {});
    }
  } finally {
    stopper.uninstall();
    await lock.release();
  }
}

// ---------------------------------------------------------------- open

interface EngineTarget {
  /** Undefined when the caller passed its own engine. */
  options: EngineOptions | undefined;
  target: string;
  display: string;
}

function openUnit(opts: RunUnitOptions): UnitRun {
  const t0 = performance.now();
  const env = opts.env ?? process.env;
  const u = loadUnitDir(opts.dir, opts.unit, opts.cwd);
  const plan = concurrencyPlan(opts.concurrency ?? u.spec.worker.concurrency);
  const concurrency = positiveInt(plan.kind === 'fixed' ? plan.n : plan.max, '--concurrency');
  const unitsAtOnce = positiveInt(opts.unitsAtOnce ?? fixedParallel(u.spec.remote?.parallel) ?? 1, '--units-at-once');
  const engineTarget: EngineTarget = opts.engine
    ? { options: undefined, target: opts.engine.target, display: opts.engine.display }
    : chooseEngine({ spec: u.spec, sweepDir: u.dir, flagUrl: opts.clickhouseUrl, env, concurrency, specLabel: `${u.dir}/spec.json` });
  const logFile = new UnitLogFile(unitLogPath(u.dir, u.unit));
  const toStderr = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const log = (line: string): void => {
    logFile.write(line);
    toStderr(line);
  };
  // Refuses (exit 2) when the sweep has setup SQL that has not run on this target.
  const setup = currentSetupGeneration(u.dir, engineTarget.target);
  return {
    opts,
    u,
    t0,
    concurrency,
    concurrencyPlan: plan,
    unitsAtOnce,
    rerun: opts.rerun ?? 'errors',
    engineTarget,
    setup,
    log,
    logFile,
    label: relative(opts.cwd ?? process.cwd(), u.resultsPath) || u.resultsPath,
    interrupted: null,
  };
}

/** The spec's remote.parallel when it is a number; submit-all passes --units-at-once for autoscaled and per-host values. */
function fixedParallel(p: number | 'auto' | { min: number; max?: number | undefined } | undefined): number | undefined {
  if (typeof p === 'number') return p;
  return typeof p === 'object' ? (p.max ?? p.min) : undefined;
}

// ---------------------------------------------------------------- signals

/** Turns signals and the caller's stop into one graceful stop of whatever runs now. */
class Stopper {
  /** Set while queries run. */
  dispatcher: Dispatcher<Job> | undefined;
  appender: NdjsonAppender | undefined;
  /** KILLs every query of this run on the server. */
  cancelRunning: (() => Promise<void>) | undefined;
  private readonly uninstallSignals: (() => void) | undefined;
  private readonly onAbort: () => void;

  constructor(private readonly run: UnitRun) {
    const { opts } = run;
    this.uninstallSignals = opts.handleSignals
      ? onStopSignals((sig, count) => {
          if (count === 1) return this.request(sig);
          // A second signal: keep what finished, leave now.
          try {
            this.appender?.flushSync();
          } finally {
            process.exit(SIGNAL_EXIT_CODE[sig]);
          }
        })
      : undefined;
    this.onAbort = () => this.request(stopReason(opts.stop));
    if (opts.stop?.aborted) this.onAbort();
    else opts.stop?.addEventListener('abort', this.onAbort, { once: true });
  }

  request(sig: StopSignal): void {
    if (this.run.interrupted) return;
    this.run.interrupted = sig;
    if (this.dispatcher) this.run.log(`${this.run.u.unit}: ${sig}: stopping: no new queries, cancelling the running ones`);
    // The engine KILLs each aborted query by id; one KILL by this run's prefix as well
    // catches a query whose request was still on its way to the server's process list.
    this.dispatcher?.stop('requested');
    void this.cancelRunning?.().catch(() => {});
  }

  uninstall(): void {
    this.uninstallSignals?.();
    this.run.opts.stop?.removeEventListener('abort', this.onAbort);
  }
}

function stopReason(signal: AbortSignal | undefined): StopSignal {
  const r = signal?.reason;
  return r === 'SIGINT' || r === 'SIGHUP' ? r : 'SIGTERM';
}

// ---------------------------------------------------------------- plan

interface FileState {
  torn: TornTail | undefined;
  badLines: number;
  plan: TodoPlan;
  /** The unit's totals, updated as records are written. */
  counts: Counts;
  alreadyDone: number;
  /** What this run did, updated as records are written. */
  ran: { ok: number; skipped: number; error: number; retries: number; refused: number };
}

/** Torn tail, record heads, skip-done (all under the lock). */
async function planFile(run: UnitRun): Promise<FileState> {
  const { u, log, label } = run;
  const torn = await cutTornTail(u.resultsPath);
  if (torn) log(`${u.unit}: cut a torn last line (${torn.length} bytes at offset ${torn.offset}) from ${label}: ${JSON.stringify(torn.preview.slice(0, 60))}`);
  const scan = await scanRecordHeads(u.resultsPath);
  if (scan.bad.length > 0) log(`${u.unit}: ${scan.bad.length} line(s) in ${label} are not records (first: line ${scan.bad[0]?.lineNo}: ${scan.bad[0]?.reason}); their configs run again`);
  const only = run.opts.only;
  const plan = planTodo(u.configs, scan.heads, {
    target: run.engineTarget.target,
    setup: run.setup,
    rerun: run.rerun,
    ...(only ? { selected: (c) => isSelected(only, c.params) } : {}),
  });
  const counts: Counts = { total: u.configs.length, ok: plan.done.ok, skipped: plan.done.skipped, error: plan.done.error };
  const alreadyDone = counts.ok + counts.skipped + counts.error;
  log(`${u.unit}: ${plan.todo.length} of ${counts.total} configs to run (${alreadyDone} already done${describeRerun(plan, run.rerun)}) on ${run.engineTarget.target}`);
  return { torn, badLines: scan.bad.length, plan, counts, alreadyDone, ran: { ok: 0, skipped: 0, error: 0, retries: 0, refused: 0 } };
}

/** `; 3 run again: target changed, 2 errors retried` */
export function describeRerun(plan: Pick<TodoPlan, 'rerun' | 'done'>, rerun: RerunMode): string {
  const r = plan.rerun;
  const why = [
    r.target ? `${r.target} target changed` : '',
    r.setup ? `${r.setup} setup changed` : '',
    r.changed ? `${r.changed} SQL changed` : '',
    r.error ? `${r.error} retrying errors` : '',
    r.requested ? `${r.requested} asked for (--rerun ${rerun})` : '',
    rerun === 'none' && plan.done.error ? `${plan.done.error} error(s) kept (--no-retry-errors)` : '',
  ].filter(Boolean);
  return why.length ? `; run again: ${why.join(', ')}` : '';
}

/** Superseded records (older duplicates, records rerun now) move to results/.superseded/<unit>.ndjson. */
async function compact(run: UnitRun, plan: TodoPlan): Promise<number> {
  if (plan.drop.length === 0) return 0;
  const drop = new Set(plan.drop);
  const aside = join(run.u.resultsDir, '.superseded', `${run.u.unit}.ndjson`);
  return (await rewriteKeeping(run.u.resultsPath, (offset) => !drop.has(offset), { aside })).dropped;
}

// ---------------------------------------------------------------- connect

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

async function connect(run: UnitRun, early: EarlyEngine | undefined): Promise<{ engine: Engine; owned: boolean }> {
  if (run.opts.engine) return { engine: run.opts.engine.engine, owned: false };
  if (early) return { engine: early.engine, owned: true };
  return { engine: createEngine(run.engineTarget.options as EngineOptions), owned: true };
}

/** The version, waiting a while for a server that is (re)starting; UserError when it never answers. */
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

// ---------------------------------------------------------------- run

interface RunOutcome {
  failure: string | null;
  runMs: number;
  halted: RunUnitSummary['halted'];
  /** The max_threads in force at the end (auto concurrency re-sizes it). */
  maxThreads: number;
  auto: RunUnitSummary['auto'];
}

async function runConfigs(
  run: UnitRun,
  stopper: Stopper,
  file: FileState,
  engine: Engine,
  engineLabel: string,
  threads: { maxThreads: number; facts: ThreadFacts | undefined },
  startLevel: number,
  queryIdPrefix: string,
): Promise<RunOutcome> {
  const maxThreads = threads.maxThreads;
  const { u, opts, log, concurrency, label } = run;
  const worker = u.spec.worker;
  const out = NdjsonAppender.open(u.resultsPath, opts.appender);
  stopper.appender = out;
  const ran = file.ran;
  const maxResultRows = worker.max_result_rows ?? 100_000;
  const halt = new HaltWatch(worker.halt_after ?? 20, () => stopper.dispatcher?.stop('halted'));
  const runner = new ConfigRunner({
    unit: u,
    engine,
    engineLabel,
    target: run.engineTarget.target,
    setup: run.setup,
    maxThreads,
    // The cap is the server's to enforce, so a config past it is an error record, never a worker swollen to GBs.
    settings: { max_threads: maxThreads, ...(maxResultRows > 0 ? { max_result_rows: maxResultRows, result_overflow_mode: 'throw' } : {}) },
    queryIdPrefix,
    timeoutMs: worker.query_timeout_s * 1000,
    retries: worker.retries,
    out,
    shapes: new ShapeBook(join(u.resultsDir, 'shapes', `${u.unit}.ndjson`)),
    counts: file.counts,
    ran,
    halt,
  });

  let lastConcurrency = concurrency;
  const cp = run.concurrencyPlan;
  const autoChanges: NonNullable<RunUnitSummary['auto']>['changes'] = [];
  const d = new Dispatcher<Job>({
    concurrency,
    ...(cp.kind === 'auto' ? { auto: { min: cp.min, max: cp.max, start: startLevel } } : {}),
    onAuto: (a) => {
      autoChanges.push({ from: a.from, to: a.to, rate: Math.round(a.rate * 10) / 10, reason: a.reason });
      // Threads per query follow the number of queries in flight, so the server's soft limit stays shared.
      const threadsNow = threads.facts ? autoMaxThreads(threads.facts, a.to, run.unitsAtOnce).maxThreads : runner.maxThreads;
      if (threadsNow !== runner.maxThreads) runner.setMaxThreads(threadsNow);
      log(`${u.unit}: concurrency ${a.from} -> ${a.to} (auto: ${a.reason}${a.rate > 0 ? `, ${a.rate.toFixed(1)} configs/s` : ''}); max_threads ${runner.maxThreads}`);
    },
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
      if (cur < lastConcurrency || cur === tgt) log(`${u.unit}: concurrency ${cur}/${tgt}${cur < tgt ? ' (the server is under pressure or at its limit)' : ' (back to full)'}`);
      lastConcurrency = cur;
    },
  });
  stopper.dispatcher = d;
  if (run.interrupted) d.stop('requested');
  const runStart = performance.now();
  const meter = new RateMeter(runStart);
  const stopTicker =
    (opts.progressIntervalMs ?? 5000) > 0
      ? startTicker(opts.progressIntervalMs ?? 5000, () => {
          const note = d.inOutage ? 'waiting for ClickHouse' : d.concurrency < concurrency ? `concurrency ${d.concurrency}/${concurrency}` : '';
          const qps = meter.sample(ran.ok + ran.skipped + ran.error, performance.now());
          log(progressLine(u.unit, file.counts, qps, note));
        })
      : () => {};
  const jit = opts.deferOptimizingJit ? deferOptimizingCompiler() : undefined;
  const stopJitWatch = jit ? startTicker(1000, () => jit.progress(ran.ok + ran.skipped + ran.error)) : () => {};
  const onProgress = opts.onProgress;
  const stopReporting = onProgress ? startTicker(250, () => onProgress({ ...file.counts })) : () => {};
  stopper.cancelRunning = () => engine.cancelQueries(queryIdPrefix);
  let result;
  try {
    result = await d.run(jobsOf(file.plan.todo));
  } finally {
    stopTicker();
    stopReporting();
    stopJitWatch();
    jit?.restore();
    onProgress?.({ ...file.counts });
    if (run.interrupted || halt.halted) await engine.cancelQueries(queryIdPrefix).catch(() => {});
    stopper.cancelRunning = undefined;
    stopper.dispatcher = undefined;
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
  const failure =
    result.stopped === 'unreachable'
      ? `ClickHouse at ${run.engineTarget.display} did not take queries for ${Math.round((opts.outageTimeoutMs ?? 300_000) / 1000)} s (${result.reason ?? 'no answer'})`
      : null;
  const auto = cp.kind === 'auto' ? { final: d.concurrency, changes: autoChanges } : null;
  if (auto && ran.ok + ran.skipped + ran.error > 0) {
    try {
      recordAutoEnd(u.dir, run.engineTarget.target, auto.final, u.unit);
    } catch (err) {
      log(`${u.unit}: could not record where concurrency auto ended (the next unit searches from 2): ${String(err)}`);
    }
  }
  if (halt.halted) {
    const h = halt.halted;
    log(`${u.unit}: halted: every config failed with ${h.code ?? ''}${h.code !== null ? ' ' : ''}${h.name} (the first ${h.configs}); fix the template or its data, then run again`);
  }
  return { failure, runMs: performance.now() - runStart, halted: halt.halted ?? null, maxThreads: runner.maxThreads, auto };
}

// ---------------------------------------------------------------- summarise

function summary(
  run: UnitRun,
  file: FileState,
  r: {
    engineLabel: string | null;
    maxThreads: number | null;
    failure: string | null;
    runMs: number;
    halted: RunUnitSummary['halted'];
    movedAside: number;
    auto: RunUnitSummary['auto'];
  },
): RunUnitSummary {
  const ran = file.ran;
  const c = file.counts;
  return {
    sweep: run.u.sweep,
    unit: run.u.unit,
    results: run.u.resultsPath,
    target: run.engineTarget.target,
    setup: run.setup,
    engine: r.engineLabel,
    total: c.total,
    ok: c.ok,
    skipped: c.skipped,
    error: c.error,
    missing: c.total - c.ok - c.skipped - c.error,
    ran: { ...ran, queries_per_s: r.runMs > 0 ? round1(((ran.ok + ran.skipped + ran.error) * 1000) / r.runMs) : 0 },
    already_done: file.alreadyDone,
    rerun: file.plan.rerun,
    elapsed_s: round3((performance.now() - run.t0) / 1000),
    concurrency: run.concurrency,
    auto: r.auto,
    max_threads: r.maxThreads,
    interrupted: run.interrupted,
    halted: r.halted,
    failure: r.failure,
    file: { torn_bytes_cut: file.torn?.length ?? 0, bad_lines: file.badLines, records_moved_aside: r.movedAside, orphans: file.plan.orphans },
    log: run.logFile.path,
  };
}

function finish(run: UnitRun, s: RunUnitSummary): RunUnitSummary {
  run.log(finalLine(s, run.label));
  return s;
}

function finalLine(s: RunUnitSummary, label: string): string {
  const head = s.interrupted ? `stopped by ${s.interrupted}` : s.halted ? 'halted' : s.failure ? 'gave up' : s.missing === 0 ? 'done' : 'incomplete';
  return (
    `${s.unit}: ${head} in ${s.elapsed_s.toFixed(1)} s: ok ${s.ok}, skipped ${s.skipped}, error ${s.error}, missing ${s.missing} of ${s.total}` +
    ` (this run: ${s.ran.ok + s.ran.skipped + s.ran.error} at ${s.ran.queries_per_s} q/s, ${s.ran.retries} retries) -> ${label}` +
    (s.failure ? `\n${s.unit}: ${s.failure}` : '')
  );
}

function positiveInt(n: number, flag: string): number {
  if (!Number.isInteger(n) || n < 1) throw new UserError('FLAG_INVALID', `${flag}: expected a positive integer, found ${JSON.stringify(n)}`);
  return n;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
