/**
 * The one place that picks a ClickHouse engine. Code outside src/engine imports
 * from here (and types from ./engine.js), never from http.ts or embedded.ts.
 * chdb (a ~550 MB native library) is loaded only when an embedded engine first
 * runs something.
 */
import type { Engine } from './engine.js';
import { createEmbeddedEngine, type EmbeddedEngineOptions } from './embedded.js';
import { createHttpEngine, type HttpEngineOptions } from './http.js';

export type { Column, Engine, QueryOutcome, Row, RunOptions } from './engine.js';
export { embeddedTarget, httpTarget } from './target.js';
export { EngineError } from './engine.js';
export type { EmbeddedEngineOptions } from './embedded.js';
export type { HttpEngineOptions } from './http.js';
export { redactUrl } from './errors.js';
export { splitStatements } from './split.js';

export type EngineOptions = ({ kind: 'http' } & HttpEngineOptions) | ({ kind: 'embedded' } & EmbeddedEngineOptions);

/** An http engine for a ClickHouse server, or the embedded chdb engine on a data directory. */
export function createEngine(opts: EngineOptions): Engine {
  if (opts.kind === 'http') {
    const { kind: _kind, ...http } = opts;
    return createHttpEngine(http);
  }
  const { kind: _kind, ...embedded } = opts;
  return createEmbeddedEngine(embedded);
}
