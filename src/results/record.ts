/**
 * The result record: exactly one terminal line per config in `results/<unit>.ndjson`.
 *
 * Key order is part of the format: `v`, `config`, `status`, `sql_sha256` come first
 * so the skip-done scan can read them without parsing the whole line (see
 * src/results/ndjson.ts). JSON.stringify keeps insertion order, so build records
 * with `makeRecord` only.
 */
import type { Row } from '../engine/engine.js';

export type TerminalStatus = 'ok' | 'skipped' | 'error';
export type ParamValue = string | number;
export type Params = Record<string, ParamValue>;

export interface RecordError {
  /** ClickHouse's numeric code where there is one, else null. */
  code: number | null;
  name: string;
  message: string;
}

export interface ResultRecord {
  v: 1;
  config: string;
  status: TerminalStatus;
  sql_sha256: string;
  sweep: string;
  unit: string;
  params: Params;
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

export function makeRecord(r: ResultRecord): ResultRecord {
  const ordered: ResultRecord = {
    v: 1,
    config: r.config,
    status: r.status,
    sql_sha256: r.sql_sha256,
    sweep: r.sweep,
    unit: r.unit,
    params: r.params,
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
