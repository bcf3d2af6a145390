/**
 * The ClickHouse HTTP engine: plain keep-alive `node:http` POSTs, one per
 * statement, the body parsed once (result-json.ts).
 *
 * Why not @clickhouse/client: measured against a bare http.request loop
 * (concurrency 16, 2,000 trivial queries) this path costs ~1.0-1.1x wall and
 * CPU, where @clickhouse/client 1.23 costs ~1.95x wall and ~2.6x CPU whatever the
 * method: every request goes through a `setTimeout(0)`, a `Readable.from(body)`
 * pipeline, two AbortControllers and a tracing span. Its control calls (version,
 * KILL QUERY, introspection) once went through it too; loading it cost every
 * worker start ~30 ms for a handful of requests, so they share this path now,
 * on a small pool of their own (a KILL must never wait behind the queries it
 * is meant to stop).
 *
 * Both pools retire idle sockets after `keepAliveTtlMs` (2 s by default), below
 * ClickHouse's keep-alive timeout (3 s on 18.16, announced as
 * `Keep-Alive: timeout=3`, which Node's agent also honours, minus 1 s).
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type * as Https from 'node:https';
import { UserError } from '../errors.js';
import { EngineError, type Engine, type QueryOutcome, type Row, type RunOptions } from './engine.js';
import { abortedError, httpErrorToEngineError, redactUrl, timeoutError, toEngineError } from './errors.js';
import { AbortFanout } from './abort-fanout.js';
import { exactOutputSettings, OUTPUT_SETTING_NAMES } from './output-settings.js';
import { readJsonResult, type Column } from './result-json.js';
import { returnsRows } from '../sql/format-clause.js';

export interface HttpEngineOptions {
  /** http(s)://[user[:password]@]host:port[/path][?database=name]; credentials in the URL are used, never printed. */
  url: string;
  database?: string | undefined;
  /** Wins over a user in the URL; `default` when neither is given. */
  username?: string | undefined;
  password?: string | undefined;
  /** Queries the caller runs at once; both socket pools are this large. */
  concurrency: number;
  /** Deadline for a whole config (all its statements) unless RunOptions.timeoutMs says otherwise; 0 for none. */
  queryTimeoutMs: number;
  /** Idle keep-alive sockets are closed after this long (default 2000, below 18.16's 3 s). */
  keepAliveTtlMs?: number | undefined;
}

const DEFAULT_KEEP_ALIVE_TTL_MS = 2000;
/**
 * A multi-statement config's session lives this long after its last statement
 * (the server default is 60 s). Sessions hold their temporary tables in memory,
 * and at 16 configs in flight a 60 s tail would keep thousands alive.
 */
const SESSION_TIMEOUT_S = 10;
/** How long an abort waits for its KILL QUERY before giving up on the server side. */
const KILL_DEADLINE_MS = 3000;

interface Capabilities {
  version: string;
  /** 18.16 rejects unknown settings (UNKNOWN_SETTING), so send only what the server knows. */
  extraSettings: string;
}

interface Reply {
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

/** Sockets for control requests (version, introspection, KILL QUERY, setup statements). */
const CONTROL_SOCKETS = 4;

/** One runConfig call: the request in flight, and why it was stopped (abort, timeout). */
interface Call {
  /** Which socket pool its requests use. */
  agent: http.Agent;
  /** False for a KILL QUERY itself: stopping it only drops its socket (no KILL of a KILL). */
  killable?: boolean;
  req: http.ClientRequest | undefined;
  queryId: string | undefined;
  stopped: EngineError | undefined;
  kill: Promise<void> | undefined;
}

export function createHttpEngine(opts: HttpEngineOptions): Engine {
  return new HttpEngine(opts);
}

class HttpEngine implements Engine {
  readonly kind = 'http' as const;
  private readonly agent: http.Agent;
  private readonly controlAgent: http.Agent;
  private readonly request: typeof http.request;
  private readonly requestBase: http.RequestOptions;
  /** Path and fixed query parameters, ending in `?` or `&`, ready for `query_id=`. */
  private readonly pathPrefix: string;
  private readonly displayUrl: string;
  private readonly queryTimeoutMs: number;
  private caps: Capabilities | undefined;
  private capsPending: Promise<Capabilities> | undefined;
  /** The calls running under each caller's signal, stopped together when it aborts. */
  private readonly aborts = new AbortFanout<Call>((call) => this.stop(call, abortedError()));

