import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import type { RunSweepSummary } from '../run/run-sweep.js';
import { concurrencyFlag, positiveIntFlag, rerunFlag } from '../flags.js';
import type { ReportSummary } from '../report/report.js';
import { createTerminal, termStreamOf, type TermWrite } from '../term/live.js';
import { formatTable } from '../term/table.js';
import { collectValues } from './flags.js';
import type { CliIo } from './io.js';

interface RunFlags {
  out?: string;
  clickhouseUrl?: string;
  concurrency?: string;
  jobs?: string;
  pueue?: boolean;
  detach?: boolean;
  fresh?: boolean;
  rerun?: string;
  only: string[];
  setup?: boolean;
  limit?: string;
  refreshValues?: boolean;
  quiet?: boolean;
  report?: boolean;
  json?: boolean;
}

export function registerRun(program: Command, io: CliIo): void {
  program
    .command('run <spec>')
    .description('everything on this machine: generate, setup once, run every unit, validate and merge (embedded ClickHouse when no server is given)')
    .option('--out <dir>', 'output directory (default: out/<name> under the current directory)')
    .option('--clickhouse-url <url>', 'a ClickHouse server (else env CLICKHOUSE_URL, else the spec, else embedded chDB)')
    .option('--concurrency <n|auto>', "queries at once per unit, or 'auto' to seek the best (default: the spec, 16)")
    .option('--jobs <n>', 'units at once in this process (default 1; max_threads is sized for all of them)')
    .option('--pueue', 'queue the units in your own local pueue daemon instead (needs a server; sweep never starts the daemon)')
    .option('--detach', 'with --pueue: on Ctrl-C, leave the queued units running')
    .option('--fresh', 'move the current results aside (results/.previous/<time>/) and run every config again')
    .option('--rerun <what>', 'run again besides configs without a record: errors (default), skipped, all')
    .option('--only <key=value,...>', 'only configs with these params (repeat for alternatives)', collectValues, [] as string[])
    .option('--setup', "run the spec's setup again (never while units of the sweep are queued or running)")
    .option('--quiet', 'no progress and no notes: only the outcome (one line) and any errors')
    .option('--report', 'write the HTML report (sweep report) at the end')
    .option('--limit <n>', 'a smoke run: only n configs, spread over the units (marked in the manifest)')
    .option('--refresh-values', 'read {file}, {csv} and {sql} param values again instead of the frozen ones')
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (spec: string, flags: RunFlags) => {
      const { exitCodeOfRun, runSweepLocally } = await import('../run/run-sweep.js');
      const { writeReport } = await import('../report/report.js');
      const concurrency = flags.concurrency === undefined ? undefined : concurrencyFlag(flags.concurrency);
      const limit = flags.limit === undefined ? undefined : positiveIntFlag('--limit', flags.limit);
      const jobs = flags.jobs === undefined ? undefined : positiveIntFlag('--jobs', flags.jobs);
      const isTTY = process.stderr.isTTY === true && !flags.quiet;
      // On a terminal, every line goes above the live progress line instead of through it.
      const term = isTTY ? createTerminal(termStreamOf(io.stderr, process.stderr), { hideCursor: true }) : undefined;
      const write: TermWrite = flags.quiet ? () => {} : (term?.write ?? io.stderr);
      const stop = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        if (stop.signal.aborted) {
          // A second signal: leave now; records already written are kept (appends are whole lines).
          process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
        }
        (term?.write ?? io.stderr)(`${term ? '' : '\n'}${sig}: stopping: no new queries, the running ones cancelled on the server, finished records kept; run the same command again to resume\n`);
        stop.abort(sig);
      };
      const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
      for (const sig of signals) process.on(sig, onSignal);
      try {
        const summary = await runSweepLocally({
          specPath: spec,
          ...(flags.out ? { outDir: flags.out } : {}),
          ...(flags.clickhouseUrl ? { clickhouseUrl: flags.clickhouseUrl } : {}),
          ...(concurrency !== undefined ? { concurrency } : {}),
          ...(jobs !== undefined ? { jobs } : {}),
          pueue: flags.pueue === true,
          detach: flags.detach === true,
          fresh: flags.fresh === true,
          rerun: rerunFlag(flags.rerun),
          only: flags.only,
          setup: flags.setup === true,
          ...(limit !== undefined ? { limit } : {}),
          refreshValues: flags.refreshValues === true,
          write,
          isTTY,
          stop: stop.signal,
        });
        term?.region.dispose();
        // The report of whatever finished, also after an interruption or with configs in error.
        const report: ReportSummary | null = flags.report ? await writeReport({ specPath: spec, outDir: summary.outputs.dir }) : null;
        if (flags.json) io.stdout(`${JSON.stringify({ ...summary, report })}\n`);
        else io.stdout(flags.quiet ? formatRunOutcome(summary) : formatRunSummary(summary, report));
        process.exitCode = exitCodeOfRun(summary);
      } finally {
        term?.region.dispose();
        for (const sig of signals) process.off(sig, onSignal);
      }
    });
}

