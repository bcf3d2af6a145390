import type { Command } from 'commander';
import { exitCodeOfRun, runSweepLocally, type RunSweepSummary } from '../run/run-sweep.js';
import { writeReport, type ReportSummary } from '../report/report.js';
import { formatTable } from '../run/view.js';
import { collectValues, positiveIntFlag, rerunFlag } from './flags.js';
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
  report?: boolean;
  json?: boolean;
}

export function registerRun(program: Command, io: CliIo): void {
  program
    .command('run <spec>')
    .description('everything on this machine: generate, setup once, run every unit, validate and merge (embedded ClickHouse when no server is given)')
    .option('--out <dir>', 'output directory (default: out/<name> under the current directory)')
    .option('--clickhouse-url <url>', 'a ClickHouse server (else env CLICKHOUSE_URL, else the spec, else embedded chDB)')
    .option('--concurrency <n>', 'queries at once per unit (default: the spec, 16)')
    .option('--jobs <n>', 'units at once in this process (default 1; max_threads is sized for all of them)')
    .option('--pueue', 'queue the units in your own local pueue daemon instead (needs a server; sweep never starts the daemon)')
    .option('--detach', 'with --pueue: on Ctrl-C, leave the queued units running')
    .option('--fresh', 'move the current results aside (results/.previous/<time>/) and run every config again')
    .option('--rerun <what>', 'run again besides configs without a record: errors (default), skipped, all')
    .option('--only <key=value,...>', 'only configs with these params (repeat for alternatives)', collectValues, [] as string[])
    .option('--setup', "run the spec's setup again (never while units of the sweep are queued or running)")
    .option('--report', 'write the HTML report (sweep report) at the end')
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (spec: string, flags: RunFlags) => {
      const concurrency = flags.concurrency === undefined ? undefined : positiveIntFlag('--concurrency', flags.concurrency);
      const jobs = flags.jobs === undefined ? undefined : positiveIntFlag('--jobs', flags.jobs);
      const stop = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        if (stop.signal.aborted) {
          // A second signal: leave now; records already written are kept (appends are whole lines).
          process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
        }
        io.stderr(`\n${sig}: stopping: no new queries, the running ones cancelled on the server, finished records kept; run the same command again to resume\n`);
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
          write: io.stderr,
          isTTY: process.stderr.isTTY === true,
          stop: stop.signal,
        });
        // The report of whatever finished, also after an interruption or with configs in error.
        const report: ReportSummary | null = flags.report ? await writeReport({ specPath: spec, outDir: summary.outputs.dir }) : null;
        if (flags.json) io.stdout(`${JSON.stringify({ ...summary, report })}\n`);
        else io.stdout(formatRunSummary(summary, report));
        process.exitCode = exitCodeOfRun(summary);
      } finally {
        for (const sig of signals) process.off(sig, onSignal);
      }
    });
}

export function formatRunSummary(s: RunSweepSummary, report: ReportSummary | null = null): string {
  const lines: string[] = [''];
  const state = s.interrupted
    ? s.detached
      ? `interrupted (${s.interrupted}); the units keep running in pueue (--detach)`
      : `interrupted (${s.interrupted}): run again to resume`
    : s.complete
      ? 'complete'
      : 'INCOMPLETE';
  lines.push(`sweep ${s.sweep}: ${state}`);
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
    `  results (one record per config): ${s.outputs.results}`,
    `  rows (one line per result row):  ${s.outputs.rows}`,
    `  per-unit results:                ${s.outputs.per_unit}`,
    `  log:                             ${s.outputs.log}`,
    `  worker logs (one per unit):      ${s.outputs.logs}`,
    report
      ? `  report (written):                ${report.path}`
      : `  report (--report, sweep report): ${s.outputs.report}`,
    '',
  );
  return lines.join('\n');
}
