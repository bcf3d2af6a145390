/**
 * Collect's outputs: `results.ndjson` (one record per config, the one
 * validate.ts kept, in manifest order) and `rows.ndjson` (one line per result
 * row, with the config id, unit and params in front, for analysis tools that
 * want flat rows: clickhouse-local, DuckDB, pandas).
 *
 * Row shape: `{"config": ..., "unit": ..., <param>: ..., <column>: ...}`. A
 * column named like a param (a template that SELECTs `{symbol:String} AS
 * symbol`) usually holds the same value and is written once; when the values
 * differ the column is kept as `row_<column>` and counted, never dropped.
 *
 * `shapes.ndjson` holds the result shapes (column names and ClickHouse types,
 * `{"shape": id, "columns": [{name, type}]}`) that the kept records name, so
 * results.ndjson is self-describing; v1 records name none.
 *
 * All three are written to a temp name and renamed, so a reader sees the old
 * complete file or the new complete one.
 */
import { createWriteStream, existsSync, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import type { UnitIndex } from '../format/manifest.js';
import { readNdjson } from './ndjson.js';
import type { AnyRecord, ShapeLine } from './record.js';
import { addCounts, emptyCounts, validateUnit, type CurrentOrigin, type UnitCounts } from './validate.js';

export interface MergeOptions {
  sweep: string;
  /** The output of `sweep generate`: units/<unit>.json are the expected configs; results.ndjson and rows.ndjson are written here. */
  outDir: string;
  /** Units in manifest order. */
  units: ReadonlyArray<{ id: string }>;
  /** Where the results files are (default <outDir>/results). */
  resultsDir?: string;
  /**
   * The target and setup generation records must carry to count (sweep run
   * knows them). Without it (collect), records of several origins make the
   * sweep incomplete, with a note naming them: one sweep, one target.
   */
  current?: CurrentOrigin;
}

export interface UnitReport extends UnitCounts {
  unit: string;
  /** A few config ids with no record. */
  missing_sample: string[];
  notes: string[];
}

export interface MergeReport {
  totals: UnitCounts;
  /** Units with anything other than all ok/skipped and clean lines, in manifest order. */
  units: UnitReport[];
  units_total: number;
  /** Units with no config missing or in error. */
  units_complete: number;
  /** Up to 20 configs whose kept record is an error. */
  errors: Array<{ unit: string; config: string; code: number | null; name: string; message: string }>;
  files: { results: string; rows: string; shapes: string; records: number; rows_written: number; row_key_collisions: number };
  /** Results files for units not in the manifest (left out). */
  extra_files: string[];
  /** Where the kept records ran: `target|setup generation` with counts; more than one is a mix. */
  origins: Array<{ origin: string; records: number }>;
  /** No config missing or in error, and (without `current`) every record from one origin. */
  complete: boolean;
}

const MAX_ERRORS = 20;

/**
 * Validate every unit's results file against its index and write the merged
 * outputs. Used by `sweep collect` after its rsync, and usable on any local
 * results dir (a local run).
 */
export async function mergeResults(opts: MergeOptions): Promise<MergeReport> {
  const resultsDir = opts.resultsDir ?? join(opts.outDir, 'results');
  const totals = emptyCounts();
  const units: UnitReport[] = [];
  const errors: MergeReport['errors'] = [];
  let units_complete = 0;
  const results = new NdjsonFileWriter(join(opts.outDir, 'results.ndjson'));
  const rows = new NdjsonFileWriter(join(opts.outDir, 'rows.ndjson'));
  const shapes = new NdjsonFileWriter(join(opts.outDir, 'shapes.ndjson'));
  const shapesWritten = new Set<string>();
  const collisions = { count: 0 };
  const origins = new Map<string, number>();
  try {
    for (const mu of opts.units) {
      const index = readIndex(opts.outDir, mu.id);
      const v = validateUnit(opts.sweep, mu.id, index.configs, await readNdjson(join(resultsDir, `${mu.id}.ndjson`)), opts.current);
      for (const [o, n] of v.origins) origins.set(o, (origins.get(o) ?? 0) + n);
      addCounts(totals, v.counts);
      const c = v.counts;
      const done = c.missing === 0 && c.error === 0;
      if (done) units_complete++;
      if (!done || c.duplicate + c.torn + c.bad + c.stale + c.unknown + c.foreign > 0) {
        units.push({ unit: mu.id, ...c, missing_sample: v.missing.slice(0, 5), notes: v.notes });
      }
      for (const e of v.errors) {
        if (errors.length >= MAX_ERRORS) break;
        errors.push({ unit: mu.id, config: e.config, code: e.error?.code ?? null, name: e.error?.name ?? 'ERROR', message: (e.error?.message ?? '').slice(0, 500) });
      }
      let unitShapes: Map<string, ShapeLine> | undefined;
      for (const r of v.kept) {
        await results.write(r);
        for (const row of flattenRows(r, collisions)) await rows.write(row);
        if (r.v === 2 && r.shape !== null && !shapesWritten.has(r.shape)) {
          unitShapes ??= readShapes(resultsDir, mu.id);
          const shape = unitShapes.get(r.shape);
          if (shape) {
            await shapes.write(shape);
            shapesWritten.add(r.shape);
          }
        }
      }
    }
    await results.commit();
    await rows.commit();
    await shapes.commit();
  } catch (err) {
    await results.abort();
    await rows.abort();
    await shapes.abort();
    throw err;
  }
  const known = new Set(opts.units.map((u) => `${u.id}.ndjson`));
  const extra_files = existsSync(resultsDir) ? readdirSync(resultsDir).filter((f) => f.endsWith('.ndjson') && !known.has(f)) : [];
  return {
    totals,
    units,
    units_total: opts.units.length,
    units_complete,
    errors,
    files: { results: results.path, rows: rows.path, shapes: shapes.path, records: results.lines, rows_written: rows.lines, row_key_collisions: collisions.count },
    extra_files,
    origins: [...origins].map(([origin, records]) => ({ origin, records })).sort((a, b) => b.records - a.records),
    complete: totals.missing === 0 && totals.error === 0 && origins.size <= 1,
  };
}

/**
 * The shapes a unit's worker wrote (`results/shapes/<unit>.ndjson`), by id. A
 * torn or bad line is skipped: the worker writes a shape before the first
 * record naming it, and writes it again after a crash cut it.
 */
export function readShapes(resultsDir: string, unit: string): Map<string, ShapeLine> {
  const out = new Map<string, ShapeLine>();
  let text: string;
  try {
    text = readFileSync(join(resultsDir, 'shapes', `${unit}.ndjson`), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const s = JSON.parse(line) as Partial<ShapeLine>;
      if (typeof s.shape === 'string' && Array.isArray(s.columns)) out.set(s.shape, { shape: s.shape, columns: s.columns });
    } catch {
      // a torn last line
    }
  }
  return out;
}

export function readIndex(outDir: string, unit: string): UnitIndex {
  const path = join(outDir, 'units', `${unit}.json`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as UnitIndex;
  } catch (err) {
    throw new UserError('OUT_INVALID', `${path}: expected the unit index written by 'sweep generate', found ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'unreadable JSON'}`);
  }
}

export interface FlatRow {
  [key: string]: unknown;
}

/** The rows of one record, each with its config's context in front. `collisions` counts renamed columns. */
export function flattenRows(record: AnyRecord, collisions = { count: 0 }): FlatRow[] {
  if (record.status !== 'ok' || record.rows.length === 0) return [];
  const context: FlatRow = { config: record.config, unit: record.unit, ...record.params };
  const out: FlatRow[] = [];
  for (const row of record.rows) {
    const flat: FlatRow = { ...context };
    for (const [col, value] of Object.entries(row)) {
      if (!(col in context)) {
        flat[col] = value;
      } else if (!sameValue(context[col], value)) {
        flat[`row_${col}`] = value;
        collisions.count++;
      }
    }
    out.push(flat);
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // 64-bit integers arrive as strings in ClickHouse JSON formats; params are numbers.
  if ((typeof a === 'number' && typeof b === 'string') || (typeof a === 'string' && typeof b === 'number')) return String(a) === String(b);
  return false;
}

/** A line writer to `path` via a temp file; `commit()` renames into place, `abort()` removes the temp. */
export class NdjsonFileWriter {
  readonly path: string;
  private readonly tmp: string;
  private readonly stream: WriteStream;
  private failure: Error | undefined;
  lines = 0;

  constructor(path: string) {
    this.path = path;
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    this.stream = createWriteStream(this.tmp, { flags: 'w', mode: 0o644 });
    this.stream.on('error', (err) => {
      this.failure = err;
    });
  }

  /** Write one value as a line; resolves when the stream can take more (backpressure). */
  async write(value: unknown): Promise<void> {
    if (this.failure) throw this.failure;
    this.lines++;
    if (!this.stream.write(`${JSON.stringify(value)}\n`)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          this.stream.off('error', onError);
          resolve();
        };
        const onError = (err: Error): void => {
          this.stream.off('drain', onDrain);
          reject(err);
        };
        this.stream.once('drain', onDrain);
        this.stream.once('error', onError);
      });
    }
  }

  async commit(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
    if (this.failure) throw this.failure;
    await rename(this.tmp, this.path);
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    await rm(this.tmp, { force: true });
  }
}
