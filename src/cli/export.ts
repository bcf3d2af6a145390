import type { Command } from 'commander';
import { UserError } from '../errors.js';
import type { ExportFormat, ExportSummary, ExportWhat } from '../export/export.js';
import type { CliIo } from './io.js';

interface ExportFlags {
  out?: string;
  format?: string;
  to?: string;
  what?: string;
  toClickhouse?: string;
  clickhouseUrl?: string;
  json?: boolean;
}

export function registerExport(program: Command, io: CliIo): void {
  program
    .command('export <spec>')
    .description('the results as one typed table: CSV, TSV, Parquet or NDJSON (through chDB), or a ClickHouse table')
    .option('--out <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('--format <format>', 'csv, tsv, parquet or ndjson (default: from --to\'s extension, else csv)')
    .option('--to <file>', 'the file to write (default: <out>/export/<what>.<format>)')
    .option('--what <what>', 'rows (default: one line per result row) or records (one line per config)')
    .option('--to-clickhouse <db.table>', 'write into a MergeTree table on a server, replacing this sweep\'s earlier rows')
    .option('--clickhouse-url <url>', 'the server for --to-clickhouse (else env CLICKHOUSE_URL, else the spec)')
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (spec: string, flags: ExportFlags) => {
      const { exportSweep, FORMATS } = await import('../export/export.js');
      const summary = await exportSweep({
        specPath: spec,
        ...(flags.out ? { outDir: flags.out } : {}),
        ...(flags.format !== undefined ? { format: formatFlag(flags.format, FORMATS) } : {}),
        ...(flags.to ? { to: flags.to } : {}),
        what: whatFlag(flags.what),
        ...(flags.toClickhouse !== undefined ? { toClickhouse: flags.toClickhouse } : {}),
        ...(flags.clickhouseUrl ? { clickhouseUrl: flags.clickhouseUrl } : {}),
        log: (line) => io.stderr(`${line}\n`),
      });
      if (flags.json) io.stdout(`${JSON.stringify(summary)}\n`);
      else io.stdout(formatExport(summary));
    });
}

function formatFlag(value: string, FORMATS: Record<string, unknown>): ExportFormat {
  if (value in FORMATS) return value as ExportFormat;
  throw new UserError('FLAG_INVALID', `--format: expected ${Object.keys(FORMATS).join(', ')}, found ${JSON.stringify(value)}`);
}

function whatFlag(value: string | undefined): ExportWhat {
  if (value === undefined || value === 'rows' || value === 'records') return value ?? 'rows';
  throw new UserError('FLAG_INVALID', `--what: expected rows or records, found ${JSON.stringify(value)}`);
}

export function formatExport(s: ExportSummary): string {
  const out: string[] = [];
  out.push(`sweep ${s.sweep}: ${s.rows} ${s.what === 'rows' ? 'result rows' : 'records'} from ${s.ok + s.skipped + s.error} of ${s.configs} configs (ok ${s.ok}, skipped ${s.skipped}, error ${s.error}, missing ${s.missing})`);
  out.push(`columns: ${s.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`);
  if (s.file) out.push(`wrote ${s.file.path} (${s.file.format})`);
  if (s.table) {
    const t = s.table;
    out.push(
      `wrote ${t.rows} rows to ${t.table} on ClickHouse ${t.server} in ${t.batches} batch(es)${t.created ? ' (table created)' : ''}${t.replaced > 0 ? `, replacing the ${t.replaced} rows of the earlier export` : ''}`,
    );
    if (t.added_columns.length > 0) out.push(`added column(s) to ${t.table}: ${t.added_columns.join(', ')}`);
    for (const c of t.converted) out.push(`note: ${c.column} is ${c.to} on that server (it has no ${c.from})`);
  }
  for (const n of s.notes) out.push(`note: ${n}`);
  if (s.partial) out.push(`note: ${s.partial}`);
  return `${out.join('\n')}\n`;
}