  constructor(opts: HttpEngineOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${opts.concurrency}`);
    }
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new UserError('CLICKHOUSE_URL_INVALID', `ClickHouse URL is not a URL: ${redactUrl(opts.url)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UserError('CLICKHOUSE_URL_INVALID', `ClickHouse URL must be http(s)://, got ${redactUrl(url)}`);
    }
    const username = opts.username ?? (decodeURIComponent(url.username) || 'default');
    const password = opts.password ?? decodeURIComponent(url.password);
    const database = opts.database ?? url.searchParams.get('database') ?? undefined;
    for (const key of url.searchParams.keys()) {
      if (key !== 'database') {
        throw new UserError(
          'CLICKHOUSE_URL_INVALID',
          `ClickHouse URL parameter "${key}" is not supported (only "database"): ${redactUrl(url)}`,
        );
      }
    }
    url.username = '';
    url.password = '';
    url.search = '';
    this.displayUrl = url.toString();
    this.queryTimeoutMs = opts.queryTimeoutMs;
    const ttl = opts.keepAliveTtlMs ?? DEFAULT_KEEP_ALIVE_TTL_MS;

    // Agent `timeout` is the idle time after which a free socket is destroyed; Node
    // caps it further at the server's `Keep-Alive: timeout=N` hint minus 1 s.
    const secure = url.protocol === 'https:';
    // node:https loads TLS (~10 ms at start-up): only for an https URL. getBuiltinModule: Node >= 20.16.
    const https = secure ? ((process as unknown as { getBuiltinModule(id: string): unknown }).getBuiltinModule('node:https') as typeof Https) : undefined;
    const agentOptions = { keepAlive: true, maxSockets: opts.concurrency, timeout: ttl, scheduling: 'lifo' as const };
    this.agent = https ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    const controlOptions = { ...agentOptions, maxSockets: CONTROL_SOCKETS };
    this.controlAgent = https ? new https.Agent(controlOptions) : new http.Agent(controlOptions);
    this.request = https ? https.request : http.request;
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'text/plain; charset=UTF-8', 'User-Agent': 'sweep' };
    // Basic auth works on every server version (X-ClickHouse-User is newer than 18.16).
    headers['Authorization'] = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    this.requestBase = {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (secure ? 443 : 80),
      method: 'POST',
      agent: this.agent,
      headers,
    };
    const pathname = url.pathname || '/';
    this.pathPrefix = database ? `${pathname}?database=${encodeURIComponent(database)}&` : `${pathname}?`;

  }

  async version(): Promise<string> {
    return (await this.capabilities()).version;
  }

