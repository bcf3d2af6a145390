/**
 * A real headless browser for the report tests: Debian's `chromium` package
 * (never a downloaded browser), driven by playwright-core through its
 * executablePath, with a fresh empty profile per launch and everything that
 * would phone home switched off.
 *
 * Found as the `chromium` component (test/harness/programs.ts: chromium,
 * chromium-browser, google-chrome on PATH), or env CHROMIUM_PATH. Tests say
 * `describe.skipIf(lacks('chromium'))`: skipped with how to install it, or
 * under CI=true a failure (.ci/run installs the `chromium` package).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { findProgram } from './missing.js';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The browser binary: env CHROMIUM_PATH, else the chromium component's program. */
export function locateChromium(): string {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  return findProgram('chromium', ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']);
}

export interface BrowserHandle {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launch headless Chromium with an empty throwaway profile; close() removes it. */
export async function launchChromium(): Promise<BrowserHandle> {
  const profile = mkdtempSync(join(tmpdir(), 'sweep-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: locateChromium(),
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
      timeout: 60_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
