import type { Command } from 'commander';
import { UserError } from '../errors.js';
import type { ReportSummary } from '../report/report.js';
import type { Aggregate } from '../report/model.js';
import type { CliIo } from './io.js';

interface ReportFlags {
  dir?: string;
  metric?: string;
  by?: string;
  filter?: string;
  aggregate?: string;
  out?: string;
  json?: boolean;
}

export function registerReport(program: Command, io: CliIo): void {
  program
    .command('report <spec>')
    .description('one self-contained HTML file: top configs, heatmaps of every pair of params, robustness per param, distribution, operations')
    .option('--metric <column>', "the numeric result column to plot (default: the spec's report.metric, else the first numeric column)")
    .option('--by <p1,p2,...>', 'the params to plot (default: every param with more than one value)')
    .option('--filter <condition>', "rows to keep, e.g. 'horizon = 20' (default: the spec's report.filter)")
    .option('--aggregate <how>', "mean, median, max or min: how configs (and a config's rows) combine (default: the spec's, else mean)")
    .option('--out <file>', 'the HTML file to write (default: <dir>/report.html)')
    .option('--dir <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (spec: string, flags: ReportFlags) => {
      const { writeReport } = await import('../report/report.js');
      const summary = await writeReport({
        specPath: spec,
        ...(flags.dir ? { outDir: flags.dir } : {}),
        ...(flags.metric !== undefined ? { metric: flags.metric } : {}),
        ...(flags.by !== undefined ? { by: byFlag(flags.by) } : {}),
        ...(flags.filter !== undefined ? { filter: flags.filter } : {}),
        ...(flags.aggregate !== undefined ? { aggregate: flags.aggregate as Aggregate } : {}),
        ...(flags.out ? { file: flags.out } : {}),
      });
      if (flags.json) io.stdout(`${JSON.stringify(summary)}\n`);
      else io.stdout(formatReportSummary(summary));
    });
}

function byFlag(value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UserError('FLAG_INVALID', `--by: expected param names separated by commas, found ${JSON.stringify(value)}`);
  return names;
}

export function formatReportSummary(s: ReportSummary): string {
  const lines = [
    `sweep ${s.sweep}: report of ${s.configs} configs (ok ${s.ok}, skipped ${s.skipped}, error ${s.error}, missing ${s.missing}); metric ${s.metric ?? '-'} for ${s.with_value} configs; ${s.charts} charts`,
    `wrote ${s.path} (${(s.bytes / 1024).toFixed(0)} KiB) in ${s.elapsed_s.toFixed(2)} s`,
  ];
  if (s.partial) lines.push(`note: ${s.partial}`);
  return `${lines.join('\n')}\n`;
}
