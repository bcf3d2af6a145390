/**
 * Progress lines for stderr (a pueue task's log): plain text, one line every few
 * seconds, no terminal control codes. Counts are per status from the start, so
 * "done" can never hide errors (the shell tier reported 4,797/4,800 "done" while
 * hundreds were errors).
 */

export interface Counts {
  /** Configs in the unit. */
  total: number;
  ok: number;
  skipped: number;
  error: number;
}

/**
 * Queries per second over the last interval, not since the start: after an
 * outage or a slow patch the rate and the ETA recover at once.
 */
export class RateMeter {
  private lastAt: number;
  private lastCount = 0;
  constructor(now: number) {
    this.lastAt = now;
  }
  sample(count: number, now: number): number {
    const dt = now - this.lastAt;
    const rate = dt > 0 ? ((count - this.lastCount) * 1000) / dt : 0;
    this.lastAt = now;
    this.lastCount = count;
    return rate;
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

export function progressLine(unit: string, c: Counts, qps: number, note = ''): string {
  const done = c.ok + c.skipped + c.error;
  const pct = c.total > 0 ? ((100 * done) / c.total).toFixed(1) : '100.0';
  const left = c.total - done;
  const eta = left === 0 ? '0s' : qps > 0 ? formatDuration(left / qps) : '?';
  return (
    `${unit}: ${done}/${c.total} (${pct}%) ok ${c.ok} skipped ${c.skipped} error ${c.error}` +
    ` | ${qps.toFixed(1)} q/s | ETA ${eta}${note ? ` | ${note}` : ''}`
  );
}

/** Calls `tick` every `intervalMs` until stopped; never keeps the process alive. */
export function startTicker(intervalMs: number, tick: () => void): () => void {
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
