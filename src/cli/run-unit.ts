/** `sweep run-unit`: the worker, as the CLI offers it (the bundle's own entry is src/worker/main.ts). */
import type { Command } from 'commander';
import { collectValues } from './flags.js';
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
    .option('--concurrency <n|auto>', "queries in flight, or 'auto' to seek the best (default: the spec, 16)")
    .option('--max-threads <n|auto>', 'max_threads per query (default: the spec, auto)')
    .option('--units-at-once <n>', 'units running at once on this host, for max_threads auto (default: the spec remote.parallel, 1)')
    .option('--no-retry-errors', 'keep configs whose record is an error instead of running them again')
    .option('--rerun <what>', 'run again besides configs without a record: errors (default), skipped (errors and skipped), all')
    .option('--only <key=value,...>', 'only configs with these params (repeat for alternatives)', collectValues, [] as string[])
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (flags: RunUnitFlags) => (await import('../worker/command.js')).runUnitCommand(flags, io));
}
