/**
 * Turns whatever a ClickHouse server, @clickhouse/client, chdb or the network
 * throws into an `EngineError` with ClickHouse's numeric code, its symbolic name
 * and a transient/permanent verdict the worker's retry policy can act on.
 *
 * Error texts differ by server generation:
 *   18.16 (Debian 12):  `Code: 62, e.displayText() = DB::Exception: Syntax error: ..., e.what() = DB::Exception`
 *   20.x and later:     `Code: 62. DB::Exception: Syntax error: .... (SYNTAX_ERROR) (version 25.8.1.1 (official build))`
 *   chdb (26.x):        the new form without the version suffix, plus a numeric `clickhouseCode` property.
 * @clickhouse/client only recognises the new form: against 18.16 it throws a plain
 * `Error` whose message is the raw text above and which has no `.code`.
 *
 * Messages are kept whole (tabs, quotes, newlines, the server's own wording);
 * only the trailing newline the server appends is dropped.
 */
import { EngineError } from './engine.js';
import { ERROR_CODE_NAMES } from './error-codes.generated.js';

/**
 * Codes where trying again later can succeed: overload (202, 203, 439), memory
 * (241, 173), time limits (159, 209), the network between servers (210, 279),
 * MergeTree back-pressure (252), and a config's session that expired between two
 * of its statements (372; only possible with session_check, which only the http
 * engine's later statements send). Everything else with a code is the query's fault.
 */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([159, 160, 173, 202, 203, 209, 210, 236, 241, 252, 279, 372, 394, 439, 745]);

/**
 * Codes that mean "the server is at its own limit, try again when it has room":
 * the query was refused before it ran. 202 TOO_MANY_SIMULTANEOUS_QUERIES
 * (max_concurrent_queries; current servers refuse at once, queue_max_wait_ms
 * defaults to 0, where 18.16 waited 5 s) and 745 SERVER_OVERLOADED (24.x+).
 * The worker treats them as back-pressure, never as a config's failure.
 */
const BUSY_CODES: ReadonlySet<number> = new Set([202, 745]);

export function isBusyCode(code: number): boolean {
  return BUSY_CODES.has(code);
}

/** Socket-level failures (Node's `err.code`) worth another attempt. */
const TRANSIENT_NET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/** ClickHouse's name for a code (error-codes.generated.ts); `CLICKHOUSE_ERROR_<n>` for one newer than that list. */
export function clickHouseErrorName(code: number): string {
  return ERROR_CODE_NAMES.get(code) ?? `CLICKHOUSE_ERROR_${code}`;
}

export function isTransientCode(code: number): boolean {
  return TRANSIENT_CODES.has(code);
}

export interface ServerError {
  code: number;
  name: string;
  message: string;
}

// `Code: 62, e.displayText() = ...` (<= 19.x) or `Code: 62. DB::Exception: ...` (20.x+).
const CODE_RE = /^Code: (\d+)[.,] /;
// The new form's symbolic name, e.g. `... (SYNTAX_ERROR) (version 25.8.1.1 (official build))`.
const NAME_RE = /\(([A-Z][A-Z0-9_]*[A-Z0-9])\)(?: \(version [^\n]*\))?\s*$/;

/**
 * Parse a ClickHouse exception text (a whole error body, or a message that starts
 * with `Code: N`). Returns undefined when the text carries no code.
 */
export function parseServerError(text: string): ServerError | undefined {
  const message = text.replace(/\s+$/, '');
  const m = CODE_RE.exec(message);
  if (!m?.[1]) return undefined;
  const code = Number(m[1]);
  const named = ERROR_CODE_NAMES.get(code) ?? NAME_RE.exec(message)?.[1];
  return { code, name: named ?? clickHouseErrorName(code), message };
}

/**
 * An exception the server wrote after a 200 status had already gone out (the
 * result was streaming when it failed). 18.16 appends it right after the partial
 * output, not even on a line of its own: `...\t\t}Code: 396, e.displayText() = ...`.
 * Only called on bodies that failed to parse, so the last exception-shaped
 * `Code: N` is the server's.
 */
export function findTrailingServerError(body: string): ServerError | undefined {
  const re = /Code: \d+(?:, e\.displayText\(\) = |\. DB::Exception: )/g;
  let at = -1;
  for (let m = re.exec(body); m; m = re.exec(body)) at = m.index;
  return at < 0 ? undefined : parseServerError(body.slice(at));
}

export function serverErrorToEngineError(e: ServerError): EngineError {
  return new EngineError(e.message, { code: e.code, codeName: e.name, transient: isTransientCode(e.code) });
}

/**
 * An HTTP response with a non-2xx status. The body normally holds the exception;
 * a proxy or an overloaded server may send anything, in which case the status
 * decides: 5xx, 408 and 429 are transient, other 4xx permanent.
 */
