import { stripVTControlCharacters } from 'node:util';
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { createProgressView, fitProgressLine, progressText, type OverallCounts } from '../../src/run/view.js';

const counts: OverallCounts = { total: 200, ok: 90, skipped: 8, error: 2, unitsDone: 3, units: 10 };

describe('sweep run progress view', () => {
  it('shows counts per status, units, rate and ETA', () => {
    const text = progressText(counts, 65, 4);
    expect(text).toBe('[##############..............] 100/200  50% | ok 90 skipped 8 error 2 | units 3/10 | 4.0 q/s | 1m05s elapsed, ETA 25s');
  });

  it('fits any terminal width, keeping the counts per status and the ETA to the last', () => {
    for (let columns = 20; columns <= 160; columns++) {
      const line = fitProgressLine(counts, 65, 4, columns, 'unit symbol-BTCUSDT__threshold-25');
      if (columns >= 43) expect(stringWidth(line), `${columns}: ${line}`).toBeLessThanOrEqual(columns);
      expect(line).toMatch(/100\/200 +50%/);
      expect(line).toMatch(/err(or)? 2/);
      expect(line).toMatch(/ETA 25s/);
    }
    expect(fitProgressLine(counts, 65, 4, 79)).toBe('[#####.....] 100/200  50% | ok 90 skip 8 err 2 | units 3/10 | 4.0 q/s | ETA 25s');
    expect(fitProgressLine(counts, 65, 4, 200)).toBe(progressText(counts, 65, 4));
    expect(fitProgressLine(counts, 65, 4, 40)).toBe('100/200  50% | ok 90 skip 8 err 2 | ETA 25s');
  });

  it('redraws one line in place on a terminal, cut to its width', () => {
    const out: string[] = [];
    const view = createProgressView((t) => out.push(t), true, { size: { columns: 60, rows: 24 } });
    view.update({ total: 2, ok: 1, skipped: 0, error: 0, unitsDone: 0, units: 1 });
    view.update({ total: 2, ok: 2, skipped: 0, error: 0, unitsDone: 1, units: 1 });
    view.close();
    const text = out.join('');
    // Only the frame's own lines are written as text, each narrower than the terminal.
    const printed = stripVTControlCharacters(text).split('\n').filter((l) => l !== '');
    expect(printed.length).toBeGreaterThanOrEqual(2);
    for (const l of printed) expect(stringWidth(l)).toBeLessThan(60);
    expect(printed.at(-1)).toMatch(/2\/2 100%/);
  });

  it("counts only this run's configs in the rate: a resumed run that has nothing left to do shows 0.0 q/s", () => {
    const plain: string[] = [];
    const pv = createProgressView((t) => plain.push(t), false, { intervalMs: 0 });
    const t0 = performance.now();
    while (performance.now() - t0 < 5); // some time passes: a rate over the finished configs would be huge
    pv.update({ total: 1000, ok: 1000, skipped: 0, error: 0, unitsDone: 10, units: 10 });
    pv.close();
    expect(plain.at(-1)).toMatch(/\| 0\.0 q\/s \|/);
  });

  it('prints plain lines without a terminal, one per interval and always the last', () => {
    const plain: string[] = [];
    const pv = createProgressView((t) => plain.push(t), false, { intervalMs: 60_000 });
    pv.update({ total: 3, ok: 1, skipped: 0, error: 0, unitsDone: 0, units: 1 });
    pv.update({ total: 3, ok: 2, skipped: 0, error: 0, unitsDone: 0, units: 1 }); // within the interval: silent
    pv.update({ total: 3, ok: 3, skipped: 0, error: 0, unitsDone: 1, units: 1 }); // the last one always prints
    pv.close();
    expect(plain).toHaveLength(2);
    expect(plain.every((l) => l.endsWith('\n') && !l.includes('\u001b'))).toBe(true);
    expect(plain[1]).toMatch(/3\/3 100%/);
  });
});
