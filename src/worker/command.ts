/**
 * The worker's two commands as plain functions of their flag values, shared by
 * the CLI (`sweep run-unit`, commander) and the lean worker bundle's entry
 * (src/worker/main.ts, node's own parseArgs): one place turns flags into a run
 * and a run into output and an exit code.
 */
import { WorkFailed } from '../errors.js';
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
