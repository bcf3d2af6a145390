import type { Command } from 'commander';
import { WorkFailed } from '../errors.js';
import type { CollectReport } from '../remote/collect.js';
import { formatTable } from '../term/table.js';
import type { CliIo } from './io.js';

interface CollectFlags {
  out?: string;
  allowPartial?: boolean;
  report?: boolean;
  json?: boolean;
}

export function registerCollect(program: Command, io: CliIo): void {
  program
    .command('collect <spec>')
    .description("bring the results back (one rsync per host, each into out/<name>/hosts/<host>/), validate them against the manifest, write results.ndjson and rows.ndjson")
    .option('--out <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('--allow-partial', 'exit 0 even when configs are missing or in error')
    .option('--report', 'write the HTML report (sweep report) of what was collected')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (spec: string, flags: CollectFlags) => {
      const { collect } = await import('../remote/collect.js');
      const { writeReport } = await import('../report/report.js');
      const report = await collect({ specPath: spec, outDir: flags.out, log: (line) => io.stderr(`${line}\n`) });
      const html = flags.report ? await writeReport({ specPath: spec, outDir: report.out }) : null;
      if (flags.json) io.stdout(`${JSON.stringify({ ...report, html_report: html })}\n`);
      else io.stdout(formatCollect(report) + (html ? `report written: ${html.path}\n` : `report (--report, sweep report): ${report.report}\n`));
      if (!report.complete && !flags.allowPartial) {
        const lost = report.missing_shapes.length > 0 ? `, ${report.missing_shapes.length} result shape(s) in no shapes file (see the units above)` : '';
        throw new WorkFailed(`incomplete: ${report.totals.missing} config(s) missing, ${report.totals.error} in error${lost}; 'sweep submit-all' retries them (--allow-partial accepts the partial results)`);
      }
    });
}

export function formatCollect(r: CollectReport): string {
  const out: string[] = [];
  const t = r.totals;
  for (const h of r.hosts) {
    const got = h.reachable ? (h.sync ? ` (${h.sync.files} file(s) updated)` : '') : ` (did not answer: ${h.why ?? ''}; the earlier copy)`;
    out.push(`sweep ${r.sweep}: results from ${h.host}:${h.dir}/results -> ${h.local}${got}`);
  }
  out.push(
    `configs ${t.configs}: ok ${t.ok}, skipped ${t.skipped}, error ${t.error}, missing ${t.missing} | duplicates ${t.duplicate} (latest kept), torn lines ${t.torn}, bad lines ${t.bad}, stale records ${t.stale}, unknown ${t.unknown + t.foreign}`,
  );
  out.push(`units complete: ${r.units_complete}/${r.units_total}`);
  if (r.units.length > 0) {
    const rows = r.units.slice(0, 30).map((u) => [u.unit, u.ok, u.skipped, u.error, u.missing, u.duplicate, u.torn, u.bad]);
    out.push(formatTable(['unit', 'ok', 'skip', 'err', 'miss', 'dup', 'torn', 'bad'], rows));
    if (r.units.length > 30) out.push(`... and ${r.units.length - 30} more unit(s) (--json lists all)`);
    for (const u of r.units) {
      for (const n of u.notes.slice(0, 2)) out.push(`  ${u.unit}: ${n}`);
      if (u.missing_sample.length > 0 && u.missing > 0) out.push(`  ${u.unit}: missing ${u.missing_sample.join(', ')}${u.missing > u.missing_sample.length ? ', ...' : ''}`);
    }
  }
  if (r.errors.length > 0) {
    out.push(`errors (${Math.min(r.errors.length, t.error)} of ${t.error}):`);
    for (const e of r.errors.slice(0, 10)) out.push(`  ${e.unit} ${e.config}: ${e.name}${e.code !== null ? ` (${e.code})` : ''}: ${e.message.split('\n')[0] ?? ''}`);
  }
  out.push(`wrote ${r.files.results} (${r.files.records} records) and ${r.files.rows} (${r.files.rows_written} rows)`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  out.push(r.complete ? 'complete: every config of the manifest has an ok or skipped record' : 'INCOMPLETE');
  return `${out.join('\n')}\n`;
}
