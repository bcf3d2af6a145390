/**
 * The one way a test says which real component it needs, and what happens
 * when this machine lacks it: the tests are skipped with a message naming what
 * is missing and how to install it, and the run ends with the count of skipped
 * tests and why (test/harness/summary-reporter.ts). Under CI=true a missing
 * component is a failure, never a skip: `lacks()` throws, which fails the file.
 *
 *   describe.skipIf(lacks('sshd', 'pueue'))('remote tier, end to end', () => { ... });
 *   it.skipIf(lacks('pueue'))('runs the units through a local pueue daemon', ...);
 *
 * ClickHouse is found once for the whole run by the global setup (a server can
 * come from CLICKHOUSE_URL, a Docker engine or a binary: test/harness/clickhouse.ts);
 * the others are programs on this machine (test/harness/programs.ts).
 */
import { inject } from 'vitest';
import { ComponentMissing, type ComponentName } from './missing.js';
import { programMissing } from './programs.js';

export type { ComponentName } from './missing.js';

/** Why a component is missing here, or null when it is present. Never throws. */
export function whyMissing(name: ComponentName): ComponentMissing | null {
  if (name !== 'clickhouse') return programMissing(name);
  // The global setup provides an empty URL when it found no server (outside CI).
  return inject('clickhouseUrl') === '' ? new ComponentMissing('clickhouse', inject('clickhouseMissing')) : null;
}

const announced = new Set<ComponentName>();

/**
 * True when any of `names` is missing, so the caller skips; the reason is
 * printed once per component and test file. Under CI=true it throws instead.
 */
export function lacks(...names: ComponentName[]): boolean {
  const missing = names.map(whyMissing).filter((m): m is ComponentMissing => m !== null);
  if (missing.length === 0) return false;
  if (process.env['CI'] === 'true') {
    throw new Error(`CI=true, and a component these tests need is missing: ${missing.map((m) => `${m.component}: ${m.message}`).join('; ')}`);
  }
  for (const m of missing) {
    if (announced.has(m.component)) continue;
    announced.add(m.component);
    process.stderr.write(`skipping the tests that need ${m.component}: ${m.message}\n`);
  }
  return true;
}
