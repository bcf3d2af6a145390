import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { categoryOf, formatStatus, statusLines, summaryLine } from '../../src/cli/status-view.js';
import type { StatusReport, UnitStatus } from '../../src/remote/status.js';

function unit(i: number, state: string | null, done = 0): UnitStatus {
  return {
    unit: `symbol-SYM${String(i).padStart(3, '0')}__threshold-${i * 25}`,
    label: `sweep:big:u${i}`,
    task: state === null ? null : { state, active: /^(Queued|Running|Paused|Stashed)/.test(state), failed: /^(Failed|Killed)/.test(state) },
    configs: 10,
    ok: done,
    skipped: 0,
    error: state?.startsWith('Failed') ? 10 - done : 0,
    remaining: 10 - done,
    index: 'same',
    torn: false,
    elapsed_s: state === 'Running' ? 12.5 : null,
    rate: state === 'Running' ? 0.8 : null,
  };
}

/** 200 units: 3 failed, 2 running, 120 done, 75 queued. */
function bigReport(): StatusReport {
  const units: UnitStatus[] = [];
  for (let i = 0; i < 200; i++) {
    if (i < 120) units.push(unit(i, 'Success', 10));
    else if (i < 123) units.push(unit(i, 'Failed(1)', 4));
    else if (i < 125) units.push(unit(i, 'Running', 5));
    else units.push(unit(i, 'Queued'));
  }
  return {
    sweep: 'big',
    host: 'bigblack',
    dir: '/home/me/sweeps/big',
    group: 'sweep-big',
    group_state: { exists: true, status: 'Running', parallel: 2 },
    submitted: true,
    units,
    after: [],
    totals: { units: 200, configs: 2000, ok: 1222, skipped: 0, error: 18, remaining: 778, units_complete: 120, running: 2, queued: 75, failed: 3, killed: 0, no_task: 0 },
    progress: 0.611,
    rate: 1.6,
    eta_s: 486,
    idle: false,
    complete: false,
    notes: ["3 unit(s) failed (log tails below); fix the cause, then 'sweep submit-all' retries their unfinished configs"],
    now: '2026-11-22T04:20:00.000Z',
    connections: 1,
  };
}

describe('status layout', () => {
  it('puts each unit in one category: failed, running, queued, done or not queued', () => {
    const r = bigReport();
    const counts = new Map<string, number>();
    for (const u of r.units) counts.set(categoryOf(u), (counts.get(categoryOf(u)) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ done: 120, failed: 3, running: 2, queued: 75 });
  });

  it('lists the failed and running units and counts the rest', () => {
    const text = formatStatus(bigReport());
    expect(text).toMatch(/^sweep big \| pueue group sweep-big: Running \(parallel 2\)\n/);
    expect(text).toMatch(/\n\[#{12}-{8}\] 61\.1% {2}1222\/2000 configs, 18 error\(s\), 1\.6 configs\/s, ETA 8m06s\n/);
    expect(text).toMatch(/\nhost bigblack: 200 units: 120 done, 2 running, 75 queued, 3 failed \| \/home\/me\/sweeps\/big\n/);
    const rows = text.split('\n').filter((l) => /^symbol-/.test(l));
    expect(rows.map((r) => r.split(/\s+/)[1])).toEqual(['Failed(1)', 'Failed(1)', 'Failed(1)', 'Running', 'Running']);
    expect(text).toMatch(/\nthe other units: 120 done, 75 queued \(--all lists every unit\)\n/);
    expect(formatStatus(bigReport(), { all: true }).split('\n').filter((l) => /^symbol-/.test(l))).toHaveLength(200);
  });

  it('fits an 80x24 screen with 200 units: totals and host first, failed and running units visible, nothing wider', () => {
    const r = bigReport();
    const lines = statusLines(r, { screen: { columns: 79, rows: 22 } });
    expect(lines.length).toBeLessThanOrEqual(22);
    for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(79);
    expect(lines[0]).toMatch(/^sweep big \| pueue group sweep-big: Running/);
    expect(lines[1]).toMatch(/^\[#+-+\] 61\.1%/);
    expect(lines[2]).toMatch(/^host bigblack/);
    expect(lines.filter((l) => /^symbol-\S+\s+Failed\(1\)/.test(l))).toHaveLength(3);
    expect(lines.filter((l) => /^symbol-\S+\s+Running/.test(l))).toHaveLength(2);
    expect(lines.at(-1)).toBe('the other units: 120 done, 75 queued (--all lists every unit)');
  });

  it('gives a small screen to failed units first, keeps rows for running ones, and says how many are not shown', () => {
    const r = bigReport();
    // 40 failed, 30 running
    r.units = r.units.map((u, i) => (i < 40 ? unit(i, 'Failed(1)', 1) : i < 70 ? unit(i, 'Running', 3) : u));
    const lines = statusLines(r, { screen: { columns: 79, rows: 23 } });
    expect(lines).toHaveLength(23);
    const failed = lines.filter((l) => /^symbol-\S+\s+Failed\(1\)/.test(l)).length;
    const running = lines.filter((l) => /^symbol-\S+\s+Running/.test(l)).length;
    expect(failed).toBeGreaterThanOrEqual(running);
    expect(running).toBeGreaterThan(0);
    const allFailed = r.units.filter((u) => categoryOf(u) === 'failed').length;
    const allRunning = r.units.filter((u) => categoryOf(u) === 'running').length;
    expect(lines.find((l) => l.startsWith('... and '))).toBe(`... and ${allFailed + allRunning - failed - running} more (${allFailed - failed} failed): 'sweep status --all' lists every unit`);
  });

  it('drops columns, then shortens unit ids, to fit a narrow screen', () => {
    const lines = statusLines(bigReport(), { screen: { columns: 50, rows: 30 } });
    for (const l of lines) expect(stringWidth(l)).toBeLessThanOrEqual(50);
    const rows = lines.filter((l) => l.startsWith('symbol-'));
    expect(rows).toHaveLength(5);
    expect(rows[0]).toMatch(/^symbol-\S*…\S*\s+Failed\(1\)/);
  });

  it('summarises in one line for logs', () => {
    expect(summaryLine(bigReport())).toBe('big: 61.1% (1222/2000), 2 running, 75 waiting, 3 failed, 18 config error(s), ETA 8m06s');
  });
});
