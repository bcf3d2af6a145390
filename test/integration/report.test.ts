/**
 * `sweep report` end to end: a small sweep with ok, skipped (no rows) and
 * failing configs runs on the embedded engine; its report opens in a real
 * headless Chromium (Debian's, through playwright-core) with no network: no
 * console errors, every chart there with the marks its data implies (a
 * heatmap cell per pair of values, a marginal point per value), tooltips on
 * the marks, the top-configs table sorted by the metric. A screenshot is saved
 * in the test's temp dir. `sweep run` says where the report goes, and
 * `--report` writes it.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportSummary } from '../../src/report/report.js';
import type { ResultRecord } from '../../src/results/record.js';
import { launchChromium, type BrowserHandle } from '../harness/chromium.js';
import { lacks } from '../harness/components.js';
import { runSweep, tempDir } from '../helpers/cli.js';

const SPEC = `name: grid
template: grid.sql
params:
  a: [1, 2, 3, 4]
  b: [10, 20, 30]
  c: [x, y]
unit: [c]
report:
  metric: score
  filter: horizon = 2
`;

// Two rows per config (horizon 1 and 2); none for a = 1, b = 10 (skipped); a = 4, b = 30 fails.
const TEMPLATE = `SELECT
    {c:String} AS c,
    h AS horizon,
    round(sin({a:UInt32}) * {b:UInt32} / 10 + if({c:String} = 'x', 1, 0) + h / 10, 4) AS score,
    toUInt64({a:UInt32} * 100 + h) AS trades
FROM (SELECT arrayJoin([1, 2]) AS h)
WHERE NOT ({a:UInt32} = 1 AND {b:UInt32} = 10)
  AND throwIf({a:UInt32} = 4 AND {b:UInt32} = 30, 'planted failure') = 0
`;

let t: { dir: string; cleanup: () => void };
const env = { ...process.env, CLICKHOUSE_URL: '' };
const report = (): string => join(t.dir, 'out', 'grid', 'report.html');

beforeAll(async () => {
  t = tempDir('sweep-report-');
  writeFileSync(join(t.dir, 'grid.yaml'), SPEC);
  writeFileSync(join(t.dir, 'grid.sql'), TEMPLATE);
  const run = await runSweep(['run', 'grid.yaml'], { cwd: t.dir, env, timeoutMs: 180_000 });
  expect(run.stdout).toMatch(/report \(--report, sweep report\): .*out\/grid\/report\.html/);
  expect(run.code).toBe(1); // two configs in error
  expect(existsSync(report())).toBe(false);
}, 240_000);

afterAll(() => t?.cleanup());

function records(): ResultRecord[] {
  return readFileSync(join(t.dir, 'out', 'grid', 'results.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ResultRecord);
}

describe('sweep report', () => {
  it('writes one HTML file and says what it holds', async () => {
    const res = await runSweep(['report', 'grid.yaml', '--json'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const s = JSON.parse(res.stdout) as ReportSummary;
    expect(s).toMatchObject({ path: report(), sweep: 'grid', metric: 'score', configs: 24, ok: 20, skipped: 2, error: 2, missing: 0, with_value: 20 });
    // 3 heatmaps, 3 marginals, distribution, units, query times.
    expect(s.charts).toBe(9);
    const html = readFileSync(report(), 'utf8');
    // Self-contained: nothing fetched, no script.
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(http/i);
    expect(html).not.toMatch(/src=/);
  });

  it('refuses a metric the results do not have, naming the numeric ones', async () => {
    const res = await runSweep(['report', 'grid.yaml', '--metric', 'c'], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--metric: expected a numeric result column \(one of: horizon, score, trades\), found c of type String/);
    const bad = await runSweep(['report', 'grid.yaml', '--by', 'a,zz'], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--by: expected param names \(one of: a, b, c\), found "zz"/);
    // A filter no row passes would draw an empty report, which reads as "the sweep found nothing".
    const none = await runSweep(['report', 'grid.yaml', '--filter', 'horizon = 999'], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--filter "horizon = 999": expected it to keep some rows of the \d+ ok config\(s\), found none pass it/);
  });

  it('sweep run --report writes it at the end', async () => {
    const out = join(t.dir, 'out', 'grid', 'report.html');
    const res = await runSweep(['run', 'grid.yaml', '--report', '--rerun', 'skipped'], { cwd: t.dir, env, timeoutMs: 180_000 });
    expect(res.stdout).toMatch(/report \(written\): .*out\/grid\/report\.html/);
    expect(existsSync(out)).toBe(true);
  }, 240_000);

  it('sweep collect says where the report goes, and --report writes it', async () => {
    rmSync(report(), { force: true });
    const plain = await runSweep(['collect', 'grid.yaml', '--allow-partial'], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/report \(--report, sweep report\): .*out\/grid\/report\.html/);
    expect(existsSync(report())).toBe(false);
    const withReport = await runSweep(['collect', 'grid.yaml', '--allow-partial', '--report'], { cwd: t.dir, env, timeoutMs: 60_000 });
    expect(withReport.code).toBe(0);
    expect(withReport.stdout).toMatch(/report written: .*out\/grid\/report\.html/);
    expect(existsSync(report())).toBe(true);
  });
});

describe.skipIf(lacks('chromium'))('sweep report in a headless browser', () => {
  let browser: BrowserHandle;
  beforeAll(async () => {
    const res = await runSweep(['report', 'grid.yaml'], { cwd: t.dir, env, timeoutMs: 120_000 });
    expect(res.code).toBe(0);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => browser?.close());

  it('opens offline without console errors, with every chart, its marks and tooltips, and the top configs sorted', async () => {
    const page = await browser.context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(report()).href;
    await page.goto(url, { waitUntil: 'load' });
    expect(problems).toEqual([]);
    expect(requests).toEqual([url]);

    // Header counts.
    const cards = await page.$$eval('.card', (els) => els.map((e) => [e.querySelector('.l')?.textContent, e.querySelector('.n')?.textContent]));
    expect(Object.fromEntries(cards)).toMatchObject({ configs: '24', ok: '20', 'skipped (no rows)': '2', error: '2', missing: '0' });

    // A heatmap per pair of params, one cell per pair of values, each with a tooltip.
    const values: Record<string, number> = { a: 4, b: 3, c: 2 };
    const heatmaps = await page.$$eval('figure[data-chart="heatmap"]', (figs) =>
      figs.map((f) => ({
        x: f.getAttribute('data-x'),
        y: f.getAttribute('data-y'),
        cells: f.querySelectorAll('g.mark-rect.role-mark path').length,
        titles: [...f.querySelectorAll('g.mark-rect.role-mark path > title')].map((e) => e.textContent ?? ''),
      })),
    );
    expect(heatmaps.map((h) => `${h.x}x${h.y}`)).toEqual(['axb', 'axc', 'bxc']);
    for (const h of heatmaps) {
      expect(h.cells).toBe((values[h.x as string] as number) * (values[h.y as string] as number));
      expect(h.titles).toHaveLength(h.cells);
    }
    const axb = heatmaps[0]?.titles ?? [];
    expect(axb).toContain('a = 1, b = 10: no value (no config with rows here)');
    expect(axb).toContain('a = 4, b = 30: no value (no config with rows here)');
    expect(axb.find((x) => x.startsWith('a = 2, b = 20:'))).toMatch(/mean score [-\d.]+ over 2 configs/);

    // A marginal per param, a point per value.
    const marginals = await page.$$eval('figure[data-chart="marginal"]', (figs) =>
      figs.map((f) => ({ param: f.getAttribute('data-param'), points: f.querySelectorAll('g.mark-symbol.role-mark path').length })),
    );
    expect(marginals).toEqual([
      { param: 'a', points: 4 },
      { param: 'b', points: 3 },
      { param: 'c', points: 2 },
    ]);
    for (const kind of ['distribution', 'units', 'query-times']) {
      expect(await page.locator(`figure[data-chart="${kind}"] svg .role-mark`).count()).toBeGreaterThan(0);
    }

    // The top table: every config with a value, best first, each value its record's score at horizon 2.
    const expected = records()
      .filter((r) => r.status === 'ok')
      .map((r) => ({ config: r.config, value: Number(r.rows.find((row) => row['horizon'] === 2)?.['score']) }))
      .sort((p, q) => q.value - p.value);
    const top = await page.$$eval('#top-configs tbody tr', (trs) => trs.map((tr) => ({ config: tr.querySelector('td.id')?.textContent, value: Number(tr.querySelector('td.metric')?.getAttribute('data-value')) })));
    expect(top).toHaveLength(20);
    for (let i = 1; i < top.length; i++) expect((top[i - 1] as { value: number }).value).toBeGreaterThanOrEqual((top[i] as { value: number }).value);
    expect(top.map((r) => r.value)).toEqual(expected.map((r) => r.value));
    expect(top[0]?.config).toBe(expected[0]?.config);

    // The planted failure, grouped, with an example.
    const errors = await page.$$eval('#errors tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.[0]).toBe('2');
    expect(errors[0]?.[2]).toMatch(/planted failure/);

    const png = join(t.dir, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
    await page.close();
  });
});
