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
import { addCounts, emptyCounts, validateUnit, type CurrentOrigin, type SourcedLine, type UnitCounts } from './validate.js';

export interface MergeOptions {
  sweep: string;
  /** The output of `sweep generate`: units/<unit>.json are the expected configs; results.ndjson and rows.ndjson are written here. */
  outDir: string;
  /** Units in manifest order. */
  units: ReadonlyArray<{ id: string }>;
  /** Where the results files are (default <outDir>/results). */
  resultsDir?: string;
  /**
   * Where a unit's results files are, when they are in several dirs (collect:
   * one local dir per host the unit ran on, oldest placement first, so file
   * order stays write order as far as it can be known). Overrides resultsDir.
   */
  sources?: (unit: string) => ReadonlyArray<{ host: string; dir: string }>;
  /**
   * The target and setup generation records must carry to count (sweep run
   * knows them). Without it (collect), records of several origins make the
   * sweep incomplete, with a note naming them: one sweep, one target.
   */
  current?: CurrentOrigin;
  /**
   * Per unit, the targets its records may carry (collect: the targets of the
   * hosts it was placed on, when known). Then one setup generation per target
   * and at most `hosts` targets in all make the sweep complete.
   */
  accept?: (unit: string) => CurrentOrigin | undefined;
  /** How many hosts ran the sweep (default 1): that many targets are not a mix. */
  hosts?: number;
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
  /** Where the kept records ran: `target|setup generation` with counts; more than one per target (or more targets than hosts) is a mix. */
  origins: Array<{ origin: string; records: number }>;
  /** The origins are a mix: records of one target under several setup generations, or more targets than the sweep has hosts. */
  mixed_origins: boolean;
  /** Shape ids that kept records name but no unit's shapes file holds (`unit: shape`): their rows' types are unknown. */
  missing_shapes: string[];
  /** No config missing or in error, every shape the records name at hand, and (without `current`) the origins not a mix. */
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
  const missingShapes: string[] = [];
  try {
    for (const mu of opts.units) {
      const index = readIndex(opts.outDir, mu.id);
      const v = validateUnit(opts.sweep, mu.id, index.configs, await readUnitLines(mu.id, opts.sources?.(mu.id) ?? [{ host: '', dir: resultsDir }]), opts.current ?? opts.accept?.(mu.id));
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
      const lost = new Set<string>();
      for (const r of v.kept) {
        await results.write(r);
        for (const row of flattenRows(r, collisions)) await rows.write(row);
        if (r.v === 2 && r.shape !== null && !shapesWritten.has(r.shape)) {
          // A unit that ran on several hosts has shapes in each host's dir.
          unitShapes ??= (opts.sources?.(mu.id) ?? [{ host: '', dir: resultsDir }]).reduce((m, src) => readShapes(src.dir, mu.id, m), new Map<string, ShapeLine>());
          const shape = unitShapes.get(r.shape);
          if (shape) {
            await shapes.write(shape);
            shapesWritten.add(r.shape);
          } else lost.add(r.shape);
        }
      }
      if (lost.size > 0) {
        for (const id of lost) missingShapes.push(`${mu.id}: ${id}`);
        const note = `${lost.size} result shape(s) named by its records are in no shapes file (results/shapes/${mu.id}.ndjson lost or edited), so their column types are unknown; run the unit again: sweep run --fresh (or submit-all --rerun all --only ...)`;
        const entry = units.find((u) => u.unit === mu.id);
        if (entry) entry.notes.push(note);
        else units.push({ unit: mu.id, ...c, missing_sample: [], notes: [note] });
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
  const dirs = opts.sources ? [...new Set(opts.units.flatMap((u) => (opts.sources?.(u.id) ?? []).map((s) => s.dir)))] : [resultsDir];
  const extra_files = [...new Set(dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.ndjson') && !known.has(f)) : [])))].sort();
  const mixed = isMixed(origins, opts.hosts ?? 1);
  return {
    totals,
    units,
    units_total: opts.units.length,
    units_complete,
    errors,
    files: { results: results.path, rows: rows.path, shapes: shapes.path, records: results.lines, rows_written: rows.lines, row_key_collisions: collisions.count },
    extra_files,
    origins: [...origins].map(([origin, records]) => ({ origin, records })).sort((a, b) => b.records - a.records),
    mixed_origins: mixed,
    missing_shapes: missingShapes,
    complete: totals.missing === 0 && totals.error === 0 && missingShapes.length === 0 && (opts.current !== undefined || !mixed),
  };
}

/**
 * A unit's lines from each dir that has its file, in the order given; each
 * line names its host when there is more than one file, for the notes.
 */
async function readUnitLines(unit: string, sources: ReadonlyArray<{ host: string; dir: string }>): Promise<SourcedLine[]> {
  const found: Array<{ host: string; lines: SourcedLine[] }> = [];
  for (const s of sources) {
    const path = join(s.dir, `${unit}.ndjson`);
    if (existsSync(path)) found.push({ host: s.host, lines: await readNdjson(path) });
  }
  if (found.length === 1) return found[0]?.lines ?? [];
  return found.flatMap((f) => f.lines.map((l) => ({ ...l, source: f.host })));
}

/** `target|setup` origins: one setup generation per target, and no more targets than hosts. */
function isMixed(origins: ReadonlyMap<string, number>, hosts: number): boolean {
  const generations = new Map<string, number>();
  for (const o of origins.keys()) {
    const target = o.slice(0, o.lastIndexOf('|') === -1 ? o.length : o.lastIndexOf('|'));
    generations.set(target, (generations.get(target) ?? 0) + 1);
  }
  return generations.size > hosts || [...generations.values()].some((n) => n > 1);
}

/**
 * The shapes a unit's worker wrote (`results/shapes/<unit>.ndjson`), by id. A
 * torn or bad line is skipped: the worker writes a shape before the first
 * record naming it, and writes it again after a crash cut it.
 */
export function readShapes(resultsDir: string, unit: string, into = new Map<string, ShapeLine>()): Map<string, ShapeLine> {
  const out = into;
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
