import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { exitCodeOfRun, runSweepLocally, type RunSweepSummary } from '../run/run-sweep.js';
import { createTerminal, termStreamOf, type TermWrite } from '../term/live.js';
import { formatTable } from '../term/table.js';
import type { CliIo } from './main.js';

interface RunFlags {
  clickhouseUrl?: string;
  concurrency?: string;
  quiet?: boolean;
  json?: boolean;
}

export function registerRun(program: Command, io: CliIo): void {
  program
    .command('run <spec>')
    .description('everything on this machine: generate, run every unit, collect and validate (embedded ClickHouse when no server is given)')
    .option('--clickhouse-url <url>', 'a ClickHouse server (else env CLICKHOUSE_URL, else the spec, else embedded chDB)')
    .option('--concurrency <n>', 'queries at once (default: the spec, 16)')
    .option('--quiet', 'no progress and no notes: only the outcome (one line) and any errors')
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (spec: string, flags: RunFlags) => {
      const concurrency = flags.concurrency === undefined ? undefined : parsePositive(flags.concurrency, '--concurrency');
      const isTTY = process.stderr.isTTY === true && !flags.quiet;
      // On a terminal, every line goes above the live progress line instead of through it.
      const term = isTTY ? createTerminal(termStreamOf(io.stderr, process.stderr), { hideCursor: true }) : undefined;
      const write: TermWrite = flags.quiet ? () => {} : (term?.write ?? io.stderr);
      const stop = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        if (stop.signal.aborted) return;
        (term?.write ?? io.stderr)(`${term ? '' : '\n'}${sig}: finishing the running queries' records and stopping; run the same command again to resume\n`);
        stop.abort(sig);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const summary = await runSweepLocally({
          specPath: spec,
          ...(flags.clickhouseUrl ? { clickhouseUrl: flags.clickhouseUrl } : {}),
          ...(concurrency !== undefined ? { concurrency } : {}),
          write,
          isTTY,
          stop: stop.signal,
        });
        term?.region.dispose();
        if (flags.json) io.stdout(`${JSON.stringify(summary)}\n`);
        else io.stderr(flags.quiet ? formatRunOutcome(summary) : formatRunSummary(summary));
        process.exitCode = exitCodeOfRun(summary);
      } finally {
        term?.region.dispose();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

function parsePositive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UserError('USAGE', `${flag}: expected a positive integer, found ${JSON.stringify(value)}`);
  return n;
}

/** A path as the user can type it from here: relative below the current directory, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function stateOf(s: RunSweepSummary): string {
  return s.interrupted ? `interrupted (${s.interrupted}): run again to resume` : s.complete ? 'complete' : 'INCOMPLETE';
}

/** --quiet: the outcome in one line, and the errors if any. */
export function formatRunOutcome(s: RunSweepSummary): string {
  const lines = [`sweep ${s.sweep}: ${stateOf(s)}: ${s.configs} configs, ok ${s.ok}, skipped ${s.skipped}, error ${s.error}, missing ${s.missing}`];
  for (const e of s.errors.slice(0, 5)) lines.push(`  ${e.config}: ${e.name}${e.code !== null ? ` (${e.code})` : ''}: ${e.message.split('\n')[0]?.slice(0, 200)}`);
  return `${lines.join('\n')}\n`;
}

export function formatRunSummary(s: RunSweepSummary): string {
  const lines: string[] = [''];
  lines.push(`sweep ${s.sweep}: ${stateOf(s)}`);
  lines.push(
    formatTable(
      ['configs', 'ok', 'skipped', 'error', 'missing', 'wall time', 'queries/s'],
      [[s.configs, s.ok, s.skipped, s.error, s.missing, `${s.wall_s.toFixed(1)} s`, s.queries_per_s.toFixed(1)]],
    ),
  );
  if (s.slowest.length > 0) {
    lines.push('', 'slowest configs:');
    lines.push(formatTable(['config', 'status', 'elapsed'], s.slowest.map((x) => [x.config, x.status, `${x.elapsed_ms.toFixed(1)} ms`])));
  }
  if (s.errors.length > 0) {
    lines.push('', `errors (first ${s.errors.length}):`);
    for (const e of s.errors.slice(0, 5)) lines.push(`  ${e.config}: ${e.name}${e.code !== null ? ` (${e.code})` : ''}: ${e.message.split('\n')[0]?.slice(0, 200)}`);
  }
  lines.push(
    '',
    'outputs:',
    `  results (one record per config): ${shown(s.outputs.results)}`,
    `  rows (one line per result row):  ${shown(s.outputs.rows)}`,
    `  per-unit results:                ${shown(s.outputs.per_unit)}`,
    `  log:                             ${shown(s.outputs.log)}`,
    '',
  );
  return lines.join('\n');
}
