import { describe, expect, it } from 'vitest';
import { formatDuration, progressLine, RateMeter } from '../../src/worker/progress.js';

describe('progress lines', () => {
  it('show done/total, each status, queries/s and an ETA on one line', () => {
    const line = progressLine('u1', { total: 1000, ok: 300, skipped: 50, error: 10 }, 64);
    expect(line).toBe('u1: 360/1000 (36.0%) ok 300 skipped 50 error 10 | 64.0 q/s | ETA 10s');
  });

  it('say "?" for the ETA while nothing finishes, and add a note', () => {
    expect(progressLine('u', { total: 10, ok: 1, skipped: 0, error: 0 }, 0, 'waiting for ClickHouse')).toBe(
      'u: 1/10 (10.0%) ok 1 skipped 0 error 0 | 0.0 q/s | ETA ? | waiting for ClickHouse',
    );
    expect(progressLine('u', { total: 0, ok: 0, skipped: 0, error: 0 }, 0)).toContain('0/0 (100.0%)');
  });

  it('format durations', () => {
    expect(formatDuration(5)).toBe('5s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(3 * 3600 + 7 * 60)).toBe('3h07m');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('?');
  });

  it('measure the rate over the last interval only', () => {
    const m = new RateMeter(0);
    expect(m.sample(100, 1000)).toBe(100);
    expect(m.sample(100, 2000)).toBe(0);
    expect(m.sample(400, 3000)).toBe(300);
  });
});