export function httpErrorToEngineError(status: number, body: string, exceptionCodeHeader?: string): EngineError {
  // Current servers may write the exception into a JSON output format instead of plain text.
  const jsonException = /^\s*\{/.test(body) ? exceptionOfJson(body) : undefined;
  if (jsonException !== undefined) body = jsonException;
  const parsed = parseServerError(body);
  if (parsed) return serverErrorToEngineError(parsed);
  const headerCode = exceptionCodeHeader ? Number(exceptionCodeHeader) : NaN;
  const text = body.replace(/\s+$/, '') || `HTTP ${status} with an empty body`;
  if (Number.isInteger(headerCode) && headerCode > 0) {
    return new EngineError(text, {
      code: headerCode,
      codeName: clickHouseErrorName(headerCode),
      transient: isTransientCode(headerCode),
    });
  }
  const transient = status >= 500 || status === 408 || status === 429;
  return new EngineError(`HTTP ${status}: ${text}`, { codeName: `HTTP_${status}`, transient });
}

function exceptionOfJson(body: string): string | undefined {
  try {
    const doc = JSON.parse(body) as { exception?: unknown };
    return typeof doc.exception === 'string' ? doc.exception : undefined;
  } catch {
    return undefined;
  }
}

export function abortedError(what = 'query'): EngineError {
  return new EngineError(`The ${what} was aborted`, { codeName: 'ABORTED', transient: false });
}

export function timeoutError(ms: number): EngineError {
  return new EngineError(`No result within ${ms} ms; the query was cancelled`, {
    codeName: 'REQUEST_TIMEOUT',
    transient: true,
  });
}

/**
 * Classify anything thrown by a transport or engine library. EngineErrors pass
 * through unchanged.
 */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (!(err instanceof Error)) return new EngineError(String(err), { codeName: 'UNKNOWN', transient: false });
  const e = err as Error & { code?: unknown; type?: unknown; clickhouseCode?: unknown };

  // chdb: ChdbError subclasses carry the numeric code, their `code` is CHDB_*.
  if (typeof e.clickhouseCode === 'number') {
    const parsed = parseServerError(e.message);
    return new EngineError(parsed?.message ?? e.message.replace(/\s+$/, ''), {
      code: e.clickhouseCode,
      codeName: ERROR_CODE_NAMES.get(e.clickhouseCode) ?? parsed?.name ?? clickHouseErrorName(e.clickhouseCode),
      transient: isTransientCode(e.clickhouseCode),
    });
  }
  if (e.code === 'CHDB_ABORT' || e.name === 'AbortError') return abortedError();
  if (e.code === 'CHDB_TIMEOUT') return new EngineError(e.message, { codeName: 'REQUEST_TIMEOUT', transient: true });

  // @clickhouse/client's ClickHouseError (new servers): code is the number as a string,
  // type the symbolic name, and the message has had its `Code: N. DB::Exception:` prefix removed.
  if (typeof e.code === 'string' && /^\d+$/.test(e.code) && typeof e.type === 'string') {
    const code = Number(e.code);
    return new EngineError(e.message.replace(/\s+$/, ''), {
      code,
      codeName: ERROR_CODE_NAMES.get(code) ?? e.type,
      transient: isTransientCode(code),
    });
  }

  // Old servers through @clickhouse/client, or any message that is a raw exception text.
  const parsed = parseServerError(e.message);
  if (parsed) return serverErrorToEngineError(parsed);

  if (typeof e.code === 'string') {
    if (TRANSIENT_NET_CODES.has(e.code)) return new EngineError(e.message, { codeName: e.code, transient: true });
    return new EngineError(e.message, { codeName: e.code, transient: false });
  }
  // Node reports a keep-alive socket closed by the peer before any response as "socket hang up".
  if (/socket hang up/i.test(e.message)) return new EngineError(e.message, { codeName: 'ECONNRESET', transient: true });
  if (/timeout/i.test(e.message)) return new EngineError(e.message, { codeName: 'REQUEST_TIMEOUT', transient: true });
  return new EngineError(e.message, { codeName: 'UNKNOWN', transient: false });
}

/**
 * A URL without its user name, password, or credential-like query parameters,
 * safe to print in an error message or a log line.
 */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(url.toString());
  } catch {
    // Not a URL we can parse: strip anything that looks like `user:pass@`.
    return url.toString().replace(/\/\/[^/@\s]*@/, '//');
  }
  u.username = '';
  u.password = '';
  for (const key of [...u.searchParams.keys()]) {
    if (/^(password|user|key|token|access_token)$/i.test(key)) u.searchParams.set(key, '***');
  }
  return u.toString();
}
