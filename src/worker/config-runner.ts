/**
 * One config's life in the worker: read and check its SQL, run it (one attempt
 * per call), and either write its terminal record or tell the dispatcher to
 * retry it (transient), wait for the server (connection) or drop it (stopped).
 */
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { splitStatements, type Engine } from '../engine/index.js';
import { UserError } from '../errors.js';
import type { NdjsonAppender } from '../results/ndjson.js';
import { makeRecord, type RecordError, type ResultRecord, type TerminalStatus } from '../results/record.js';
import { TOOL_VERSION } from '../version.js';
import type { Counts } from './progress.js';
import { backoffMs, classifyFailure, cleanMessage } from './retry.js';
import type { AttemptOutcome } from './scheduler.js';
import type { UnitConfig } from './todo.js';
import type { UnitDir } from './unit-dir.js';

/** Connection failures a single config may cause before it is recorded as an error (a query that crashes the server). */
export const MAX_CONNECTION_FAILURES = 10;

export interface Job {
  config: UnitConfig;
  statements?: string[];
  attempts: number;
  transientFailures: number;
  connectionFailures: number;
  startedAt?: string;
}

export function* jobsOf(configs: readonly UnitConfig[]): Generator<Job> {
  for (const config of configs) yield { config, attempts: 0, transientFailures: 0, connectionFailures: 0 };
}

export interface RunnerContext {
  unit: UnitDir;
  engine: Engine;
  /** e.g. `http 18.16.1`. */
  engineLabel: string;
  maxThreads: number;
  /** `<sweep>:<run id>:`; query ids are `<prefix><config>:<attempt>`. */
  queryIdPrefix: string;
  timeoutMs: number;
  /** Retries of transient errors per config. */
  retries: number;
  out: NdjsonAppender;
  /** Updated as records are written: the unit's totals and this run's. */
  counts: Counts;
  ran: { ok: number; skipped: number; error: number; retries: number };
}

interface RecordFields {
  rows?: ResultRecord['rows'];
  rowsRead?: number;
  bytesRead?: number;
  elapsedMs: number;
  queryId: string;
  error?: RecordError;
}

export class ConfigRunner {
  private readonly host = hostname();
  private readonly settings: Record<string, number>;

  constructor(private readonly ctx: RunnerContext) {
    this.settings = { max_threads: ctx.maxThreads };
  }

  /** One attempt at a config; every failure becomes an outcome, only a write failure throws. */
  readonly attempt = async (job: Job, signal: AbortSignal): Promise<AttemptOutcome> => {
    const { engine, queryIdPrefix, timeoutMs, ran } = this.ctx;
    job.startedAt ??= new Date().toISOString();
    if (!job.statements) {
      const prepared = prepareSql(this.ctx.unit, job.config);
      if ('error' in prepared) {
        this.record(job, 'error', { elapsedMs: 0, queryId: '', error: prepared.error });
        return { kind: 'done', success: true };
      }
      job.statements = prepared.statements;
    }
    job.attempts++;
    const queryId = `${queryIdPrefix}${job.config.id}:${job.attempts}`;
    const t = performance.now();
    try {
      const res = await engine.runConfig(job.statements, { queryId, settings: this.settings, signal, timeoutMs });
      this.record(job, res.rows.length > 0 ? 'ok' : 'skipped', {
        rows: res.rows,
        rowsRead: res.rowsRead,
        bytesRead: res.bytesRead,
        elapsedMs: res.elapsedMs,
        queryId,
      });
      return { kind: 'done', success: true };
    } catch (err) {
      // Stopped by a signal: no record; the next run does it again.
      if (signal.aborted) return { kind: 'aborted' };
      const failure = classifyFailure(err);
      const elapsedMs = performance.now() - t;
      if (failure.kind === 'connection') {
        job.connectionFailures++;
        if (job.connectionFailures < MAX_CONNECTION_FAILURES) {
          ran.retries++;
          return { kind: 'outage', reason: `${failure.error.name}: ${failure.error.message.slice(0, 200)}` };
        }
      } else if (failure.kind === 'transient') {
        job.transientFailures++;
        if (job.transientFailures <= this.ctx.retries) {
          ran.retries++;
          return { kind: 'retry', delayMs: backoffMs(job.transientFailures) };
        }
      }
      this.record(job, 'error', { elapsedMs, queryId, error: failure.error });
      return { kind: 'done', success: failure.kind === 'permanent' };
    }
  };

  private record(job: Job, status: TerminalStatus, f: RecordFields): void {
    const { unit, counts, ran } = this.ctx;
    const r = makeRecord({
      v: 1,
      config: job.config.id,
      status,
      sql_sha256: job.config.sql_sha256,
      sweep: unit.sweep,
      unit: unit.unit,
      params: job.config.params,
      rows: f.rows ?? [],
      rows_read: f.rowsRead ?? 0,
      bytes_read: f.bytesRead ?? 0,
      elapsed_ms: Math.round(f.elapsedMs * 1000) / 1000,
      attempts: job.attempts,
      query_id: f.queryId,
      max_threads: this.ctx.maxThreads,
      engine: this.ctx.engineLabel,
      host: this.host,
      worker: TOOL_VERSION,
      started_at: job.startedAt ?? new Date().toISOString(),
      finished_at: new Date().toISOString(),
      ...(f.error ? { error: f.error } : {}),
    });
    this.ctx.out.append(r);
    counts[status]++;
    ran[status]++;
  }
}

/** One-shot crypto.hash (Node >= 20.12) is ~3x faster than a Hash object on small inputs. */
const sha256Hex: (data: string) => string =
  typeof crypto.hash === 'function' ? (data) => crypto.hash('sha256', data, 'hex') : (data) => crypto.createHash('sha256').update(data).digest('hex');

/** Read, check and split a config's SQL. Problems become the config's error record. */
export function prepareSql(u: UnitDir, c: UnitConfig): { statements: string[] } | { error: RecordError } {
  const path = join(u.sqlDir, `${c.id}.sql`);
  let text: string;
  try {
    // Synchronous on purpose: a few microseconds for a small file, less than a
    // thread-pool round trip (open, stat, read, close) costs in CPU. With an
    // encoding, Node 20 reads the whole file in one native call (readFileUtf8),
    // 3x cheaper than the Buffer path's open/fstat/read/close from JS. generate
    // writes UTF-8, so hashing the decoded text hashes the file's bytes; a file
    // that is not valid UTF-8 was not written by generate and shows as changed.
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { error: { code: null, name: 'SQL_MISSING', message: cleanMessage(`${path}: ${(err as Error).message}`) } };
  }
  const sha = sha256Hex(text);
  if (sha !== c.sql_sha256) {
    return {
      error: {
        code: null,
        name: 'SQL_CHANGED',
        message: `${path}: expected sha256 ${c.sql_sha256} (units/${u.unit}.json), found ${sha}: the SQL changed after generate; run 'sweep generate' again`,
      },
    };
  }
  let statements: string[];
  try {
    statements = splitStatements(text);
  } catch (err) {
    const code = err instanceof UserError ? err.code : 'SQL_INVALID';
    return { error: { code: null, name: code, message: cleanMessage(`${path}: ${(err as Error).message}`) } };
  }
  if (statements.length === 0) return { error: { code: null, name: 'EMPTY_SQL', message: `${path}: no statement in the file` } };
  return { statements };
}