  async runConfig(statements: readonly string[], opts: RunOptions): Promise<QueryOutcome> {
    const n = statements.length;
    if (n === 0) throw new EngineError('A config needs at least one statement', { codeName: 'EMPTY_QUERY', transient: false });
    const signal = opts.signal;
    if (signal?.aborted) throw abortedError();
    const caps = this.caps ?? (await this.capabilities());
    const started = performance.now();

    let params = caps.extraSettings;
    if (opts.settings) {
      for (const key in opts.settings) {
        params += `&${encodeURIComponent(key)}=${encodeURIComponent(String(opts.settings[key]))}`;
      }
    }
    // One session per call, never shared: concurrent calls on one session fail with SESSION_IS_LOCKED.
    // Later statements pass session_check so an expired session is an error, not a silently fresh one.
    const session = n > 1 ? `&session_id=sweep-${randomUUID()}&session_timeout=${SESSION_TIMEOUT_S}` : '';

    const call: Call = { agent: this.agent, req: undefined, queryId: undefined, stopped: undefined, kill: undefined };
    const timeoutMs = opts.timeoutMs ?? this.queryTimeoutMs;
    const timer = timeoutMs > 0 ? setTimeout(() => this.stop(call, timeoutError(timeoutMs)), timeoutMs) : undefined;
    if (signal) this.aborts.add(signal, call);

    try {
      let rowsRead = 0;
      let bytesRead = 0;
      let rows: Row[] = [];
      let columns: Column[] = [];
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        const queryId = n === 1 ? opts.queryId : `${opts.queryId}.${i + 1}`;
        const sessionParams = i === 0 ? session : `${session}&session_check=1`;
        // Earlier statements' output is not wanted; Null keeps a failure in a proper HTTP status too.
        const query = `${last ? '&default_format=JSON' : '&default_format=Null'}${params}${sessionParams}`;
        const reply = await this.send(call, queryId, query, statements[i] ?? '');
        const summary = parseSummary(reply.headers['x-clickhouse-summary']);
        if (last) checkAnswerFormat(reply, statements[i] ?? '');
        if (!last || reply.body.length === 0) {
          rowsRead += summary.rows;
          bytesRead += summary.bytes;
          continue;
        }
        const doc = readJsonResult(reply.body.toString('utf8'));
        rows = doc.rows;
        columns = doc.columns;
        // The JSON body's statistics (18.16 and later) are complete; a summary header sent
        // with the first block of a streamed result is not.
        rowsRead += doc.rowsRead ?? summary.rows;
        bytesRead += doc.bytesRead ?? summary.bytes;
      }
      return { rows, columns, rowsRead, bytesRead, elapsedMs: performance.now() - started };
    } catch (err) {
      if (call.stopped) {
        await call.kill;
        throw call.stopped;
      }
      throw this.withTarget(toEngineError(err));
    } finally {
      if (timer) clearTimeout(timer);
      if (signal) this.aborts.remove(signal, call);
    }
  }

  async exec(sql: string, opts: { signal?: AbortSignal; settings?: Record<string, string | number> } = {}): Promise<void> {
    // No deadline of ours: setup statements (CREATE ... AS SELECT, INSERT) may run long; the signal stops them.
    await this.control(sql, { queryId: `sweep-exec-${randomUUID()}`, format: 'Null', settings: opts.settings, signal: opts.signal, timeoutMs: 0 });
  }

  async query(sql: string, opts: { signal?: AbortSignal } = {}): Promise<Row[]> {
    const reply = await this.control(sql, { queryId: `sweep-query-${randomUUID()}`, format: 'JSON', signal: opts.signal, timeoutMs: Math.max(this.queryTimeoutMs, 30_000) });
    return reply.body.length === 0 ? [] : readJsonResult(reply.body.toString('utf8')).rows;
  }

  /**
   * One statement on the control pool, with none of the config's settings; a
   * stale keep-alive socket is retried once, an abort or the deadline KILLs it
   * on the server as runConfig does.
   */
  private async control(
    sql: string,
    o: { queryId: string; format: string; settings?: Record<string, string | number> | undefined; signal?: AbortSignal | undefined; timeoutMs: number; killable?: boolean },
  ): Promise<Reply> {
    if (o.signal?.aborted) throw abortedError();
    const call: Call = { agent: this.controlAgent, killable: o.killable ?? true, req: undefined, queryId: undefined, stopped: undefined, kill: undefined };
    const timer = o.timeoutMs > 0 ? setTimeout(() => this.stop(call, timeoutError(o.timeoutMs)), o.timeoutMs) : undefined;
    if (o.signal) this.aborts.add(o.signal, call);
    let params = `&default_format=${o.format}`;
    for (const key in o.settings ?? {}) params += `&${encodeURIComponent(key)}=${encodeURIComponent(String(o.settings?.[key]))}`;
    try {
      return await this.send(call, o.queryId, params, sql);
    } catch (err) {
      if (call.stopped) {
        await call.kill;
        throw call.stopped;
      }
      throw this.withTarget(toEngineError(err));
    } finally {
      if (timer) clearTimeout(timer);
      if (o.signal) this.aborts.remove(o.signal, call);
    }
  }

  async cancelQueries(queryIdPrefix: string): Promise<void> {
    if (queryIdPrefix === '') throw new RangeError('cancelQueries needs a non-empty prefix');
    await this.kill(`startsWith(query_id, ${quote(queryIdPrefix)})`);
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.controlAgent.destroy();
  }

  private capabilities(): Promise<Capabilities> {
    if (this.caps) return Promise.resolve(this.caps);
    this.capsPending ??= this.detect().then(
      (caps) => {
        this.caps = caps;
        return caps;
      },
      (err: unknown) => {
        this.capsPending = undefined; // let the next call try again (server not up yet)
        throw err;
      },
    );
    return this.capsPending;
  }

  private async detect(): Promise<Capabilities> {
    const names = ['cancel_http_readonly_queries_on_client_close', ...OUTPUT_SETTING_NAMES].map((n) => `'${n}'`).join(', ');
    const rows = await this.query(`SELECT version() AS version, groupArray(name) AS known FROM system.settings WHERE name IN (${names})`);
    const row = rows[0] ?? {};
    const known = new Set(Array.isArray(row['known']) ? row['known'].map(String) : []);
    // cancel_http_readonly_queries_on_client_close came after 18.16 and only covers readonly
    // requests (GET, or readonly > 0), so for our POSTs KILL QUERY remains what stops a query;
    // it is sent because it is free.
    let extra = known.has('cancel_http_readonly_queries_on_client_close') ? '&cancel_http_readonly_queries_on_client_close=1' : '';
    for (const [name, value] of Object.entries(exactOutputSettings(known))) extra += `&${name}=${value}`;
    return { version: String(row['version'] ?? 'unknown'), extraSettings: extra };
  }


  /** POST one statement; retry once, with a new query id, if a reused keep-alive socket was closed under us. */
  private async send(call: Call, queryId: string, query: string, sql: string): Promise<Reply> {
    try {
      return await this.post(call, queryId, query, sql);
    } catch (err) {
      if (call.stopped || !isStaleSocketError(err)) throw err;
      return this.post(call, `${queryId}.r`, query, sql);
    }
  }

  private post(call: Call, queryId: string, query: string, sql: string): Promise<Reply> {
    if (call.stopped) return Promise.reject(call.stopped);
    return new Promise<Reply>((resolve, reject) => {
      let responded = false;
      const req = this.request({ ...this.requestBase, agent: call.agent, path: `${this.pathPrefix}query_id=${encodeURIComponent(queryId)}${query}` }, (res) => {
        responded = true;
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          length += chunk.length;
        });
        res.on('error', reject);
        res.on('close', () => {
          if (call.req === req) call.req = undefined;
          if (!res.complete) {
            reject(new EngineError('The connection closed before the whole response arrived', { codeName: 'ECONNRESET', transient: true }));
          }
        });
        res.on('end', () => {
          const body = chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, length);
          const status = res.statusCode ?? 0;
          const code = res.headers['x-clickhouse-exception-code'];
          if (status !== 200 || code !== undefined) {
            reject(httpErrorToEngineError(status, body.toString('utf8'), typeof code === 'string' ? code : undefined));
            return;
          }
          resolve({ body, headers: res.headers });
        });
      });
      req.on('error', (err: Error & { reusedSocket?: boolean }) => {
        // Mark resets of a reused socket before any response byte: the server closed an idle
        // keep-alive connection, so it never saw this request and a retry is safe.
        if (!responded && req.reusedSocket) Object.assign(err, { staleSocket: true });
        if (call.req === req) call.req = undefined;
        reject(err);
      });
      call.req = req;
      call.queryId = queryId;
      req.end(sql);
    });
  }

  /** Abort the call: drop its socket and KILL its query on the server (the server does not notice a closed socket). */
  private stop(call: Call, reason: EngineError): void {
    if (call.stopped) return;
    call.stopped = reason;
    const req = call.req;
    // Between statements nothing runs; the next statement will not start.
    if (!req || !call.queryId) return;
    req.destroy(reason);
    if (call.killable === false) return;
    call.kill = this.kill(`query_id = ${quote(call.queryId)}`, true).catch(() => {});
  }

  /**
   * KILL QUERY ... ASYNC (18.16 and current servers). With `expectOne`, a KILL that
   * matched nothing is repeated a few times: the request may still be on its way to
   * the server's process list.
   */
  private async kill(where: string, expectOne = false): Promise<void> {
    const deadline = Date.now() + KILL_DEADLINE_MS;
    for (const pause of expectOne ? [0, 100, 300] : [0]) {
      if (pause) await new Promise((r) => setTimeout(r, pause));
      const reply = await this.control(`KILL QUERY WHERE ${where} ASYNC`, {
        queryId: `sweep-kill-${randomUUID()}`,
        format: 'JSON',
        timeoutMs: Math.max(1, deadline - Date.now()),
        killable: false,
      });
      const killed = reply.body.length === 0 ? [] : readJsonResult(reply.body.toString('utf8')).rows;
      if (killed.length > 0 || Date.now() >= deadline) return;
    }
  }

  private withTarget(err: EngineError): EngineError {
    if (err.code !== undefined) return err;
    return new EngineError(`${err.message} (ClickHouse at ${this.displayUrl})`, {
      codeName: err.codeName,
      transient: err.transient,
    });
  }
}

