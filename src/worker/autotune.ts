/**
 * `worker.concurrency: auto`: find the number of queries in flight that gives
 * the most configs per second, without being told whether the workload is
 * short queries (where more in flight hides latency) or heavy ones (where the
 * server is the limit and more in flight only splits it).
 *
 * Pure logic on an injected clock (unit-tested per branch); the dispatcher
 * feeds it completions and pressure and applies what it decides:
 *   - slow start: from `start`, double while a window's throughput beats the
 *     best so far by more than `gain`; the first window that does not ends it,
 *     back at the best level;
 *   - steady: now and then probe one step up (a quarter of the level, at least
 *     1); keep it if it beats the best by `gain`, else go back and probe less
 *     often (up to every 16 windows); a best level whose throughput falls by
 *     a third (the workload changed) is measured afresh;
 *   - pressure (transient errors, the server at its limit): halve at once,
 *     and do not climb above the level that met it for a while.
 * A window closes after `windowMs` and at least max(4, level) completions. While
 * searching (slow start, a probe) it closes sooner when completions are many:
 * after `fastWindowMs` and max(64, 8 x level) of them, so short queries (a unit
 * of 300 configs lasts well under 1.5 s) find their level within the unit
 * instead of after it. Steady windows keep the full length: probes cost
 * throughput, so they stay rare in wall time. After a change the first `from`
 * completions are not counted (queries started at the old level).
 */

export interface AutoOptions {
  min: number;
  max: number;
  /** Where slow start begins (default 2, within [min, max]). */
  start?: number;
  /** Shortest window (ms, default 1500). */
  windowMs?: number;
  /** Shortest search window when completions are many (ms, default 250). */
  fastWindowMs?: number;
  /** Improvement that counts (default 0.05 = 5 %). */
  gain?: number;
}

export interface AutoDecision {
  from: number;
  to: number;
  /** configs per second of the window that decided it. */
  rate: number;
  reason: string;
}

type Phase = 'rising' | 'steady' | 'probing';

export class ThroughputSeeker {
  current: number;
  private readonly min: number;
  private readonly max: number;
  private readonly windowMs: number;
  private readonly fastWindowMs: number;
  private readonly gain: number;
  private phase: Phase = 'rising';
  private best = { level: 0, rate: 0 };
  private windowStart: number | undefined;
  private completions = 0;
  /** Completions after a change still owed to queries started at the old level. */
  private settleLeft = 0;
  private steadyWindows = 0;
  private probeEvery = 3;
  /** After pressure: stay at or below this until `ceilingUntil`. */
  private ceiling = Number.POSITIVE_INFINITY;
  private ceilingUntil = 0;

  constructor(opts: AutoOptions) {
    this.min = Math.max(1, opts.min);
    this.max = Math.max(this.min, opts.max);
    this.current = Math.min(this.max, Math.max(this.min, opts.start ?? 2));
    this.windowMs = opts.windowMs ?? 1500;
    this.fastWindowMs = opts.fastWindowMs ?? 250;
    this.gain = opts.gain ?? 0.05;
  }

  /** A config finished (a result or a permanent error). Returns a decision when a window closes with a change. */
  onCompletion(now: number): AutoDecision | undefined {
    if (this.settleLeft > 0) {
      this.settleLeft--;
      return undefined;
    }
    // The window opens at its first counted completion, which is not itself counted.
    if (this.windowStart === undefined) {
      this.windowStart = now;
      return undefined;
    }
    this.completions++;
    const elapsed = now - this.windowStart;
    if (!this.windowClosed(elapsed)) return undefined;
    const rate = (this.completions * 1000) / elapsed;
    this.windowStart = now;
    this.completions = 0;
    return this.judge(rate, now);
  }

  private windowClosed(elapsed: number): boolean {
    if (this.completions < Math.max(4, this.current)) return false;
    if (elapsed >= this.windowMs) return true;
    const searching = this.phase !== 'steady';
    return searching && elapsed >= this.fastWindowMs && this.completions >= Math.max(64, 8 * this.current);
  }

  /** Transient errors or the server at its limit: halve now, remember the level that met it. */
  onPressure(now: number): AutoDecision | undefined {
    const from = this.current;
    this.ceiling = Math.max(this.min, from - 1);
    this.ceilingUntil = now + 30_000;
    const to = Math.max(this.min, Math.floor(from / 2));
    this.phase = 'steady';
    this.best = { level: to, rate: 0 };
    return this.change(from, to, 0, 'the server is under pressure');
  }

  private judge(rate: number, now: number): AutoDecision | undefined {
    const from = this.current;
    const beats = rate > this.best.rate * (1 + this.gain);
    const cap = now < this.ceilingUntil ? Math.min(this.max, this.ceiling) : this.max;
    switch (this.phase) {
      case 'rising': {
        if (beats || this.best.level === 0) {
          this.best = { level: from, rate };
          if (from >= cap) {
            this.phase = 'steady';
            return undefined;
          }
          return this.change(from, Math.min(cap, from * 2), rate, 'throughput still rising');
        }
        this.phase = 'steady';
        return this.change(from, this.best.level, rate, `no gain over ${this.best.level}`);
      }
      case 'probing': {
        if (beats) {
          this.best = { level: from, rate };
          this.probeEvery = 3;
          this.steadyWindows = 0;
          this.phase = 'steady';
          return undefined;
        }
        this.phase = 'steady';
        this.probeEvery = Math.min(16, this.probeEvery * 2);
        return this.change(from, this.best.level, rate, `no gain at ${from}`);
      }
      case 'steady': {
        if (from === this.best.level) {
          // The workload changed under us (heavier configs): measure this level afresh.
          if (rate < this.best.rate * (2 / 3)) this.best = { level: from, rate };
          else this.best.rate = Math.max(this.best.rate, rate);
        }
        this.steadyWindows++;
        if (this.steadyWindows < this.probeEvery) return undefined;
        this.steadyWindows = 0;
        const up = Math.min(cap, from + Math.max(1, Math.round(from / 4)));
        if (up === from) return undefined;
        this.phase = 'probing';
        return this.change(from, up, rate, 'probing for more throughput');
      }
    }
  }

  private change(from: number, to: number, rate: number, reason: string): AutoDecision | undefined {
    if (to === from) return undefined;
    this.current = to;
    this.settleLeft = from;
    this.windowStart = undefined;
    this.completions = 0;
    return { from, to, rate, reason };
  }
}
