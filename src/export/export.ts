/**
 * `sweep export`: a sweep's results as one typed table, in a file (CSV, TSV,
 * Parquet, NDJSON) or a ClickHouse table.
 *
 * Two steps, so ClickHouse itself does all the typing and formatting:
 *  1. stage: the validated records (src/export/sweep-results.ts) are flattened
 *     here into NDJSON, one line per result row (or per record), holding
 *     exactly the record's values (64-bit integers and decimals as strings,
 *     "nan"/"inf"), with the params as their placeholder types hold them;
 *  2. convert: the embedded engine (chDB) reads that NDJSON with an explicit
 *     structure (the recorded ClickHouse types, src/export/columns.ts) and
 *     writes the file with ClickHouse's own CSVWithNames, TSVWithNames,
 *     Parquet or JSONEachRow writer; for a table, TabSeparated that the server
 *     reads back (src/export/clickhouse-table.ts).
 * So no value passes through a JavaScript double on its way out, and no format
 * writer is written here.
 *
 * Row order is the manifest's (unit, then config, then the result's row order):
 * chDB converts with one thread and no parallel parsing or formatting.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { chooseEngine } from '../engine/choice.js';
import { createEngine, type Engine } from '../engine/index.js';
import { UserError } from '../errors.js';
import type { AnyRecord, ParamValue } from '../results/record.js';
import { CONTEXT_COLUMNS, paramValueMaps, RECORD_COLUMNS, ResultColumns, type ExportColumn } from './columns.js';
import { exportToTable, parseTableName, type TableExport } from './clickhouse-table.js';
import { identifier, literal, structureOf } from './sql-text.js';
import { forEachRecord, openSweep, partialNote, readMergedShapes, type ReadSummary, type SweepInfo } from './sweep-results.js';

export type ExportFormat = 'csv' | 'tsv' | 'parquet' | 'ndjson';
export type ExportWhat = 'rows' | 'records';

export const FORMATS: Record<ExportFormat, { clickhouse: string; ext: string }> = {
  csv: { clickhouse: 'CSVWithNames', ext: 'csv' },
  tsv: { clickhouse: 'TSVWithNames', ext: 'tsv' },
  parquet: { clickhouse: 'Parquet', ext: 'parquet' },
  ndjson: { clickhouse: 'JSONEachRow', ext: 'ndjson' },
};

export interface ExportOptions {
  specPath: string;
  cwd?: string;
  outDir?: string;
  what?: ExportWhat;
  /** A file format; default csv unless exporting to a table only. */
  format?: ExportFormat;
  /** The file to write; default <out>/export/<what>.<ext>. */
  to?: string;
  /** `DB.TABLE` on a ClickHouse server. */
  toClickhouse?: string;
  clickhouseUrl?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface ExportSummary {
  sweep: string;
  what: ExportWhat;
  columns: ExportColumn[];
  /** Lines exported (result rows, or records). */
  rows: number;
  configs: number;
  ok: number;
  skipped: number;
  error: number;
  missing: number;
  file: { path: string; format: ExportFormat } | null;
  table: TableExport | null;
  /** What is not there yet, for a partial sweep; null when complete. */
  partial: string | null;
  notes: string[];
  elapsed_s: number;
}

