/**
 * One ClickHouse server for the whole test run (tests that need to stop their
 * server start a private one with startClickHouse()). Tests read its URL with
 * `inject('clickhouseUrl')`; an empty URL means this machine has none, and
 * `lacks('clickhouse')` (test/harness/components.ts) skips what needs one,
 * except under CI=true, where a missing server fails the run here.
 */
import type { TestProject } from 'vitest/node';
import { startClickHouse, type ClickHouseHandle } from './clickhouse.js';
import { ComponentMissing } from './missing.js';
import { recordMissing } from './summary-reporter.js';

let handle: ClickHouseHandle | undefined;

export async function setup(project: TestProject): Promise<void> {
  try {
    handle = await startClickHouse();
  } catch (err) {
    if (!(err instanceof ComponentMissing) || process.env['CI'] === 'true') throw err;
    recordMissing(err);
    process.stderr.write(`skipping the tests that need clickhouse: ${err.message}\n`);
    project.provide('clickhouseUrl', '');
    project.provide('clickhouseVersion', '');
    project.provide('clickhouseMissing', err.why);
    return;
  }
  project.provide('clickhouseUrl', handle.url);
  project.provide('clickhouseVersion', handle.version);
  project.provide('clickhouseMissing', '');
}

export async function teardown(): Promise<void> {
  await handle?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    clickhouseUrl: string;
    clickhouseVersion: string;
    /** Why there is no server ('' when there is one). */
    clickhouseMissing: string;
  }
}
