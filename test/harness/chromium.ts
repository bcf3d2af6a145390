/**
 * A real headless browser for the report tests: Debian's `chromium` package
 * (never a downloaded browser), driven by playwright-core through its
 * executablePath, with a fresh empty profile per launch and everything that
 * would phone home switched off.
 *
 * Found in this order: env CHROMIUM_PATH, then `chromium`, `chromium-browser`,
 * `google-chrome` on PATH and in /usr/bin. Under CI=true a missing browser is
 * an error, never a skip (.ci/run installs the `chromium` package).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome'];

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

/** The browser binary, or a clear error saying how to install one. */
export function locateChromium(): string {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv}: no such file`);
    return fromEnv;
  }
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  for (const name of NAMES) {
    for (const dir of dirs) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  throw new Error(
    'No Chromium for the report tests (looked for chromium, chromium-browser, google-chrome on PATH and in /usr/bin, and env CHROMIUM_PATH). ' +
      'Install it with `apt-get install chromium` (Debian); .ci/run does this.',
  );
}

/**
 * Whether tests needing a browser can run. Under CI=true a missing browser
 * throws instead, so `describe.skipIf(!hasChromium())` fails the run rather
 * than skipping it; otherwise the reason is printed once.
 */
export function hasChromium(): boolean {
  try {
    locateChromium();
    return true;
  } catch (err) {
    if (process.env['CI'] === 'true') throw err;
    process.stderr.write(`skipping the browser tests: ${(err as Error).message}\n`);
    return false;
  }
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
