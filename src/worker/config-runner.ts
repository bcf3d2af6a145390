/**
 * One config's life in the worker: read and check its SQL, run it (one attempt
 * per call), and either write its terminal record or tell the dispatcher to
 * retry it (transient), wait for the server (connection) or drop it (stopped).
 */
import * as crypto from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { splitStatements, type Column, type Engine } from '../engine/index.js';
import { UserError } from '../errors.js';
import type { NdjsonAppender } from '../results/ndjson.js';
import { makeRecord, type RecordError, type ResultRecord, type ShapeLine, type TerminalStatus } from '../results/record.js';
import { ALL_UNIT } from '../spec/ids.js';
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
  /** Where the queries run (src/engine/target.ts); stamped into every record. */
  target: string;
  /** The setup generation in force on the target, null when the sweep has no setup. */
  setup: string | null;
  maxThreads: number;
  /** ClickHouse settings for every query of the run (max_threads, the result cap). */
  settings: Record<string, string | number>;
  /** `<sweep>:<unit>:<run id>:`; query ids are `<prefix><config id without the unit>:<attempt>`. */
  queryIdPrefix: string;
  timeoutMs: number;
  /** Retries of transient errors per config. */
  retries: number;
  out: NdjsonAppender;
  shapes: ShapeBook;
  /** Updated as records are written: the unit's totals and this run's. */
  counts: Counts;
  ran: { ok: number; skipped: number; error: number; retries: number; refused: number };
  halt: HaltWatch;
}

interface RecordFields {
  rows?: ResultRecord['rows'];
  columns?: Column[];
  rowsRead?: number;
  bytesRead?: number;
  elapsedMs: number;
  queryId: string;
  error?: RecordError;
}

export class ConfigRunner {
  private readonly host = hostname();
  private readonly idPrefixLength: number;
  /** max_threads sent now (auto concurrency changes it). */
  maxThreads: number;

  constructor(private readonly ctx: RunnerContext) {
    this.maxThreads = ctx.maxThreads;
    // Config ids start with the unit id and `__` (src/spec/ids.ts): query ids carry the unit once.
    this.idPrefixLength = ctx.unit.unit === ALL_UNIT ? 0 : ctx.unit.unit.length + 2;
  }

  /** Threads per query from now on (with concurrency auto, as the number in flight changes). */
  setMaxThreads(n: number): void {
    this.maxThreads = n;
    this.ctx.settings = { ...this.ctx.settings, max_threads: n };
  }

  /** The query id of an attempt: `<sweep>:<unit>:<run>:<rest of the config id>:<attempt>`. */
  queryIdOf(config: string, attempt: number): string {
    return `${this.ctx.queryIdPrefix}${config.slice(this.idPrefixLength)}:${attempt}`;
  }

