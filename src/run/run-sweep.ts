/**
 * `sweep run`: the whole pipeline on this machine, with the same code and files
 * as the remote path, holding the sweep dir's lock throughout:
 *
 *   generate -> choose the engine (target) -> --fresh: move results aside ->
 *   setup, once per target (never under running units) -> the units ->
 *   validate and merge as collect does (records of other targets do not count)
 *
 * The units run in this process by default (`--jobs N` at once, sharing one
 * engine), or with `--pueue` as tasks of the user's own local pueue daemon
 * through exactly the remote tier's code. A signal (Ctrl-C, SIGTERM, SIGHUP)
 * stops what this run started, pueue tasks included, unless `--detach`.
 */
import { appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chooseEngine, type EngineChoice } from '../engine/choice.js';
import { createEngine, type Engine } from '../engine/index.js';
import { UserError } from '../errors.js';
import { checkOutDir, defaultOutDir, generate, prepareSweep } from '../generate/generate.js';
import { readManifestHead } from '../remote/context.js';
import { defaultReportPath } from '../report/report.js';
import { forEachLine } from '../results/ndjson.js';
import { moveResultsAside } from '../results/aside.js';
import { mergeResults, type MergeReport } from '../results/merge.js';
import { liveUnits, runSetup, type SetupOutcome } from '../setup/setup.js';
import { concurrencyCeiling, type ConcurrencySetting } from '../spec/concurrency.js';
import type { Spec } from '../spec/schema.js';
import { acquireSweepLock } from '../worker/lock.js';
import { exitCodeOf, runUnit, type RunUnitSummary } from '../worker/run-unit.js';
import { parseOnly, unitsSelecting } from '../worker/select.js';
import { SIGNAL_EXIT_CODE, type StopSignal } from '../worker/signals.js';
import { emptyReasons, type RerunMode, type RerunReasons } from '../worker/todo.js';
import { localSweepTasks, runThroughPueue } from './run-pueue.js';
import { createProgressView, type OverallCounts } from './view.js';

export interface RunSweepOptions {
  specPath: string;
  cwd?: string;
  /** generate's --out (default out/<name>). */
  outDir?: string;
  clickhouseUrl?: string;
  /** Queries in flight per unit: a number or 'auto' (default: the spec's). */
  concurrency?: ConcurrencySetting;
  /** Units at once in this process (default 1). */
  jobs?: number;
  /** Queue the units in the user's local pueue daemon instead of running them here. */
  pueue?: boolean;
  /** With `pueue`: on a signal, leave the queued tasks running and say how to follow them. */
  detach?: boolean;
  /** Move the current results aside and run every config again. */
  fresh?: boolean;
  rerun?: RerunMode;
  /** --only values. */
  only?: readonly string[];
  /** --setup: run the setup again even though it is current. */
  setup?: boolean;
  /** --limit N: a smoke run of N configs spread over the units (generate's --limit). */
  limit?: number;
  /** --refresh-values: read {file}/{csv}/{sql} param values again instead of the frozen ones. */
  refreshValues?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Human output (progress, notes); the summary is the caller's to print. */
  write?: (text: string) => void;
  isTTY?: boolean;
  /** Aborting stops the run gracefully, as SIGINT does; the reason names the signal. */
  stop?: AbortSignal;
}

export interface RunSweepSummary {
  sweep: string;
  engine: { kind: 'http' | 'embedded'; version: string; where: string };
  /** Where the queries ran (records of other targets do not count). */
  target: string;
  mode: 'in-process' | 'pueue';
  jobs: number;
  setup: SetupOutcome;
  configs: number;
  /** --limit: a smoke run of n configs out of the grid's `of` (complete means these n); null for the whole grid. */
  limit: { n: number; of: number } | null;
  units: number;
  ok: number;
  skipped: number;
  error: number;
  missing: number;
  /** Configs run again although they had a record, by reason (target changed, SQL changed, ...). */
  rerun: RerunReasons;
  /** Configs this run ran. */
  ran: number;
  wall_s: number;
  /** Over what this run ran, not over records that stood from earlier runs. */
  queries_per_s: number;
  halted: Array<{ unit: string; code: number | null; name: string; configs: number }>;
  slowest: Array<{ config: string; unit: string; elapsed_ms: number; status: string }>;
  errors: MergeReport['errors'];
  /** Set with --fresh: where the earlier results went. */
  moved_aside: string | null;
  /** `report`: where `sweep report` (or `sweep run --report`) writes the HTML report. */
  outputs: { dir: string; results: string; rows: string; per_unit: string; log: string; logs: string; report: string };
  interrupted: StopSignal | null;
  /** With --pueue --detach after a signal: the tasks left running. */
  detached: boolean;
  complete: boolean;
  /** `unit: shape` ids kept records name that no shapes file holds (lost or edited): not complete. */
  missing_shapes: string[];
}

