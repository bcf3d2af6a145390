/**
 * `node dist/scripts/screenshot-report.js REPORT.html OUT.png [--full]`: a PNG
 * of a report as headless Chromium shows it (the README's docs/report.png is
 * made this way from the example sweep's report). Uses the test harness's
 * browser: Debian's chromium, never a downloaded one.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from '../test/harness/chromium.js';

const [html, png, ...rest] = process.argv.slice(2);
if (!html || !png) {
  process.stderr.write('usage: node dist/scripts/screenshot-report.js REPORT.html OUT.png [--full] [--height N]\n');
  process.exit(2);
}
const hi = rest.indexOf('--height');
const height = hi >= 0 ? Number(rest[hi + 1]) : 1700;
const handle = await launchChromium();
try {
  const page = await handle.context.newPage();
  await page.setViewportSize({ width: 1280, height });
  await page.goto(pathToFileURL(resolve(html)).href);
  await page.screenshot({ path: resolve(png), fullPage: rest.includes('--full') });
  process.stderr.write(`wrote ${resolve(png)}\n`);
} finally {
  await handle.close();
}
