/**
 * The embedded engine: ClickHouse 26.x in this process through chdb, on a data
 * directory that persists across engine instances and processes (a setup run
 * once is seen by every later unit).
 *
 * chdb facts this file is built around (chdb 3.4):
 *  - A `Session` is one native connection with its own session state (SET,
 *    USE, temporary tables); sessions on the same path share the data and run
 *    queries in parallel. Only one data directory may be open per process.
 *  - Queries run on libuv's thread pool, 4 threads unless UV_THREADPOOL_SIZE is
 *    set before the pool first starts: a worker that wants 16 queries at once
 *    must set UV_THREADPOOL_SIZE (e.g. 20) in its environment.
 *  - `queryAsync`'s own signal/timeout only reject early; the computation runs on
 *    to completion. What does stop it is KILL QUERY from another connection:
 *    system.processes exists in chdb. chdb cannot set a query id, so each
 *    statement is tagged with `SET log_comment = 'sweep:query_id=<id>'` in its
 *    session (about 0.1 ms) and killed by `Settings['log_comment']`. The SQL
 *    itself stays untouched, so error positions are the user's.
 *  - A query that ignores the KILL (it is checked between blocks) is abandoned
 *    after a grace period: the caller gets its error, its session is retired.
 *  - chdb loads a ~550 MB native library when imported, so it is imported on
 *    first use: a worker that talks to a server never loads it, whatever the
 *    bundle format (a static import would be hoisted into an ESM bundle).
 */
import { randomUUID } from 'node:crypto';
import type * as ChdbModule from 'chdb';
import type { ChdbResult, Session } from 'chdb';
import { EngineError, type Engine, type QueryOutcome, type Row, type RunOptions } from './engine.js';
import { abortedError, timeoutError, toEngineError } from './errors.js';
import { AbortFanout } from './abort-fanout.js';
import { EXACT_OUTPUT_SETTINGS } from './output-settings.js';
import { readJsonResult, type Column } from './result-json.js';
import { returnsRows } from '../sql/format-clause.js';

export interface EmbeddedEngineOptions {
  /** Data directory; created if missing, kept after close. */
  path: string;
  /** Current database for every statement; created if missing. */
  database?: string | undefined;
}

const LOG_COMMENT_PREFIX = 'sweep:query_id=';
/** How long an aborted query may keep running after its KILL before we stop waiting for it. */
const KILL_GRACE_MS = 2000;
/** How long close() waits for native work still running (see close()). */
const CLOSE_DRAIN_MS = 5000;
/** Exact JSON output (output-settings.ts); chDB 26.x knows every one of them. */
const CONNECTION_ARGS = Object.entries(EXACT_OUTPUT_SETTINGS).map(([name, value]) => `--${name}=${value}`);

type Settings = Record<string, string | number>;
type Chdb = typeof ChdbModule;

let chdbModule: Promise<Chdb> | undefined;
function loadChdb(): Promise<Chdb> {
  chdbModule ??= import('chdb');
  return chdbModule;
}

/** One run: the statement in flight, and why it was stopped (abort, timeout). */
interface Call {
  stopped: EngineError | undefined;
  queryId: string | undefined;
  kill: Promise<void> | undefined;
  /** Stop waiting for the statement in flight after the grace period. */
  abandon: (() => void) | undefined;
}

export function createEmbeddedEngine(opts: EmbeddedEngineOptions): Engine {
  return new EmbeddedEngine(opts);
}

class EmbeddedEngine implements Engine {
  readonly kind = 'embedded' as const;
  private readonly path: string;
  private readonly database: string | undefined;
  /** Idle sessions for single-statement calls, by settings: a session keeps what was SET on it. */
  private readonly idle = new Map<string, Session[]>();
  private readonly busy = new Set<Session>();
  private readonly aborts = new AbortFanout<Call>((call) => this.stop(call, abortedError()));
  private control: Session | undefined;
  private versionText: string | undefined;
  private databaseReady = false;
  private closed = false;

  constructor(opts: EmbeddedEngineOptions) {
    this.path = opts.path;
    this.database = opts.database;
  }

  async version(): Promise<string> {
    if (this.versionText === undefined) {
      try {
        const r = await (await this.controlSession()).queryAsync('SELECT version()', { format: 'TabSeparated' });
        this.versionText = r.text().trim();
      } catch (err) {
        throw toEngineError(err);
      }
    }
    return this.versionText;
  }