  /** One attempt at a config; every failure becomes an outcome, only a write failure throws. */
  readonly attempt = async (job: Job, signal: AbortSignal): Promise<AttemptOutcome> => {
    const { engine, timeoutMs, ran } = this.ctx;
    job.startedAt ??= new Date().toISOString();
    if (!job.statements) {
      const prepared = prepareSql(this.ctx.unit, job.config);
      if ('error' in prepared) {
        this.record(job, 'error', { elapsedMs: 0, queryId: '', error: prepared.error }, true);
        return { kind: 'done', success: true };
      }
      job.statements = prepared.statements;
    }
    job.attempts++;
    const queryId = this.queryIdOf(job.config.id, job.attempts);
    const t = performance.now();
    try {
      const res = await engine.runConfig(job.statements, { queryId, settings: this.ctx.settings, signal, timeoutMs });
      this.record(job, res.rows.length > 0 ? 'ok' : 'skipped', {
        rows: res.rows,
        columns: res.columns,
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
      } else if (failure.kind === 'busy') {
        // Refused before it ran: the server's limit, not this config's failure. No retry is spent.
        job.attempts--;
        ran.refused++;
        return { kind: 'busy', reason: `${failure.error.name}${failure.error.code !== null ? ` (${failure.error.code})` : ''}` };
      } else if (failure.kind === 'transient') {
        job.transientFailures++;
        if (job.transientFailures <= this.ctx.retries) {
          ran.retries++;
          return { kind: 'retry', delayMs: backoffMs(job.transientFailures) };
        }
      }
      this.record(job, 'error', { elapsedMs, queryId, error: failure.error }, failure.kind === 'permanent');
      return { kind: 'done', success: failure.kind === 'permanent' };
    }
  };

  private record(job: Job, status: TerminalStatus, f: RecordFields, permanent = false): void {
    const { unit, counts, ran } = this.ctx;
    const columns = f.columns ?? [];
    const r = makeRecord({
      config: job.config.id,
      status,
      sql_sha256: job.config.sql_sha256,
      target: this.ctx.target,
      setup: this.ctx.setup,
      sweep: unit.sweep,
      unit: unit.unit,
      params: job.config.params,
      shape: columns.length > 0 ? this.ctx.shapes.idOf(columns) : null,
      rows: f.rows ?? [],
      rows_read: f.rowsRead ?? 0,
      bytes_read: f.bytesRead ?? 0,
      elapsed_ms: Math.round(f.elapsedMs * 1000) / 1000,
      attempts: job.attempts,
      query_id: f.queryId,
      max_threads: this.maxThreads,
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
    this.ctx.halt.observe(status === 'error' && permanent ? f.error : undefined);
  }
}

/**
 * Halting a broken template early: when the first `after` configs of a run all
 * end in the same permanent error (same code and name), the rest would too.
 * `observe` is told each terminal outcome (the error when it is a permanent
 * one); `halted` is then set and the caller stops the run. 0 turns it off.
 */
export class HaltWatch {
  private seen = 0;
  private first: RecordError | undefined;
  private broken = false;
  halted: { code: number | null; name: string; configs: number } | undefined;

  constructor(
    private readonly after: number,
    private readonly onHalt: () => void,
  ) {}

  observe(permanentError: RecordError | undefined): void {
    if (this.after <= 0 || this.broken || this.halted) return;
    if (!permanentError || (this.first && (this.first.code !== permanentError.code || this.first.name !== permanentError.name))) {
      this.broken = true;
      return;
    }
    this.first ??= permanentError;
    this.seen++;
    if (this.seen >= this.after) {
      this.halted = { code: permanentError.code, name: permanentError.name, configs: this.seen };
      this.onHalt();
    }
  }
}

/**
 * Result shapes (column names and ClickHouse types), each written once per unit
 * to `results/shapes/<unit>.ndjson` and named in records by a 16-hex id, so the
 * types travel with the results at no cost per record.
 */
export class ShapeBook {
  private readonly known = new Set<string>();
  private readonly ids = new Map<string, string>();

  constructor(private readonly path: string) {
    try {
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const s = JSON.parse(line) as Partial<ShapeLine>;
          if (typeof s.shape === 'string') this.known.add(s.shape);
        } catch {
          // a torn last line: that shape is simply written again
        }
      }
    } catch {
      // no shapes yet
    }
  }

  idOf(columns: readonly Column[]): string {
    let key = '';
    for (const c of columns) key += `${c.name}\u0000${c.type}\u0001`;
    let id = this.ids.get(key);
    if (id === undefined) {
      const json = JSON.stringify(columns.map((c) => ({ name: c.name, type: c.type })));
      id = sha256Hex(json).slice(0, 16);
      this.ids.set(key, id);
      if (!this.known.has(id)) {
        // Before the record that names it: a reader never meets an unknown shape.
        mkdirSync(dirname(this.path), { recursive: true });
        const fd = openSync(this.path, 'a', 0o644);
        try {
          writeSync(fd, `{"shape":"${id}","columns":${json}}\n`);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        this.known.add(id);
      }
    }
    return id;
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
        message: `${path}: expected sha256 ${c.sql_sha256} (units/${u.unit}.json), found ${sha}: the SQL changed after generate (edited by hand?): delete ${path} and run 'sweep generate' again (it rewrites a file only when its config's SQL changed, so it keeps one edited by hand)`,
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