/** A path as the user can type it from here: relative below the current directory, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function stateOf(s: RunSweepSummary): string {
  return s.interrupted
    ? s.detached
      ? `interrupted (${s.interrupted}); the units keep running in pueue (--detach)`
      : `interrupted (${s.interrupted}): run again to resume`
    : s.complete
      ? s.limit
        ? `complete as a smoke run (--limit: ${s.limit.n} of the grid's ${s.limit.of} configs; run without --limit for the whole grid)`
        : 'complete'
      : 'INCOMPLETE';
}

/** --quiet: the outcome in one line, and the errors if any. */
export function formatRunOutcome(s: RunSweepSummary): string {
  const lines = [`sweep ${s.sweep}: ${stateOf(s)}: ${s.configs} configs, ok ${s.ok}, skipped ${s.skipped}, error ${s.error}, missing ${s.missing}${s.missing_shapes.length > 0 ? `, result shapes lost ${s.missing_shapes.length} (run again with --fresh)` : ''}`];
  for (const e of s.errors.slice(0, 5)) lines.push(`  ${e.config}: ${e.name}${e.code !== null ? ` (${e.code})` : ''}: ${e.message.split('\n')[0]?.slice(0, 200)}`);
  return `${lines.join('\n')}\n`;
}

export function formatRunSummary(s: RunSweepSummary, report: ReportSummary | null = null): string {
  const lines: string[] = [''];
  lines.push(`sweep ${s.sweep}: ${stateOf(s)}`);
  if (s.missing_shapes.length > 0) {
    lines.push(`${s.missing_shapes.length} result shape(s) named by the records are in no shapes file (results/shapes/<unit>.ndjson lost or edited: ${s.missing_shapes.slice(0, 3).join(', ')}), so their column types are unknown; run again with --fresh`);
  }
  lines.push(`target: ${s.target}${s.mode === 'pueue' ? ' (units in your pueue daemon)' : s.jobs > 1 ? ` (${s.jobs} units at once)` : ''}`);
  const r = s.rerun;
  const reasons = [
    r.target ? `${r.target} target changed` : '',
    r.setup ? `${r.setup} setup changed` : '',
    r.changed ? `${r.changed} SQL changed` : '',
    r.error ? `${r.error} retrying errors` : '',
    r.requested ? `${r.requested} asked for (--rerun)` : '',
  ].filter(Boolean);
  if (reasons.length > 0) lines.push(`run again: ${reasons.join(', ')}`);
  for (const h of s.halted) lines.push(`halted: ${h.unit}: every config failed with ${h.code !== null ? `${h.code} ` : ''}${h.name} (the first ${h.configs}); fix the template, then run again`);
  lines.push(
    formatTable(
      ['configs', 'ok', 'skipped', 'error', 'missing', 'wall time', 'queries/s'],
      [[s.configs, s.ok, s.skipped, s.error, s.missing, `${s.wall_s.toFixed(1)} s`, `${s.queries_per_s.toFixed(1)} (${s.ran} run now)`]],
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
    `  worker logs (one per unit):      ${shown(s.outputs.logs)}`,
    report
      ? `  report (written):                ${shown(report.path)}`
      : `  report (--report, sweep report): ${shown(s.outputs.report)}`,
    '',
  );
  return lines.join('\n');
}
