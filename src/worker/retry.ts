/**
 * Retry policy: what a failed attempt means and how long to wait before the next.
 *
 * Three kinds of failure (the shell tier had none, so 17% of units were
 * resubmitted by hand after "Connection refused" and "memory limit exceeded"):
 * - `connection`: the server did not answer at all (refused, reset, DNS). Nothing
 *   is wrong with the config; the worker pauses and probes until the server is
 *   back (see scheduler.ts), and such failures draw on a separate, larger budget.
 * - `transient`: the server answered but was overloaded or slow (too many
 *   simultaneous queries, memory limit, timeouts). Retried with exponential
 *   back-off and jitter, at most `retries` times, while the worker lowers its
 *   concurrency.
 * - `busy`: the server refused the query at its own limit before running it
 *   (TOO_MANY_SIMULTANEOUS_QUERIES, SERVER_OVERLOADED): back-pressure. The worker
 *   lowers its concurrency and tries again with a budget of its own (time, like an
 *   outage), never spending the config's `retries`.
 * - `permanent`: syntax, unknown table or column, type mismatch, ...: the same
 *   SQL would fail the same way. Recorded once.
 */
import { EngineError } from '../engine/engine.js';
import { isBusyCode, isTransientCode } from '../engine/errors.js';
import type { RecordError } from '../results/record.js';

export type FailureKind = 'connection' | 'busy' | 'transient' | 'permanent';

export interface Failure {
  kind: FailureKind;
  error: RecordError;
}

/** Transport-level failures: the request never got an answer from ClickHouse. */
const CONNECTION_NAMES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'SOCKET_HANG_UP',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'CONNECTION_ERROR',
]);
const CONNECTION_MESSAGE = /\b(ECONNREFUSED|ECONNRESET|EPIPE|ECONNABORTED|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)\b|socket hang up/i;

/**
 * Error messages are capped: a record is a line, not a log file. The cut is
 * marked (`... (N more characters)`), and the README says so.
 */
export const MAX_MESSAGE_CHARS = 8000;

export function classifyFailure(err: unknown): Failure {
  const error = toRecordError(err);
  if (CONNECTION_NAMES.has(error.name) || (error.code === null && CONNECTION_MESSAGE.test(error.message))) {
    return { kind: 'connection', error };
  }
  if (error.code !== null && isBusyCode(error.code)) return { kind: 'busy', error };
  const flagged = err instanceof EngineError && err.transient;
  if (flagged || (error.code !== null && isTransientCode(error.code))) return { kind: 'transient', error };
  return { kind: 'permanent', error };
}

/** The `error` field of a record, valid JSON whatever the server sent. */
export function toRecordError(err: unknown): RecordError {
  if (err instanceof EngineError) {
    return { code: err.code ?? codeFromMessage(err.message), name: err.codeName || 'UNKNOWN', message: cleanMessage(err.message) };
  }
  if (err instanceof Error) {
    const sysCode = (err as NodeJS.ErrnoException).code;
    const name = typeof sysCode === 'string' && sysCode !== '' ? sysCode : err.name || 'Error';
    return { code: codeFromMessage(err.message), name, message: cleanMessage(err.message) };
  }
  return { code: null, name: 'UNKNOWN', message: cleanMessage(String(err)) };
}

/** ClickHouse 18.16 over HTTP: `Code: 60, e.displayText() = DB::Exception: ...`; current: `Code: 60. DB::Exception: ...`. */
export function codeFromMessage(message: string): number | null {
  const m = /^\s*(?:Received exception[^:]*:\s*)?Code:\s*(\d+)/.exec(message);
  return m ? Number(m[1]) : null;
}

/**
 * Messages may hold anything the server echoed back: tabs, quotes, newlines,
 * NULs, bytes that were not UTF-8 (decoded to U+FFFD upstream). JSON.stringify
 * escapes all of those; what is left to do here is mending lone surrogates (so
 * the line is valid UTF-8 once encoded) and capping the length.
 */
export function cleanMessage(message: string | Uint8Array): string {
  let text = typeof message === 'string' ? message : new TextDecoder('utf-8', { fatal: false }).decode(message);
  text = text.replace(LONE_SURROGATE, '\uFFFD');
  if (text.length > MAX_MESSAGE_CHARS) {
    let cut = MAX_MESSAGE_CHARS;
    // Do not split a surrogate pair.
    const c = text.charCodeAt(cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut--;
    text = `${text.slice(0, cut)}... (${text.length - cut} more characters)`;
  }
  return text;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000 };

/**
 * Delay before retry number `n` (1 for the first retry): exponential, capped,
 * with "equal jitter" (half fixed, half random) so that the 16 queries that
 * failed together do not come back together.
 */
export function backoffMs(n: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, n - 1));
  return exp / 2 + random() * (exp / 2);
}