  runConfig(statements: readonly string[], opts: RunOptions): Promise<QueryOutcome> {
    // Several statements get a session of their own (closed after, which drops their
    // temporary tables); a single statement borrows an idle session.
    return this.run(statements, opts, statements.length > 1);
  }

  async exec(sql: string, opts: { signal?: AbortSignal; settings?: Settings } = {}): Promise<void> {
    await this.run([sql], { queryId: `sweep-exec-${randomUUID()}`, ...opts, timeoutMs: 0 }, true);
  }

  async query(sql: string, opts: { signal?: AbortSignal } = {}): Promise<Row[]> {
    const out = await this.run([sql], { queryId: `sweep-query-${randomUUID()}`, ...opts, timeoutMs: 0 }, false);
    return out.rows;
  }

  async cancelQueries(queryIdPrefix: string): Promise<void> {
    if (queryIdPrefix === '') throw new RangeError('cancelQueries needs a non-empty prefix');
    await this.kill(`startsWith(Settings['log_comment'], ${quote(LOG_COMMENT_PREFIX + queryIdPrefix)})`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const sessions of this.idle.values()) for (const s of sessions) s.close();
    this.idle.clear();
    for (const s of this.busy) s.close();
    this.busy.clear();
    this.control?.close();
    this.control = undefined;
    // close() defers teardown behind running native ops; wait so that the data
    // directory is really released when we return, but not forever: a statement
    // that ignored its KILL may run on, and a worker shutting down must not hang on it.
    const chdb = await chdbModule?.catch(() => undefined);
    if (chdb) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([chdb.drainPending(), new Promise((r) => (timer = setTimeout(r, CLOSE_DRAIN_MS)))]);
      clearTimeout(timer);
    }
  }

  private async run(statements: readonly string[], opts: RunOptions, fresh: boolean): Promise<QueryOutcome> {
    const n = statements.length;
    if (n === 0) throw new EngineError('A config needs at least one statement', { codeName: 'EMPTY_QUERY', transient: false });
    if (this.closed) throw new EngineError('The embedded engine is closed', { codeName: 'ENGINE_CLOSED', transient: false });
    const signal = opts.signal;
    if (signal?.aborted) throw abortedError();
    const settings = opts.settings ?? {};
    const key = fresh ? '' : settingsKey(settings);

    const call: Call = { stopped: undefined, queryId: undefined, kill: undefined, abandon: undefined };
    const timeoutMs = opts.timeoutMs ?? 0;
    const timer = timeoutMs > 0 ? setTimeout(() => this.stop(call, timeoutError(timeoutMs)), timeoutMs) : undefined;
    if (signal) this.aborts.add(signal, call);

    let session: Session | undefined;
    let reusable = !fresh;
    const started = performance.now();
    try {
      session = fresh ? await this.openSession(settings) : await this.borrow(key, settings);
      let rowsRead = 0;
      let bytesRead = 0;
      let rows: Row[] = [];
      let columns: Column[] = [];
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        const queryId = n === 1 ? opts.queryId : `${opts.queryId}.${i + 1}`;
        await session.queryAsync(`SET log_comment = ${quote(LOG_COMMENT_PREFIX + queryId)}`);
        if (call.stopped) throw call.stopped;
        const result = await this.runStatement(session, call, queryId, statements[i] ?? '', last ? 'JSON' : 'Null');
        const text = last ? result.text() : '';
        if (last && text === '' && returnsRows(statements[i] ?? '')) {
          throw new EngineError('Unexpected response: the last statement returns rows but the answer was empty, not the JSON asked for (does it set its own FORMAT?)', {
            codeName: 'BAD_RESPONSE',
            transient: false,
          });
        }
        if (text === '') {
          rowsRead += result.rowsRead;
          bytesRead += result.bytesRead;
          continue;
        }
        const doc = readJsonResult(text);
        rows = doc.rows;
        columns = doc.columns;
        rowsRead += doc.rowsRead ?? result.rowsRead;
        bytesRead += doc.bytesRead ?? result.bytesRead;
      }
      return { rows, columns, rowsRead, bytesRead, elapsedMs: performance.now() - started };
    } catch (err) {
      if (call.stopped) {
        // The statement may still be running natively: never hand this session out again.
        reusable = false;
        await call.kill;
        throw call.stopped;
      }
      throw toEngineError(err);
    } finally {
      if (timer) clearTimeout(timer);
      if (signal) this.aborts.remove(signal, call);
      if (session) this.giveBack(session, key, reusable);
    }
  }

  private runStatement(session: Session, call: Call, queryId: string, sql: string, format: string): Promise<ChdbResult> {
    call.queryId = queryId;
    return new Promise<ChdbResult>((resolve, reject) => {
      session.queryAsync(sql, { format }).then(resolve, reject);
      call.abandon = () => setTimeout(() => reject(call.stopped), KILL_GRACE_MS).unref();
    }).finally(() => {
      call.queryId = undefined;
      call.abandon = undefined;
    });
  }


  private stop(call: Call, reason: EngineError): void {
    if (call.stopped) return;
    call.stopped = reason;
    if (call.queryId === undefined) return; // between statements: the next one will not start
    call.kill = this.kill(`Settings['log_comment'] = ${quote(LOG_COMMENT_PREFIX + call.queryId)}`, true).catch(
      () => {},
    );
    call.abandon?.();
  }

  /**
   * KILL QUERY from the control session. With `expectOne`, a KILL that matched
   * nothing is repeated briefly: the statement may not have reached the process list yet.
   */
  private async kill(where: string, expectOne = false): Promise<void> {
    for (const pause of expectOne ? [0, 100, 300] : [0]) {
      if (pause) await new Promise((r) => setTimeout(r, pause));
      const control = await this.controlSession();
      const r = await control.queryAsync(`KILL QUERY WHERE ${where} ASYNC`, { format: 'JSONEachRow' });
      if (r.text().trim() !== '') return;
    }
  }

  private async controlSession(): Promise<Session> {
    const session = this.control ?? (await this.newSession());
    if (this.control && this.control !== session) session.close();
    this.control ??= session;
    return this.control;
  }

  private async newSession(): Promise<Session> {
    let chdb: Chdb;
    try {
      chdb = await loadChdb();
    } catch (err) {
      throw new EngineError(`Cannot load the embedded ClickHouse (chdb): ${String(err)}`, {
        codeName: 'ENGINE_UNAVAILABLE',
        transient: false,
      });
    }
    if (this.closed) throw new EngineError('The embedded engine is closed', { codeName: 'ENGINE_CLOSED', transient: false });
    try {
      return new chdb.Session(this.path, { connectionArgs: CONNECTION_ARGS });
    } catch (err) {
      throw toEngineError(err);
    }
  }

  private async openSession(settings: Settings): Promise<Session> {
    const session = await this.newSession();
    this.busy.add(session);
    try {
      if (this.database !== undefined) {
        // The data directory is this engine's own; nobody else can create the database in it.
        if (!this.databaseReady) {
          await session.queryAsync(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(this.database)}`);
          this.databaseReady = true;
        }
        await session.queryAsync(`USE ${quoteIdentifier(this.database)}`);
      }
      for (const name in settings) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          throw new EngineError(`Not a setting name: ${JSON.stringify(name)}`, { codeName: 'UNKNOWN_SETTING', transient: false });
        }
        const value = settings[name];
        await session.queryAsync(`SET ${name} = ${typeof value === 'number' ? String(value) : quote(String(value))}`);
      }
    } catch (err) {
      this.busy.delete(session);
      session.close();
      throw err;
    }
    return session;
  }

  private async borrow(key: string, settings: Settings): Promise<Session> {
    const session = this.idle.get(key)?.pop();
    if (session) {
      this.busy.add(session);
      return session;
    }
    return this.openSession(settings);
  }

  private giveBack(session: Session, key: string, reusable: boolean): void {
    this.busy.delete(session);
    if (!reusable || this.closed) {
      session.close();
      return;
    }
    const list = this.idle.get(key);
    if (list) list.push(session);
    else this.idle.set(key, [session]);
  }
}

function settingsKey(settings: Settings): string {
  const names = Object.keys(settings);
  if (names.length === 0) return '';
  return names
    .sort()
    .map((k) => `${k}=${String(settings[k])}`)
    .join('&');
}

/** A ClickHouse string literal. */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function quoteIdentifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}
