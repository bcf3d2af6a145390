/**
 * The result record: exactly one terminal line per config in `results/<unit>.ndjson`.
 *
 * Format v2 (this version writes it; readers accept v1 and v2):
 *   v, config, status, sql_sha256, target, setup    the head: what skip-done compares
 *   sweep, unit, params                              who
 *   shape, rows                                      what came back: `shape` names the result's
 *                                                    columns and ClickHouse types, stored once per
 *                                                    distinct shape in results/shapes/<unit>.ndjson
 *   rows_read ... finished_at, error                 how
 *
 * Key order is part of the format: the head comes first so the skip-done scan
 * can read it without parsing the whole line (src/results/ndjson.ts).
 * JSON.stringify keeps insertion order, so build records with `makeRecord` only.
 *
 * v1 (sweep 0.1.0) had no target, setup or shape; its rows were not exact
 * across server versions. A v1 record never counts as done for a v2 worker
 * (its target is unknown), but collect reads it.
 */
import type { Row } from '../engine/engine.js';

export type TerminalStatus = 'ok' | 'skipped' | 'error';
export type ParamValue = string | number;
export type Params = Record<string, ParamValue>;

export const RECORD_VERSION = 2;

export interface RecordError {
  /** ClickHouse's numeric code where there is one, else null. */
  code: number | null;
  name: string;
  message: string;
}

export interface ResultRecord {
  v: 2;
  config: string;
  status: TerminalStatus;
  sql_sha256: string;
  /** Where the SQL ran (src/engine/target.ts), never with credentials. */
  target: string;
  /** The setup generation in force on that target when it ran; null when the sweep has no setup. */
  setup: string | null;
  sweep: string;
  unit: string;
  params: Params;
  /** Id of the result's columns and types (results/shapes/<unit>.ndjson); null when no result set came back. */
  shape: string | null;
  rows: Row[];
  rows_read: number;
  bytes_read: number;
  elapsed_ms: number;
  attempts: number;
  query_id: string;
  max_threads: number | null;
  engine: string;
  host: string;
  worker: string;
  started_at: string;
  finished_at: string;
  error?: RecordError;
}

/** A record as sweep 0.1.0 wrote it. */
export type ResultRecordV1 = Omit<ResultRecord, 'v' | 'target' | 'setup' | 'shape'> & { v: 1 };

/** Any record a reader may meet. */
export type AnyRecord = ResultRecord | ResultRecordV1;

export function makeRecord(r: Omit<ResultRecord, 'v'>): ResultRecord {
  const ordered: ResultRecord = {
    v: 2,
    config: r.config,
    status: r.status,
    sql_sha256: r.sql_sha256,
    target: r.target,
    setup: r.setup,
    sweep: r.sweep,
    unit: r.unit,
    params: r.params,
    shape: r.shape,
    rows: r.rows,
    rows_read: r.rows_read,
    bytes_read: r.bytes_read,
    elapsed_ms: r.elapsed_ms,
    attempts: r.attempts,
    query_id: r.query_id,
    max_threads: r.max_threads,
    engine: r.engine,
    host: r.host,
    worker: r.worker,
    started_at: r.started_at,
    finished_at: r.finished_at,
  };
  if (r.error) ordered.error = r.error;
  return ordered;
}

/** One line of results/shapes/<unit>.ndjson: a result shape, written the first time a unit meets it. */
export interface ShapeLine {
  shape: string;
  columns: Array<{ name: string; type: string }>;
}
