/**
 * Which engine a sweep runs on, decided one way for `sweep run`, the worker and
 * `setup-target`: the --clickhouse-url flag, else env CLICKHOUSE_URL, else the
 * spec's clickhouse.url, else the embedded engine on `<sweep dir>/.chdb`.
 * Returns the engine options and the target (src/engine/target.ts) records
 * will carry. Credentials never reach `display` or `target`.
 */
import { join } from 'node:path';
import { UserError } from '../errors.js';
import type { Spec } from '../spec/schema.js';
import type { EngineOptions } from './index.js';
import { redactUrl } from './errors.js';
import { embeddedTarget, httpTarget } from './target.js';

export interface EngineChoice {
  options: EngineOptions;
  kind: 'http' | 'embedded';
  /** Without credentials, for messages. */
  display: string;
  target: string;
  /** Which setting chose it, for messages. */
  from: string;
  /** The server's URL as given (no password allowed where `refusePassword`); undefined for the embedded engine. */
  url: string | undefined;
}

export interface ChoiceInput {
  spec: Pick<Spec, 'clickhouse' | 'worker'>;
  /** The sweep dir: the embedded engine's data lives in <sweepDir>/.chdb. */
  sweepDir: string;
  flagUrl?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Sockets the http engine keeps (queries the caller runs at once). */
  concurrency: number;
  /** How the spec is named in messages (e.g. `<dir>/spec.json`). */
  specLabel?: string;
  /**
   * Refuse a password in the URL (sweep run, as submit-all does: it would end up in
   * process lists and pueue's state file). The worker accepts one (run-unit by hand).
   */
  refusePassword?: boolean;
}

export function chooseEngine(c: ChoiceInput): EngineChoice {
  const url = c.flagUrl || c.env['CLICKHOUSE_URL'] || c.spec.clickhouse.url;
  const from = c.flagUrl ? '--clickhouse-url' : c.env['CLICKHOUSE_URL'] ? 'CLICKHOUSE_URL' : `clickhouse.url in ${c.specLabel ?? 'the spec'}`;
  const database = c.spec.clickhouse.database;
  if (!url) {
    const path = join(c.sweepDir, '.chdb');
    return { options: { kind: 'embedded', path, database }, kind: 'embedded', display: `${path} (embedded)`, target: embeddedTarget(path), from: 'no server given', url: undefined };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (!/^https?:$/.test(parsed.protocol)) throw new Error('not http');
  } catch {
    throw new UserError('CLICKHOUSE_URL_INVALID', `${from}: expected an http(s):// URL such as http://localhost:8123, found ${JSON.stringify(redactUrl(url))}`);
  }
  if (c.refusePassword && parsed.password) {
    throw new UserError('CLICKHOUSE_URL_INVALID', `${from}: expected a URL without a password (it would show in process lists and pueue's state file), found one; put the password in env CLICKHOUSE_PASSWORD`);
  }
  const password = c.env['CLICKHOUSE_PASSWORD'];
  return {
    options: {
      kind: 'http',
      url,
      database,
      // A user named in the URL wins over the spec's default user.
      ...(parsed.username ? {} : { username: c.spec.clickhouse.user }),
      ...(password !== undefined ? { password } : {}),
      concurrency: c.concurrency,
      queryTimeoutMs: c.spec.worker.query_timeout_s * 1000,
    },
    kind: 'http',
    display: redactUrl(url),
    target: httpTarget(url, database),
    from,
    url,
  };
}
