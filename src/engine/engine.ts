/**
 * The one interface through which sweep talks to ClickHouse. Only the files in
 * src/engine/ import a ClickHouse library (`@clickhouse/client`, `chdb`).
 */

import type { Column } from './result-json.js';

export type Row = Record<string, unknown>;
export type { Column };

export interface RunOptions {
  /** Unique per attempt, so a retry never collides with a query still dying on the server. */
  queryId: string;
  /** ClickHouse settings for every statement of this config (e.g. max_threads). */
  settings?: Record<string, string | number>;
  /** Aborting must stop the query on the server too, not just drop the socket. */
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface QueryOutcome {
  /**
   * Rows of the last statement, keys in column order, values in the one exact
   * representation of result-json.ts (64-bit integers and decimals as strings,
   * NaN/Inf as "nan"/"inf"/"-inf"), the same from every engine and version.
   */
  rows: Row[];
  /** The last statement's columns (JSON `meta`); empty when it returns no result set (DDL, INSERT). */
  columns: Column[];
  rowsRead: number;
  bytesRead: number;
  /** Wall time of the whole config (all statements), sub-millisecond resolution. */
  elapsedMs: number;
}

/** What a failed query looks like, whatever the engine or server version. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  /** ClickHouse's numeric error code when the server sent one. */
  readonly code: number | undefined;
  /** ClickHouse's symbolic name (e.g. `SYNTAX_ERROR`) or a transport name (`ECONNREFUSED`). */
  readonly codeName: string;
  /** True when retrying later may succeed (connection trouble, overload, memory). */
  readonly transient: boolean;
  constructor(message: string, opts: { code?: number | undefined; codeName: string; transient: boolean }) {
    super(message);
    this.code = opts.code;
    this.codeName = opts.codeName;
    this.transient = opts.transient;
  }
}

export interface Engine {
  readonly kind: 'http' | 'embedded';
  /** Server version string, e.g. `18.16.1` or `26.7.2.1`. */
  version(): Promise<string>;
  /** Run a config's statements in order in one session of their own; the last one's rows are the result. */
  runConfig(statements: readonly string[], opts: RunOptions): Promise<QueryOutcome>;
  /** Run one statement whose output is not needed (setup DDL, inserts). */
  exec(sql: string, opts?: { signal?: AbortSignal; settings?: Record<string, string | number> }): Promise<void>;
  /** Run one statement and return its rows (introspection). */
  query(sql: string, opts?: { signal?: AbortSignal }): Promise<Row[]>;
  /** Best effort: stop every query whose id starts with this prefix on the server. */
  cancelQueries(queryIdPrefix: string): Promise<void>;
  close(): Promise<void>;
}
