import { describe, expect, it } from 'vitest';
import { ThroughputSeeker } from '../../src/worker/autotune.js';

/** Feed completions at `rateOf(level)` configs per second for `ms`; returns the decisions made. */
function drive(s: ThroughputSeeker, rateOf: (level: number) => number, ms: number, clock: { now: number }) {
  const decisions = [];
  const end = clock.now + ms;
  while (clock.now < end) {
    clock.now += 1000 / rateOf(s.current);
    const d = s.onCompletion(clock.now);
    if (d) decisions.push(d);
  }
  return decisions;
}

describe('ThroughputSeeker (concurrency auto)', () => {
  it('slow start: doubles while throughput rises, settles back on the best level when it stops', () => {
    const clock = { now: 0 };
    // Short queries: throughput grows with level up to 8, flat beyond.
    const s = new ThroughputSeeker({ min: 1, max: 32 });
    expect(s.current).toBe(2);
    drive(s, (c) => 100 * Math.min(c, 8), 20_000, clock);
    expect(s.current).toBeGreaterThanOrEqual(8);
    expect(s.current).toBeLessThanOrEqual(10);
  });

  it('short queries find their level within a unit of a few hundred configs, not after it', () => {
    const clock = { now: 0 };
    // 250 configs/s per query in flight up to 8 (2,000/s), flat beyond: 1.5 s is 2,000 to 3,000 configs.
    const s = new ThroughputSeeker({ min: 1, max: 32 });
    const decisions = drive(s, (c) => 250 * Math.min(c, 8), 1500, clock);
    expect(s.current).toBeGreaterThanOrEqual(8);
    expect(s.current).toBeLessThanOrEqual(10);
    expect(decisions.map((d) => d.to).slice(0, 2)).toEqual([4, 8]);
  });

  it('heavy work: more in flight gives nothing, so it stays low', () => {
    const clock = { now: 0 };
    const s = new ThroughputSeeker({ min: 1, max: 32 });
    // The server is the limit: 6 configs/s whatever the level (and a little worse when oversubscribed).
    const decisions = drive(s, (c) => 6 - 0.05 * c, 60_000, clock);
    expect(s.current).toBeLessThanOrEqual(3);
    expect(decisions[0]?.reason).toMatch(/no gain over 2|throughput still rising/);
  });

  it('never leaves [min, max]', () => {
    const clock = { now: 0 };
    const s = new ThroughputSeeker({ min: 3, max: 5 });
    expect(s.current).toBe(3);
    drive(s, (c) => 100 * c, 20_000, clock);
    expect(s.current).toBe(5);
  });

  it('probes one step up in steady state and keeps it only when it pays', () => {
    const clock = { now: 0 };
    const s = new ThroughputSeeker({ min: 1, max: 32 });
    const decisions = drive(s, (c) => 100 * Math.min(c, 4), 75_000, clock);
    const probes = decisions.filter((d) => d.reason === 'probing for more throughput');
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.every((p) => p.from === 4 && p.to === 5)).toBe(true);
    // Each probe up found nothing: back to 4 every time.
    expect(decisions.filter((d) => d.reason === 'no gain at 5').every((d) => d.to === 4)).toBe(true);
    expect(decisions.filter((d) => d.reason === 'no gain at 5').length).toBeGreaterThanOrEqual(probes.length - 1);
    // Probing gets rarer when it keeps finding nothing: 75 s of 1.5 s windows would allow ~16 probes every 3 windows.
    expect(probes.length).toBeLessThan(8);
    expect([4, 5]).toContain(s.current);
  });

  it('halves at once under pressure and does not climb straight back past the level that met it', () => {
    const clock = { now: 0 };
    const s = new ThroughputSeeker({ min: 1, max: 32 });
    drive(s, (c) => 100 * Math.min(c, 16), 20_000, clock);
    expect(s.current).toBeGreaterThanOrEqual(16);
    const before = s.current;
    const d = s.onPressure(clock.now);
    expect(d).toMatchObject({ from: before, to: Math.floor(before / 2), reason: 'the server is under pressure' });
    drive(s, (c) => 100 * Math.min(c, 64), 20_000, clock);
    expect(s.current).toBeLessThan(before);
  });
});
