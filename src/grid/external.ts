/**
 * Param values from outside the spec: `{file: symbols.txt}` (one value per
 * line), `{csv: universe.csv, column: symbol}` and `{sql: "SELECT ..."}` (the
 * first column of its rows, run on the sweep's target: the server the sweep
 * runs on, or the embedded engine's data dir). Read once by `generate` and
 * frozen (frozen.ts); this module only reads. Text becomes a value by the spec
 * loader's rule for written numbers: `250` a number, `0755` or `1.50` text.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chooseEngine } from '../engine/choice.js';
import { createEngine, type Engine } from '../engine/index.js';
import type { ParamValue } from '../results/record.js';
import type { ExternalValues, Spec } from '../spec/schema.js';
import { CsvError, csvColumn } from './csv.js';
import { asParamValue } from './range.js';

/** Why a source failed: the key it concerns (file, csv, column, sql) and the message. */
export type SourceFail = (key: string, message: string) => never;

export interface ExternalContext {
  spec: Spec;
  /** Relative file paths are relative to the spec file, as `template` is. */
  specDir: string;
  /** The sweep dir: the embedded engine's data lives in <outDir>/.chdb. */
  outDir: string;
  env: NodeJS.ProcessEnv;
  /** sweep run's --clickhouse-url. */
  clickhouseUrl?: string | undefined;
}

export interface ExternalValuesRead {
  values: ParamValue[];
  /** Where they came from, for the frozen record and messages: a file path or the engine. */
  from: string;
}

/** One engine for every SQL source of a spec, opened on first use. */
export class SourceEngine {
  private engine: Engine | undefined;
  private display = '';
  private tempDir: string | undefined;
  constructor(private readonly ctx: ExternalContext) {}

  async open(): Promise<{ engine: Engine; display: string }> {
    if (!this.engine) {
      const c = this.ctx;
      const choice = chooseEngine({ spec: c.spec, sweepDir: c.outDir, flagUrl: c.clickhouseUrl, env: c.env, concurrency: 1 });
      let options = choice.options;
      let display = choice.kind === 'embedded' ? `the embedded engine (${options.kind === 'embedded' ? options.path : ''})` : `${choice.display} (${choice.from})`;
      // No data dir yet means no tables yet: a temporary one answers the same, and reading values writes nothing into the sweep dir.
      if (options.kind === 'embedded' && !existsSync(options.path)) {
        this.tempDir = mkdtempSync(join(tmpdir(), 'sweep-values-'));
        options = { ...options, path: join(this.tempDir, '.chdb') };
        display = `the embedded engine (${choice.options.kind === 'embedded' ? choice.options.path : ''}, not created yet: no tables)`;
      }
      this.engine = createEngine(options);
      this.display = display;
    }
    return { engine: this.engine, display: this.display };
  }

  async close(): Promise<void> {
    await this.engine?.close();
    this.engine = undefined;
    if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
  }
}

export async function readExternalValues(source: ExternalValues, ctx: ExternalContext, engines: SourceEngine, fail: SourceFail): Promise<ExternalValuesRead> {
  if ('sql' in source) return readSqlValues(source.sql, ctx, engines, fail);
  const key = 'file' in source ? 'file' : 'csv';
  const rel = 'file' in source ? source.file : source.csv;
  const path = resolve(ctx.specDir, rel);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(key, `expected a readable file, found ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : String(code)} at ${path}`);
  }
  if ('file' in source) {
    const values: Array<{ text: string; at: string }> = [];
    text
      .replace(/^\uFEFF/, '')
      .split('\n')
      .forEach((line, i) => {
        const value = line.trim();
        if (value !== '') values.push({ text: value, at: `line ${i + 1}` });
      });
    return { values: distinct(values, path, key, fail), from: path };
  }
  let column: Array<{ value: string; row: number }>;
  try {
    column = csvColumn(text, source.column);
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    fail(/column named/.test(err.message) ? 'column' : 'csv', `${path}: ${err.message}`);
  }
  const values = column.map((c) => {
    const value = c.value.trim();
    if (value === '') fail('column', `${path}: row ${c.row}: expected a value in column ${JSON.stringify(source.column)}, found an empty field`);
    return { text: value, at: `row ${c.row}` };
  });
  return { values: distinct(values, path, key, fail), from: `${path} column ${source.column}` };
}

async function readSqlValues(sql: string, ctx: ExternalContext, engines: SourceEngine, fail: SourceFail): Promise<ExternalValuesRead> {
  const { engine, display } = await engines.open();
  let rows: Array<Record<string, unknown>>;
  try {
    rows = await engine.query(sql, { signal: AbortSignal.timeout(ctx.spec.worker.query_timeout_s * 1000) });
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0]?.slice(0, 500);
    const hint = ctx.spec.setup ? ` (values are read before the spec's setup runs: a table the setup builds is not there on a new target yet)` : '';
    fail('sql', `expected the query to run on ${display}, found an error: ${why}${hint}`);
  }
  if (rows.length === 0) fail('sql', `expected at least one row from ${display}, found none: the grid would be empty`);
  const values = rows.map((row, i) => {
    const first = Object.values(row)[0];
    const at = `row ${i + 1}`;
    if (first === null || first === undefined) fail('sql', `${at}: expected a value in the first column, found NULL`);
    if (typeof first === 'object') fail('sql', `${at}: expected a single value in the first column, found ${JSON.stringify(first).slice(0, 80)}`);
    return { text: String(first as string | number | boolean), at };
  });
  return { values: distinct(values, display, 'sql', fail), from: display };
}

/** Two equal values would be two configs with one id: refuse, naming both places. */
function distinct(items: Array<{ text: string; at: string }>, source: string, key: string, fail: SourceFail): ParamValue[] {
  if (items.length === 0) fail(key, `expected at least one value in ${source}, found none: the grid would be empty`);
  const seen = new Map<string, string>();
  for (const item of items) {
    const first = seen.get(item.text);
    if (first !== undefined) {
      fail(key, `expected distinct values, found ${JSON.stringify(item.text)} at ${first} and ${item.at} of ${source}${key === 'sql' ? ' (SELECT DISTINCT ...)' : ''}`);
    }
    seen.set(item.text, item.at);
  }
  return items.map((item) => asParamValue(item.text));
}
