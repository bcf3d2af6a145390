import { describe, expect, it } from 'vitest';
import { createProgressView, formatTable, progressText } from '../../src/run/view.js';

describe('sweep run progress view', () => {
  it('shows counts per status, units, rate and ETA', () => {
    const text = progressText({ total: 200, ok: 90, skipped: 8, error: 2, unitsDone: 3, units: 10 }, 65, 4);
    expect(text).toBe('[##############..............] 100/200  50% | ok 90 skipped 8 error 2 | units 3/10 | 4.0 q/s | 1m05s elapsed, ETA 25s');
  });

  it('rewrites one line on a terminal and prints plain lines elsewhere', () => {
    const tty: string[] = [];
    const view = createProgressView((t) => tty.push(t), true);
    view.update({ total: 2, ok: 1, skipped: 0, error: 0, unitsDone: 0, units: 1 });
    view.update({ total: 2, ok: 2, skipped: 0, error: 0, unitsDone: 1, units: 1 });
    view.close();
    expect(tty.length).toBe(3);
    expect(tty[0]?.startsWith('\r\u001b[2K[')).toBe(true);
    expect(tty[2]).toBe('\n');

    const plain: string[] = [];
    const pv = createProgressView((t) => plain.push(t), false, 60_000);
    pv.update({ total: 3, ok: 1, skipped: 0, error: 0, unitsDone: 0, units: 1 });
    pv.update({ total: 3, ok: 2, skipped: 0, error: 0, unitsDone: 0, units: 1 }); // within the interval: silent
    pv.update({ total: 3, ok: 3, skipped: 0, error: 0, unitsDone: 1, units: 1 }); // the last one always prints
    pv.close();
    expect(plain).toHaveLength(2);
    expect(plain.every((l) => l.endsWith('\n') && !l.includes('\u001b'))).toBe(true);
    expect(plain[1]).toMatch(/3\/3 100%/);
  });

  it('formats tables with aligned columns', () => {
    expect(formatTable(['config', 'ms'], [['a', '12.5'], ['long-name', '3.0']])).toBe('config     ms\n---------  ----\na          12.5\nlong-name   3.0');
  });
});
