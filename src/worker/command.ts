/**
 * The worker's two commands as plain functions of their flag values, shared by
 * the CLI (`sweep run-unit`, commander) and the lean worker bundle's entry
 * (src/worker/main.ts, node's own parseArgs): one place turns flags into a run
 * and a run into output and an exit code.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PEAK_MEMORY_FILE, runController } from '../autoscale/controller.js';
import { UserError, WorkFailed } from '../errors.js';
import { concurrencyFlag, positiveIntFlag, rerunFlag } from '../flags.js';
import { runSetupInDir } from '../setup/setup-dir.js';
import { exitCodeOf, runUnit } from './run-unit.js';
import { parseOnly } from './select.js';

export interface Out {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface RunUnitFlags {
  dir: string;
  unit: string;
  clickhouseUrl?: string | undefined;
  concurrency?: string | undefined;
  maxThreads?: string | undefined;
  unitsAtOnce?: string | undefined;
  /** false with --no-retry-errors. */
  retryErrors: boolean;
  rerun?: string | undefined;
  only: readonly string[];
  json?: boolean | undefined;
}

/** Run one unit as its pueue task does; sets process.exitCode for a signal, throws WorkFailed for errors or missing configs. */
export async function runUnitCommand(flags: RunUnitFlags, io: Out): Promise<void> {
  const only = parseOnly(flags.only);
  const summary = await runUnit({
    dir: flags.dir,
    unit: flags.unit,
    ...(flags.clickhouseUrl !== undefined ? { clickhouseUrl: flags.clickhouseUrl } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: concurrencyFlag(flags.concurrency) } : {}),
    ...(flags.maxThreads !== undefined ? { maxThreads: flags.maxThreads === 'auto' ? ('auto' as const) : positiveIntFlag('--max-threads', flags.maxThreads, true) } : {}),
    ...(flags.unitsAtOnce !== undefined ? { unitsAtOnce: positiveIntFlag('--units-at-once', flags.unitsAtOnce) } : {}),
    rerun: rerunFlag(flags.rerun, flags.retryErrors),
    ...(only ? { only } : {}),
    log: (line) => io.stderr(`${line}\n`),
    handleSignals: true,
    // This process exists to run the unit: tune V8 for it (SWEEP_JIT=default opts out).
    deferOptimizingJit: process.env['SWEEP_JIT'] !== 'default',
  });
  if (flags.json) io.stdout(`${JSON.stringify(summary)}\n`);
  recordPeakMemory(flags.dir, summary.sweep, summary.unit);
  const code = exitCodeOf(summary);
  if (summary.interrupted) {
    process.exitCode = code;
    return;
  }
  if (code !== 0) {
    const h = summary.halted;
    throw new WorkFailed(
      summary.failure ??
        (h
          ? `unit ${summary.unit}: halted: every config failed with ${h.code !== null ? `${h.code} ` : ''}${h.name} (the first ${h.configs} of this run); fix the template or its data, then run again`
          : `unit ${summary.unit}: ${summary.error} config(s) ended in error${summary.missing ? `, ${summary.missing} have no record` : ''} (see ${summary.results})`),
    );
  }
}

export interface SetupFlags {
  dir: string;
  clickhouseUrl?: string | undefined;
  force?: boolean | undefined;
  json?: boolean | undefined;
}

/** Run a sweep dir's setup.sql on its target once (submit-all runs this on the host). */
export async function setupTargetCommand(flags: SetupFlags, io: Out): Promise<void> {
  const outcome = await runSetupInDir({ dir: flags.dir, clickhouseUrl: flags.clickhouseUrl, force: flags.force === true });
  if (flags.json) io.stdout(`${JSON.stringify(outcome)}\n`);
  else io.stdout(`setup on ${outcome.target}: ${outcome.action} (${outcome.reason})${outcome.action === 'run' ? `, ${outcome.statements} statement(s) in ${outcome.elapsed_ms} ms` : ''}\n`);
}

/**
 * This process's peak RSS, appended to `<dir>/logs/peak-memory.ndjson` (one
 * short line, O_APPEND: whole lines even with many workers): the autoscale
 * controller never raises parallelism while free memory is below twice the
 * most a unit has used. Best effort: a full disk must not fail the unit.
 */
function recordPeakMemory(dir: string, sweep: string, unit: string): void {
  try {
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const line = { sweep, unit, peak_rss_bytes: process.resourceUsage().maxRSS * 1024, at: new Date().toISOString() };
    appendFileSync(join(dir, 'logs', PEAK_MEMORY_FILE), `${JSON.stringify(line)}\n`);
  } catch {
    // the controller then goes by the live workers it sees
  }
}

export interface AutoscaleFlags {
  dir?: string | undefined;
  sweep?: string | undefined;
  group?: string | undefined;
  min?: string | undefined;
  max?: string | undefined;
  'interval-s'?: string | undefined;
  'cpu-high'?: string | undefined;
  'cpu-low'?: string | undefined;
  'mem-high'?: string | undefined;
  'mem-low'?: string | undefined;
  pueue?: string | undefined;
  'pueue-config'?: string | undefined;
  'clickhouse-url'?: string | undefined;
  user?: string | undefined;
  database?: string | undefined;
}

/** The autoscale controller of one host (submit-all queues it as a pueue task); exits when the sweep has nothing queued or running there, or on SIGTERM. */
export async function autoscaleCommand(flags: AutoscaleFlags, io: Out): Promise<void> {
  const need = (k: keyof AutoscaleFlags): string => {
    const v = flags[k];
    if (v === undefined || v === '') throw new UserError('FLAG_INVALID', `autoscale: required option '--${k}' not specified`);
    return v;
  };
  const fraction = (k: keyof AutoscaleFlags): number => {
    const v = Number(need(k));
    if (!Number.isFinite(v) || v <= 0) throw new UserError('FLAG_INVALID', `--${k}: expected a positive number, found ${JSON.stringify(flags[k])}`);
    return v;
  };
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await runController({
      sweepDir: need('dir'),
      sweep: need('sweep'),
      group: need('group'),
      min: positiveIntFlag('--min', need('min')),
      max: positiveIntFlag('--max', need('max')),
      intervalS: fraction('interval-s'),
      thresholds: { cpu_high: fraction('cpu-high'), cpu_low: fraction('cpu-low'), mem_high: fraction('mem-high'), mem_low: fraction('mem-low') },
      pueue: { bin: need('pueue'), config: flags['pueue-config'] ?? null },
      clickhouse: flags['clickhouse-url'] ? { url: flags['clickhouse-url'], user: flags.user ?? 'default', database: flags.database ?? 'default' } : null,
      stop: stop.signal,
      log: (line) => io.stderr(`${line}\n`),
    });
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