export function exitCodeOfRun(s: RunSweepSummary): number {
  if (s.interrupted) return SIGNAL_EXIT_CODE[s.interrupted];
  return s.complete ? 0 : 1;
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
      throw new UserError('ENGINE_UNAVAILABLE', `the embedded engine (chDB) did not start: ${why}; pass --clickhouse-url to use a server instead`);
    }
    throw new UserError('CLICKHOUSE_UNREACHABLE', `${choice.from} ${choice.display}: expected a ClickHouse server answering, found ${why}`);
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

/** What every way of running the units shares. */
export interface RunContext {
  opts: RunSweepOptions;
  cwd: string;
  env: NodeJS.ProcessEnv;
  write: (text: string) => void;
  spec: Spec;
  outDir: string;
  units: ReadonlyArray<{ id: string; configs: number }>;
  choice: EngineChoice;
  version: string;
  logPath: string;
  log: (line: string) => void;
  configs: number;
  /** --limit: a smoke run of n configs out of the grid's `of`; null for the whole grid. */
  limit: { n: number; of: number } | null;
  t0: number;
  concurrency: ConcurrencySetting;
  jobs: number;
  rerun: RerunMode;
  setup: SetupOutcome;
  movedAside: string | null;
}

/** How the units ended, whichever way they ran. */
export interface UnitsOutcome {
  ran: number;
  rerun: RerunReasons;
  halted: RunSweepSummary['halted'];
  interrupted: StopSignal | null;
  detached: boolean;
}