export async function exportSweep(opts: ExportOptions): Promise<ExportSummary> {
  const t0 = performance.now();
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const what = opts.what ?? 'rows';
  const sweep = await openSweep({ specPath: opts.specPath, cwd, outDir: opts.outDir });
  const table = opts.toClickhouse !== undefined ? parseTableName(opts.toClickhouse) : undefined;
  const format = opts.format ?? (opts.to !== undefined ? formatOfFile(opts.to) : table ? undefined : 'csv');
  const file = format ? resolve(cwd, opts.to ?? join(sweep.outDir, 'export', `${what}.${FORMATS[format].ext}`)) : undefined;
  // The server is asked before anything is staged: a wrong URL fails in a second, not after the staging.
  const server = table ? await connectServer(sweep, opts, env) : undefined;

  const work = join(sweep.outDir, '.sweep', `export-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(work, { recursive: true });
  let chdb: Engine | undefined;
  try {
    const staged = await stage(sweep, what, join(work, 'staged.ndjson'));
    log(`staged ${staged.lines} ${what === 'rows' ? 'result rows' : 'records'} from ${staged.read.totals.ok + staged.read.totals.skipped + staged.read.totals.error} records of ${sweep.results}`);
    chdb = createEngine({ kind: 'embedded', path: join(work, 'chdb') });
    const source = `file(${literal(join(work, 'staged.ndjson'))}, 'JSONEachRow', ${literal(structureOf(staged.columns))})`;
    const notes = [...sweep.notes, ...staged.notes];
    let fileOut: ExportSummary['file'] = null;
    if (format && file) {
      const select = staged.columns.map((c) => fileExpression(c, format, notes)).join(', ');
      mkdirSync(dirname(file), { recursive: true });
      const tmp = join(dirname(file), `.${randomBytes(4).toString('hex')}.export.tmp`);
      try {
        await chdb.exec(`INSERT INTO FUNCTION file(${literal(tmp)}, ${literal(FORMATS[format].clickhouse)}) SELECT ${select} FROM ${source}`, { settings: CONVERT_SETTINGS });
        renameSync(tmp, file);
      } finally {
        rmSync(tmp, { force: true });
      }
      fileOut = { path: file, format };
      log(`wrote ${file}`);
    }
    let tableOut: TableExport | null = null;
    if (table && server) {
      tableOut = await exportToTable({
        server,
        chdb,
        source,
        table,
        sweep: sweep.name,
        columns: staged.columns,
        workDir: work,
        settings: CONVERT_SETTINGS,
        log,
      });
    }
    const t = staged.read.totals;
    return {
      sweep: sweep.name,
      what,
      columns: staged.columns,
      rows: staged.lines,
      configs: t.configs,
      ok: t.ok,
      skipped: t.skipped,
      error: t.error,
      missing: t.missing,
      file: fileOut,
      table: tableOut,
      partial: partialNote(staged.read) ?? null,
      notes,
      elapsed_s: Math.round(performance.now() - t0) / 1000,
    };
  } finally {
    await chdb?.close().catch(() => {});
    await server?.close().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Conversion settings: one thread and no parallel parsing or formatting keep the
 * manifest's row order; the JSON settings make chDB read a value the way the
 * record holds it (a 64-bit integer as a string, a tuple as an array) and, for
 * NDJSON, write it the same way; decimals keep their declared scale.
 */
const CONVERT_SETTINGS: Record<string, number> = {
  max_threads: 1,
  input_format_parallel_parsing: 0,
  output_format_parallel_formatting: 0,
  engine_file_truncate_on_insert: 1,
  output_format_decimal_trailing_zeros: 1,
  input_format_json_read_numbers_as_strings: 1,
  input_format_json_read_objects_as_strings: 1,
  input_format_json_read_arrays_as_strings: 1,
  input_format_null_as_default: 0,
  output_format_parquet_string_as_string: 1,
};

/** The format a file name asks for (`--to results.parquet` without `--format`); csv when it says none. */
/** The format a file name asks for; an extension that names none is exit 2 (a `.txt` of CSV surprises whoever opens it). */
function formatOfFile(path: string): ExportFormat {
  const ext = /\.([a-z]+)$/i.exec(path)?.[1]?.toLowerCase();
  if (ext === 'jsonl') return 'ndjson';
  if (ext && ext in FORMATS) return ext as ExportFormat;
  throw new UserError('FLAG_INVALID', `--to ${path}: expected a file name ending in ${Object.values(FORMATS).map((f) => `.${f.ext}`).join(', ')} (or --format to choose), found ${ext ? `.${ext}` : 'no extension'}`);
}

async function connectServer(sweep: SweepInfo, opts: ExportOptions, env: NodeJS.ProcessEnv): Promise<Engine> {
  const choice = chooseEngine({ spec: sweep.spec, sweepDir: sweep.outDir, flagUrl: opts.clickhouseUrl, env, concurrency: 2, refusePassword: true });
  if (choice.kind !== 'http') {
    throw new UserError('FLAG_INVALID', '--to-clickhouse: expected a server (--clickhouse-url, env CLICKHOUSE_URL or clickhouse.url in the spec), found none');
  }
  const engine = createEngine(choice.options);
  try {
    await engine.version();
  } catch (err) {
    await engine.close().catch(() => {});
    throw new UserError('CLICKHOUSE_UNREACHABLE', `${choice.from} ${choice.display}: expected a ClickHouse server answering, found ${(err as Error).message.split('\n')[0]}`);
  }
  return engine;
}

interface Staged {
  columns: ExportColumn[];
  lines: number;
  read: ReadSummary;
  notes: string[];
}

const RESERVED = new Set(CONTEXT_COLUMNS.map((c) => c.name));

/** Write the export's lines as NDJSON (values exactly as recorded) and name their columns. */
async function stage(sweep: SweepInfo, what: ExportWhat, path: string): Promise<Staged> {
  const sink = new LineSink(path);
  const canonical = paramValueMaps(sweep.params);
  const paramNames = sweep.params.map((p) => p.name);
  const shapes = readMergedShapes(sweep);
  const results = new ResultColumns();
  /** Result columns named like a context column or a param, written as row_<name> where they differ. */
  const renamed = new Set<string>();
  const notes: string[] = [];
  let lostShapes = 0;
  let read: ReadSummary;
  try {
    read = await forEachRecord(sweep, (r) => {
      const context = contextOf(sweep.name, r, paramNames, canonical);
      if (what === 'records') {
        sink.write({ ...context, ...recordFields(r) });
        return;
      }
      if (r.status !== 'ok' || r.rows.length === 0) return;
      const shape = r.v === 2 && r.shape !== null ? shapes.get(r.shape) : undefined;
      if (shape) results.addShape(shape.shape, shape.columns);
      else {
        if (r.v === 2) lostShapes++;
        results.addUntyped(r.rows);
      }
      // The line's text is built directly (no object per row): at 900,000 rows, objects cost more than the rest.
      const head = JSON.stringify(context).slice(0, -1);
      for (const row of r.rows) {
        let line = head;
        for (const col in row) {
          const value = row[col];
          if (RESERVED.has(col) || (col in context && !sameValue(context[col], value))) {
            line += `,${keyJson(`row_${col}`)}${JSON.stringify(value)}`;
            renamed.add(col);
          } else if (!(col in context)) {
            line += `,${keyJson(col)}${JSON.stringify(value)}`;
          }
        }
        sink.writeLine(`${line}}`);
      }
    });
  } finally {
    sink.close();
  }
  const lines = sink.lines;
  if (lostShapes > 0) notes.push(`${lostShapes} record(s) name a shape missing from shapes.ndjson: their column types were inferred from the values`);
  const head: ExportColumn[] = [...CONTEXT_COLUMNS, ...sweep.params.map((p) => ({ name: p.name, type: p.type }))];
  if (what === 'records') return { columns: [...head, ...RECORD_COLUMNS], lines, read, notes };
  const body: ExportColumn[] = [];
  for (const c of results.columns()) {
    notes.push(...c.notes);
    if (RESERVED.has(c.name) || paramNames.includes(c.name)) {
      if (renamed.has(c.name)) body.push({ name: `row_${c.name}`, type: nullable(c.type) });
    } else {
      body.push({ name: c.name, type: c.type });
    }
  }
  if (renamed.size > 0) notes.push(`result column(s) ${[...renamed].join(', ')} named like a param or a context column but holding other values: exported as row_<name>`);
  return { columns: [...head, ...body], lines, read, notes };
}

/** NDJSON lines to a file in 1 MiB writes: a synchronous sink for a synchronous reader. */
class LineSink {
  private readonly fd: number;
  private parts: string[] = [];
  private size = 0;
  lines = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w', 0o600);
  }

  write(value: unknown): void {
    this.writeLine(JSON.stringify(value));
  }

  /** One line of JSON text, without its newline. */
  writeLine(text: string): void {
    this.parts.push(text);
    this.size += text.length + 1;
    this.lines++;
    if (this.size >= 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.parts.length === 0) return;
    this.parts.push('');
    writeSync(this.fd, this.parts.join('\n'));
    this.parts = [];
    this.size = 0;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

function contextOf(sweep: string, r: AnyRecord, paramNames: readonly string[], canonical: Map<string, Map<ParamValue, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { sweep, unit: r.unit, config: r.config };
  for (const name of paramNames) {
    const v = r.params[name];
    out[name] = v === undefined ? null : (canonical.get(name)?.get(v) ?? v);
  }
  return out;
}

function recordFields(r: AnyRecord): Record<string, unknown> {
  return {
    status: r.status,
    error_code: r.error?.code ?? null,
    error_name: r.error?.name ?? null,
    error_message: r.error?.message ?? null,
    result_rows: r.rows.length,
    rows_read: String(r.rows_read),
    bytes_read: String(r.bytes_read),
    elapsed_ms: r.elapsed_ms,
    attempts: r.attempts,
    max_threads: r.max_threads,
    engine: r.engine,
    host: r.host,
    worker: r.worker,
    target: r.v === 2 ? r.target : null,
    setup: r.v === 2 ? r.setup : null,
    query_id: r.query_id,
    sql_sha256: r.sql_sha256,
    started_at: r.started_at.replace('T', ' ').replace(/Z$/, ''),
    finished_at: r.finished_at.replace('T', ' ').replace(/Z$/, ''),
  };
}

const keyCache = new Map<string, string>();
/** `"name":`, made once per column name. */
function keyJson(name: string): string {
  let k = keyCache.get(name);
  if (k === undefined) {
    k = `${JSON.stringify(name)}:`;
    keyCache.set(name, k);
  }
  return k;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // 64-bit integers are strings on one side and may be numbers on the other.
  if ((typeof a === 'number' || typeof a === 'string') && (typeof b === 'number' || typeof b === 'string')) return String(a) === String(b);
  return false;
}

function nullable(type: string): string {
  return /^(Nullable|Array|Tuple|Map|Nested)\(/.test(type) ? type : `Nullable(${type})`;
}

/**
 * A column as the file gets it. Parquet has no integers wider than 64 bits
 * (ClickHouse would write raw bytes): those leave as their decimal text.
 */
function fileExpression(c: ExportColumn, format: ExportFormat, notes: string[]): string {
  if (format === 'parquet' && /\b(U?Int(128|256))\b/.test(c.type)) {
    notes.push(`${c.name}: ${c.type} has no Parquet type: written as its decimal text (String)`);
    return `toString(${identifier(c.name)}) AS ${identifier(c.name)}`;
  }
  return identifier(c.name);
}
