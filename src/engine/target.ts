/**
 * A target: where a config's SQL ran, named so that a record written against
 * one server (or embedded data directory) never counts as done for another.
 *
 *   http://ch1.lan:8123/default                 a server, by host, port and database
 *   http://localhost:8123/default@bigblack      a loopback address means the machine it is on
 *   embedded:/home/me/out/breakout/.chdb@laptop the embedded engine's data directory
 *
 * Never the credentials: user and password are not part of it (a record may be
 * read by anyone who can read the results). The scheme is kept (http and https
 * on one port are different servers only in theory, but cost nothing to tell apart).
 */
import { createHash } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[?::1\]?|0\.0\.0\.0)$/i;

/**
 * The target of an http engine: `url` as the worker uses it, `database` the
 * one queries run in (the spec's, else the URL's `?database=`, else default).
 * `host` is the machine the worker runs on (for loopback URLs).
 */
export function httpTarget(url: string, database: string | undefined, host = osHostname()): string {
  const u = new URL(url);
  const db = database ?? u.searchParams.get('database') ?? 'default';
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const name = u.hostname.toLowerCase();
  const base = `${u.protocol}//${name}:${port}/${db}`;
  return LOOPBACK.test(name) ? `${base}@${host}` : base;
}

/** The target of the embedded engine on `path` (made absolute). */
export function embeddedTarget(path: string, host = osHostname()): string {
  return `embedded:${resolve(path)}@${host}`;
}

/** A short file-name-safe key for a target (16 hex digits of its sha256), for per-target state files. */
export function targetKey(target: string): string {
  return createHash('sha256').update(target).digest('hex').slice(0, 16);
}