function isStaleSocketError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: string; staleSocket?: boolean };
  if (!e.staleSocket) return false;
  return e.code === 'ECONNRESET' || e.code === 'EPIPE' || /socket hang up/i.test(e.message);
}

/**
 * The last statement's answer must be the JSON asked for: current servers name
 * the format they wrote (X-ClickHouse-Format; 18.16 sends no such header), and
 * an empty body is only an answer from a statement that returns no rows.
 */
function checkAnswerFormat(reply: Reply, sql: string): void {
  const format = reply.headers['x-clickhouse-format'];
  if (typeof format === 'string' && format !== 'JSON') {
    throw new EngineError(`Unexpected response: the server answered in ${format}, not the JSON asked for (does the last statement set its own FORMAT?)`, {
      codeName: 'BAD_RESPONSE',
      transient: false,
    });
  }
  if (reply.body.length === 0 && returnsRows(sql)) {
    throw new EngineError('Unexpected response: the last statement returns rows but the answer was empty, not the JSON asked for (does it set its own FORMAT?)', {
      codeName: 'BAD_RESPONSE',
      transient: false,
    });
  }
}

/** X-ClickHouse-Summary (newer servers; absent on 18.16): `{"read_rows":"3","read_bytes":"24",...}`. */
function parseSummary(header: string | string[] | undefined): { rows: number; bytes: number } {
  if (typeof header !== 'string') return { rows: 0, bytes: 0 };
  try {
    const s = JSON.parse(header) as { read_rows?: string; read_bytes?: string };
    return { rows: Number(s.read_rows ?? 0) || 0, bytes: Number(s.read_bytes ?? 0) || 0 };
  } catch {
    return { rows: 0, bytes: 0 };
  }
}

/** A ClickHouse string literal. */
function quote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
