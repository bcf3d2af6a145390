/**
 * One ClickHouse server for the whole test run (tests that need to stop their
 * server start a private one with startClickHouse()). Tests read its URL with
 * `inject('clickhouseUrl')`.
 */
import type { TestProject } from 'vitest/node';
import { startClickHouse, type ClickHouseHandle } from './clickhouse.js';

let handle: ClickHouseHandle | undefined;

export async function setup(project: TestProject): Promise<void> {
  handle = await startClickHouse();
  project.provide('clickhouseUrl', handle.url);
  project.provide('clickhouseVersion', handle.version);
}

export async function teardown(): Promise<void> {
  await handle?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    clickhouseUrl: string;
    clickhouseVersion: string;
  }
}