export async function runSweepLocally(opts: RunSweepOptions): Promise<RunSweepSummary> {
  const t0 = performance.now();
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const write = opts.write ?? ((t: string) => process.stderr.write(t));
  // Validate everything (spec, template, values, flags, engine URL) before writing anything.
  // Frozen param values live in the sweep dir, and {sql} values are read from the target this run uses.
  const prepared = await prepareSweep(opts.specPath, cwd, {
    outDir: opts.outDir,
    env,
    clickhouseUrl: opts.clickhouseUrl,
    limit: opts.limit,
    refreshValues: opts.refreshValues,
  });
  const spec = prepared.loaded.spec;
  const concurrency = opts.concurrency ?? spec.worker.concurrency;
  const jobs = opts.jobs ?? 1;
  if (opts.pueue && opts.jobs !== undefined) throw new UserError('FLAG_INVALID', '--jobs: expected it without --pueue (with --pueue, remote.parallel of the spec sets how many units run at once), found both');
  if (opts.detach && !opts.pueue) throw new UserError('FLAG_INVALID', '--detach: expected it with --pueue (in-process units cannot outlive this command), found it alone');
  const only = parseOnly(opts.only ?? [], Object.keys(spec.params));
  const outDir = opts.outDir ? resolve(cwd, opts.outDir) : defaultOutDir(spec, cwd);
  // The embedded engine is one process's (its data dir); pueue tasks are separate processes.
  const choice = chooseEngine({ spec, sweepDir: outDir, flagUrl: opts.clickhouseUrl, env, concurrency: concurrencyCeiling(concurrency) * jobs, refusePassword: true });
  if (opts.pueue && choice.kind === 'embedded') {
    throw new UserError('FLAG_INVALID', '--pueue: expected a ClickHouse server (--clickhouse-url, CLICKHOUSE_URL or clickhouse.url): the embedded engine lives in one process, so its units run in this one');
  }
  checkOutDir(outDir);
  const lock = await acquireSweepLock(outDir, `sweep run ${opts.specPath}`);
  try {
    const gen = await generate({ specPath: opts.specPath, cwd, outDir, prepared, lockHeld: true });
    for (const note of gen.notes) write(`${note}\n`);
    for (const w of gen.warnings) write(`warning: ${w}\n`);
    const logPath = join(outDir, 'run.log');
    const log = (line: string) => appendFileSync(logPath, `${new Date().toISOString()} ${line}\n`);
    const { engine, version } = await connect(choice);
    const engineName = choice.kind === 'embedded' ? `embedded chDB (ClickHouse ${version})` : `ClickHouse ${version} at ${choice.display}`;
    try {
      write(`sweep run ${spec.name}: ${gen.configs} configs in ${gen.units} unit${gen.units === 1 ? '' : 's'}; engine: ${engineName}\n`);
      log(`run: engine ${engineName}; target ${choice.target}; ${gen.configs} configs in ${gen.units} unit${gen.units === 1 ? '' : 's'}`);
      const units = readManifestHead(outDir, opts.specPath).units;
      if (only) unitsSelecting(outDir, units.map((u) => u.id), only);
      // Units of this sweep queued or running anywhere on this machine: nothing that rewrites data or results may happen under them.
      const queued = await localSweepTasks(spec, env);
      const busy = (): string[] => [...new Set([...queued, ...liveUnits(outDir)])].sort();
      let movedAside: string | null = null;
      if (opts.fresh) {
        const active = busy();
        if (active.length > 0) throw busyError('--fresh', active);
        const moved = moveResultsAside(outDir);
        movedAside = moved?.dir ?? null;
        if (moved) write(`--fresh: ${moved.entries} result file(s) moved aside to ${moved.dir}\n`);
      }
      const setup = await runSetup({
        sweepDir: outDir,
        target: choice.target,
        engine,
        engineLabel: `${engine.kind} ${version}`,
        force: opts.setup === true,
        activeUnits: queued,
        label: spec.setup ?? 'setup',
        ...(opts.stop ? { signal: opts.stop } : {}),
      });
      if (setup.action === 'run') write(`setup: ${setup.statements} statement(s) from ${spec.setup} in ${(setup.elapsed_ms / 1000).toFixed(1)} s (${setup.reason})\n`);
      else if (setup.action === 'current') write(`setup: already ran on this target (${setup.reason}); --setup runs it again\n`);
      log(`setup: ${setup.action} (${setup.reason})`);

      const ctx: RunContext = {
        opts,
        cwd,
        env,
        write,
        spec,
        outDir,
        units,
        choice,
        version,
        logPath,
        log,
        configs: gen.configs,
        limit: gen.limit,
        t0,
        concurrency,
        jobs,
        rerun: opts.rerun ?? 'errors',
        setup,
        movedAside,
      };
      const outcome = opts.pueue ? await runThroughPueue(ctx, only?.flags ?? []) : await runInProcess(ctx, engine, only);
      return await finish(ctx, outcome);
    } finally {
      await engine.close();
    }
  } finally {
    await lock.release();
  }
}

function busyError(flag: string, units: string[]): UserError {
  return new UserError(
    'SWEEP_ACTIVE',
    `${flag}: expected no unit of this sweep queued or running, found ${units.length}: ${units.slice(0, 5).join(', ')}${units.length > 5 ? ', ...' : ''}; wait for them or 'sweep stop' the sweep first`,
  );
}

