import type { Command } from 'commander';
import { UserError, WorkFailed } from '../errors.js';
import { exitCodeOf, runUnit } from '../worker/run-unit.js';
import { parseOnly, type ConfigSelection } from '../worker/select.js';
import { collectValues, rerunFlag } from './flags.js';
import type { CliIo } from './io.js';

interface RunUnitFlags {
  dir: string;
  unit: string;
  clickhouseUrl?: string;
  concurrency?: string;
  maxThreads?: string;
  unitsAtOnce?: string;
  retryErrors: boolean;
  rerun?: string;
  only: string[];
  json?: boolean;
}

export function registerRunUnit(program: Command, io: CliIo): void {
  program
    .command('run-unit')
    .description("the worker: run one unit's configs, appending one record per config to <dir>/results/<unit>.ndjson")
    .requiredOption('--dir <dir>', "the sweep directory written by 'sweep generate'")
    .requiredOption('--unit <unit>', 'the unit id (a file name under <dir>/units/)')
    .option('--clickhouse-url <url>', 'ClickHouse HTTP URL (default: env CLICKHOUSE_URL, then the spec; none: embedded engine)')
    .option('--concurrency <n>', 'queries in flight (default: the spec, 16)')
    .option('--max-threads <n|auto>', 'max_threads per query (default: the spec, auto)')
    .option('--units-at-once <n>', 'units running at once on this host, for max_threads auto (default: the spec remote.parallel, 1)')
    .option('--no-retry-errors', 'keep configs whose record is an error instead of running them again')
    .option('--rerun <what>', 'run again besides configs without a record: errors (default), skipped (errors and skipped), all')
    .option('--only <key=value,...>', 'only configs with these params (repeat for alternatives)', collectValues, [] as string[])
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (flags: RunUnitFlags) => {
      const summary = await runUnit({
        dir: flags.dir,
        unit: flags.unit,
        ...(flags.clickhouseUrl !== undefined ? { clickhouseUrl: flags.clickhouseUrl } : {}),
        ...(flags.concurrency !== undefined ? { concurrency: intFlag('--concurrency', flags.concurrency) } : {}),
        ...(flags.maxThreads !== undefined ? { maxThreads: flags.maxThreads === 'auto' ? ('auto' as const) : intFlag('--max-threads', flags.maxThreads) } : {}),
        ...(flags.unitsAtOnce !== undefined ? { unitsAtOnce: intFlag('--units-at-once', flags.unitsAtOnce) } : {}),
        rerun: rerunFlag(flags.rerun, flags.retryErrors),
        ...(flags.only.length > 0 ? { only: parseOnly(flags.only) as ConfigSelection } : {}),
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
    });
}

function intFlag(flag: string, value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UserError('FLAG_INVALID', `${flag}: expected a positive integer${flag === '--max-threads' ? " or 'auto'" : ''}, found ${JSON.stringify(value)}`);
  }
  return n;
}

