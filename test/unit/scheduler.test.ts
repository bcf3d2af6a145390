import { describe, expect, it } from 'vitest';
import { ConcurrencyGovernor, Dispatcher, type AttemptOutcome } from '../../src/worker/scheduler.js';

describe('ConcurrencyGovernor', () => {
  it('halves once per window under pressure and never below 1', () => {
    const g = new ConcurrencyGovernor(16);
    expect(g.onPressure(0)).toBe(true);
    expect(g.current).toBe(8);
    expect(g.onPressure(10)).toBe(false); // same event
    expect(g.current).toBe(8);
    g.onPressure(1000);
    g.onPressure(2000);
    g.onPressure(3000);
    g.onPressure(4000);
    expect(g.current).toBe(1);
  });

  it('raises one step per round of successes once the pressure is over, back to the target', () => {
    const g = new ConcurrencyGovernor(4);
    g.onPressure(0);
    expect(g.current).toBe(2);
    // Too soon after the decrease.
    for (let i = 0; i < 10; i++) g.onSuccess(100);
    expect(g.current).toBe(2);
    let t = 3000;
    while (g.current < 4) {
      for (let i = 0; i < g.current; i++) g.onSuccess(t);
      t += 250;
    }
    expect(g.current).toBe(4);
    for (let i = 0; i < 100; i++) g.onSuccess((t += 250));
    expect(g.current).toBe(4);
  });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Dispatcher', () => {
  it('runs every job once with at most `concurrency` in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    const d = new Dispatcher<number>({
      concurrency: 4,
      outageTimeoutMs: 1000,
      probe: async () => {},
      attempt: async (n): Promise<AttemptOutcome> => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await sleep(1);
        inFlight--;
        seen.push(n);
        return { kind: 'done', success: true };
      },
    });
    expect(await d.run(Array.from({ length: 100 }, (_, i) => i))).toEqual({});
    expect(seen.slice().sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(peak).toBe(4);
  });

  it('pulls jobs lazily from the iterator', async () => {
    let pulled = 0;
    function* jobs(): Generator<number> {
      for (let i = 0; i < 10_000; i++) {
        pulled++;
        yield i;
      }
    }
    let maxAhead = 0;
    let finished = 0;
    const d = new Dispatcher<number>({
      concurrency: 4,
      outageTimeoutMs: 1000,
      probe: async () => {},
      attempt: async () => {
        maxAhead = Math.max(maxAhead, pulled - finished);
        await Promise.resolve();
        finished++;
        return { kind: 'done', success: true };
      },
    });
    await d.run(jobs());
    expect(finished).toBe(10_000);
    expect(maxAhead).toBeLessThan(40);
  });

  it('retries after the delay, lowers the concurrency under pressure and raises it again', async () => {
    const failuresLeft = new Map<number, number>([[1, 2], [2, 1], [3, 1]]);
    const attempts = new Map<number, number>();
    const levels: number[] = [];
    const d = new Dispatcher<number>({
      concurrency: 8,
      outageTimeoutMs: 1000,
      probe: async () => {},
      onConcurrency: (c) => levels.push(c),
      attempt: async (n): Promise<AttemptOutcome> => {
        attempts.set(n, (attempts.get(n) ?? 0) + 1);
        await sleep(1);
        const left = failuresLeft.get(n) ?? 0;
        if (left > 0) {
          failuresLeft.set(n, left - 1);
          return { kind: 'retry', delayMs: 5 };
        }
        return { kind: 'done', success: true };
      },
    });
    await d.run(Array.from({ length: 20 }, (_, i) => i));
    expect(attempts.get(1)).toBe(3);
    expect(attempts.get(2)).toBe(2);
    expect(attempts.get(5)).toBe(1);
    expect(levels[0]).toBe(4);
  });

  it('pauses on an outage, probes until the server is back, then resumes without losing jobs', async () => {
    let serverUp = true;
    let probes = 0;
    const done = new Set<number>();
    const events: string[] = [];
    const d = new Dispatcher<number>({
      concurrency: 4,
      outageTimeoutMs: 5000,
      probeBackoff: { baseMs: 10, capMs: 20 },
      onOutage: (e) => events.push(e.state),
      probe: async () => {
        probes++;
        if (!serverUp) throw new Error('ECONNREFUSED');
      },
      attempt: async (n): Promise<AttemptOutcome> => {
        await sleep(2);
        if (n === 10 && probes === 0) serverUp = false;
        if (!serverUp) return { kind: 'outage', reason: 'ECONNREFUSED' };
        done.add(n);
        return { kind: 'done', success: true };
      },
    });
    setTimeout(() => {
      serverUp = true;
    }, 150);
    await d.run(Array.from({ length: 40 }, (_, i) => i));
    expect(done.size).toBe(40);
    expect(events).toEqual(['down', 'up']);
    expect(probes).toBeGreaterThan(1);
  });

  it('gives up when the server stays away longer than outageTimeoutMs', async () => {
    const d = new Dispatcher<number>({
      concurrency: 2,
      outageTimeoutMs: 100,
      probeBackoff: { baseMs: 10, capMs: 20 },
      probe: async () => {
        throw new Error('connect ECONNREFUSED');
      },
      attempt: async (): Promise<AttemptOutcome> => ({ kind: 'outage', reason: 'ECONNREFUSED' }),
    });
    const res = await d.run([1, 2, 3]);
    expect(res).toEqual({ stopped: 'unreachable', reason: 'connect ECONNREFUSED' });
  });

  it('stop(): no new attempts, the shared signal aborts the running ones, run() waits for them', async () => {
    let started = 0;
    let settled = 0;
    const d = new Dispatcher<number>({
      concurrency: 3,
      outageTimeoutMs: 1000,
      probe: async () => {},
      attempt: (_n, signal) =>
        new Promise<AttemptOutcome>((resolve) => {
          started++;
          signal.addEventListener('abort', () => {
            setTimeout(() => {
              settled++;
              resolve({ kind: 'aborted' });
            }, 20);
          });
        }),
    });
    const run = d.run(Array.from({ length: 50 }, (_, i) => i));
    await sleep(20);
    d.stop();
    const res = await run;
    expect(res.stopped).toBe('requested');
    expect(started).toBe(3);
    expect(settled).toBe(3);
  });

  it('an attempt that throws (disk full) stops the run and is reported', async () => {
    const d = new Dispatcher<number>({
      concurrency: 2,
      outageTimeoutMs: 1000,
      probe: async () => {},
      attempt: async (n) => {
        if (n === 3) throw new Error('ENOSPC');
        return { kind: 'done', success: true };
      },
    });
    await d.run(Array.from({ length: 100 }, (_, i) => i));
    expect(String(d.failure)).toContain('ENOSPC');
  });
});