/** `jobs` units at a time in this process, sharing one engine (sized for all of them). */
async function runInProcess(ctx: RunContext, engine: Engine, only: ReturnType<typeof parseOnly>): Promise<UnitsOutcome> {
  const { opts, units, write } = ctx;
  const view = createProgressView(write, opts.isTTY ?? false);
  const latest = new Map<string, { ok: number; skipped: number; error: number }>();
  let unitsDone = 0;
  const show = (): void => {
    const c = { ok: 0, skipped: 0, error: 0 };
    for (const v of latest.values()) {
      c.ok += v.ok;
      c.skipped += v.skipped;
      c.error += v.error;
    }
    const overall: OverallCounts = { total: ctx.configs, ...c, unitsDone, units: units.length };
    view.update(overall);
  };
  const outcome: UnitsOutcome = { ran: 0, rerun: emptyReasons(), halted: [], interrupted: null, detached: false };
  let announcedThreads = false;
  let giveUp: string | undefined;
  const pending = [...units];
  const worker = async (): Promise<void> => {
    for (let unit = pending.shift(); unit; unit = pending.shift()) {
      if (opts.stop?.aborted || giveUp) return;
      const s: RunUnitSummary = await runUnit({
        dir: ctx.outDir,
        unit: unit.id,
        engine: { engine, target: ctx.choice.target, display: ctx.choice.display },
        concurrency: ctx.concurrency,
        unitsAtOnce: ctx.jobs,
        rerun: ctx.rerun,
        ...(only ? { only } : {}),
        env: ctx.env,
        cwd: ctx.cwd,
        progressIntervalMs: 0,
        handleSignals: false,
        ...(opts.stop ? { stop: opts.stop } : {}),
        log: (line) => {
          ctx.log(line);
          if (!announcedThreads && /max_threads/.test(line)) {
            announcedThreads = true;
            view.close();
            write(`${line.replace(/^[^:]*: /, '')}\n`);
          }
        },
        onProgress: (c) => {
          latest.set(unit.id, c);
          show();
        },
      });
      latest.set(unit.id, s);
      unitsDone++;
      show();
      outcome.ran += s.ran.ok + s.ran.skipped + s.ran.error;
      for (const k of Object.keys(outcome.rerun) as Array<keyof RerunReasons>) outcome.rerun[k] += s.rerun[k];
      if (s.halted) {
        outcome.halted.push({ unit: s.unit, ...s.halted });
        view.close();
        write(`${s.unit}: halted: every config failed with ${s.halted.code !== null ? `${s.halted.code} ` : ''}${s.halted.name} (the first ${s.halted.configs})\n`);
      }
      if (s.interrupted) outcome.interrupted ??= s.interrupted;
      if (s.failure) {
        view.close();
        write(`${unit.id}: ${s.failure}\n`);
        // The server itself is gone: the other units would only wait out the same outage.
        if (exitCodeOf(s) !== 0 && /did not take queries|unreachable|did not answer/i.test(s.failure)) giveUp = s.failure;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(ctx.jobs, units.length) }, () => worker()));
  view.close();
  if (opts.stop?.aborted) outcome.interrupted ??= stopSignalOf(opts.stop);
  return outcome;
}

export function stopSignalOf(signal: AbortSignal): StopSignal {
  const r = signal.reason;
  return r === 'SIGTERM' || r === 'SIGHUP' ? r : 'SIGINT';
}

/** Validate and merge as collect does (only records of this target and setup count), and build the summary. */
async function finish(ctx: RunContext, o: UnitsOutcome): Promise<RunSweepSummary> {
  const { spec, outDir, units, choice, version, logPath, t0 } = ctx;
  const merged = await mergeResults({ sweep: spec.name, outDir, units, current: { target: choice.target, setup: ctx.setup.generation } });
  const wall = (performance.now() - t0) / 1000;
  return {
    sweep: spec.name,
    engine: { kind: choice.kind, version, where: choice.kind === 'embedded' ? (choice.options.kind === 'embedded' ? choice.options.path : '') : choice.display },
    target: choice.target,
    mode: ctx.opts.pueue ? 'pueue' : 'in-process',
    jobs: ctx.jobs,
    setup: ctx.setup,
    configs: ctx.configs,
    limit: ctx.limit,
    units: units.length,
    ok: merged.totals.ok,
    skipped: merged.totals.skipped,
    error: merged.totals.error,
    missing: merged.totals.missing,
    rerun: o.rerun,
    ran: o.ran,
    wall_s: Math.round(wall * 1000) / 1000,
    queries_per_s: Number((o.ran / wall).toFixed(1)),
    halted: o.halted,
    slowest: await slowestConfigs(merged.files.results, 5),
    errors: merged.errors,
    moved_aside: ctx.movedAside,
    outputs: { dir: outDir, results: merged.files.results, rows: merged.files.rows, per_unit: join(outDir, 'results'), log: logPath, logs: join(outDir, 'logs'), report: defaultReportPath(outDir) },
    interrupted: o.interrupted,
    detached: o.detached,
    missing_shapes: merged.missing_shapes,
    complete: merged.complete && !o.interrupted,
  };
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
