/**
 * The autoscale rule, the one the seeds field-tested on BigBlack and
 * LittleBlack, as a pure function: each interval, the host's CPU and memory
 * decide whether the sweep's pueue group runs one unit more, one unit fewer,
 * or as many as now, always within [min, max]:
 *
 *   CPU above cpu_high (80 %) or memory above mem_high (80 %)   down by one
 *   CPU below cpu_low (40 %) and memory below mem_low (60 %)    up by one, unless
 *       nothing is queued (no unit waits for the slot), or
 *       free memory is below twice the most a unit of this sweep has used so far
 *   otherwise                                                    hold
 *
 * What "CPU" and "memory" are is the controller's business (controller.ts
 * says which measures it feeds in, and why); this file only decides.
 */

export interface Thresholds {
  cpu_high: number;
  cpu_low: number;
  mem_high: number;
  mem_low: number;
}

export interface RuleInputs {
  /** The group's parallelism now (pueue's 0, unlimited, counts as above any max). */
  current: number;
  min: number;
  max: number;
  /** CPU load as a fraction of the cores (1.0 = as many runnable tasks as cores). */
  cpu: number;
  /** Memory in use as a fraction (the host's, or the ClickHouse server's against its limit, whichever is higher). */
  mem: number;
  /** Unit tasks of the sweep waiting in the group. */
  queued: number;
  /** The host's available memory (MemAvailable), bytes. */
  availableBytes: number;
  /** The most memory a unit of this sweep has used so far, bytes; null when none is known yet. */
  unitPeakBytes: number | null;
  thresholds: Thresholds;
}

export interface Verdict {
  next: number;
  action: 'up' | 'down' | 'hold';
  reason: string;
}

const pct = (f: number): string => `${Math.round(f * 100)}%`;

export function decideParallel(i: RuleInputs): Verdict {
  const t = i.thresholds;
  if (i.current === 0 || i.current > i.max) return { next: i.max, action: 'down', reason: `parallel ${i.current === 0 ? '0 (unlimited)' : i.current} is above max ${i.max}` };
  if (i.current < i.min) return { next: i.min, action: 'up', reason: `parallel ${i.current} is below min ${i.min}` };
  const hot = i.cpu > t.cpu_high ? `CPU ${pct(i.cpu)} > ${pct(t.cpu_high)}` : i.mem > t.mem_high ? `memory ${pct(i.mem)} > ${pct(t.mem_high)}` : undefined;
  if (hot) {
    if (i.current <= i.min) return { next: i.current, action: 'hold', reason: `${hot}, but already at min ${i.min}` };
    return { next: i.current - 1, action: 'down', reason: hot };
  }
  if (i.cpu < t.cpu_low && i.mem < t.mem_low) {
    const room = `CPU ${pct(i.cpu)} < ${pct(t.cpu_low)} and memory ${pct(i.mem)} < ${pct(t.mem_low)}`;
    if (i.queued === 0) return { next: i.current, action: 'hold', reason: `${room}, but no unit is queued` };
    if (i.unitPeakBytes !== null && i.availableBytes < 2 * i.unitPeakBytes) {
      return { next: i.current, action: 'hold', reason: `${room}, but free memory ${mib(i.availableBytes)} is below twice the largest unit's ${mib(i.unitPeakBytes)}` };
    }
    if (i.current >= i.max) return { next: i.current, action: 'hold', reason: `${room}, but already at max ${i.max}` };
    return { next: i.current + 1, action: 'up', reason: room };
  }
  return { next: i.current, action: 'hold', reason: `CPU ${pct(i.cpu)} and memory ${pct(i.mem)} are between the thresholds` };
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}

/** One line of `<sweep dir>/logs/autoscale.log`: the inputs, the old and new value, and why. */
export interface AutoscaleDecision {
  at: string;
  group: string;
  old: number;
  new: number;
  action: Verdict['action'] | 'exit' | 'start';
  reason: string;
  /** What the rule used: the run queue over the interval / cores. */
  cpu: number | null;
  /** Logged beside it: the 1-min load average / cores (the seeds' measure) and the busy share from /proc/stat. */
  load1_per_core: number | null;
  cpu_busy: number | null;
  cores: number | null;
  /** What the rule used: the higher of the two below. */
  mem: number | null;
  mem_host: number | null;
  /** The ClickHouse server's memory in use against its limit; null when the server does not say (18.16 has no limit to read). */
  mem_clickhouse: number | null;
  available_bytes: number | null;
  unit_peak_bytes: number | null;
  queued: number;
  running: number;
}
