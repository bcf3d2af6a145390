/**
 * A stretch of the merged records (a byte range of results.ndjson) reduced to
 * what the report needs, in a form small enough to keep for 300,000 configs
 * and cheap to pass between threads: one value of the metric per config (with
 * its params as small integers, column-wise), the best configs and slowest
 * queries, errors grouped, query times, statuses counted per unit.
 *
 * One config, one value: the metric of its rows that pass the filter, combined
 * by the aggregate (a config with one row per horizon and no filter gets the
 * mean over its horizons, and the report says so). Values that are not finite
 * (nan, inf) are left out and counted.
 *
 * Pure apart from reading its byte range, so it runs the same in a worker
 * thread (digest-thread.ts) or inline. It imports next to nothing, so a thread
 * starts in milliseconds.
 */
import { open } from 'node:fs/promises';
import { countStatus, type StatusCounts } from '../export/status-counts.js';
import type { AnyRecord } from '../results/record.js';
import { passes, type RowFilter } from './filter.js';

export type Aggregate = 'mean' | 'median' | 'max' | 'min';

export const TOP_N = 20;
export const SLOWEST_N = 20;

/** What every unit is reduced by: plain data, posted to the threads as is. */
export interface DigestSettings {
  metric: string;
  filter: RowFilter | undefined;
  aggregate: Aggregate;
  higherIsBetter: boolean;
  /** Plotted params and their value labels (spec order): a config's value index is its position. */
  by: Array<{ name: string; labels: string[] }>;
}

export interface DigestJob {
  /** results.ndjson, and the bytes [start, end) to read: whole lines. */
  path: string;
  start: number;
  end: number;
  settings: DigestSettings;
}

export interface TopConfig {
  config: string;
  unit: string;
  params: Record<string, unknown>;
  value: number;
  /** Rows that passed the filter. */
  rows: number;
  /** The row itself when there was exactly one. */
  row: Record<string, unknown> | undefined;
}

export interface ErrorGroup {
  code: number | null;
  name: string;
  message: string;
  count: number;
  example: string;
}

export interface SlowConfig {
  config: string;
  unit: string;
  status: string;
  elapsed_ms: number;
}

export interface Digest {
  /** Records per unit by status. */
  units: Array<[string, StatusCounts]>;
  /** Per plotted param, each valued config's value index (-1: a value not in the spec). */
  itemParams: Int32Array[];
  itemValues: Float64Array;
  top: TopConfig[];
  slowest: SlowConfig[];
  errors: ErrorGroup[];
  elapsed: Float64Array;
  /** 0 ok, 1 skipped, 2 error, per elapsed entry. */
  elapsedStatus: Uint8Array;
  engines: Array<[string, number]>;
  targets: Array<[string, number]>;
  firstStart: string | undefined;
  lastFinish: string | undefined;
  /** Configs that returned rows but no finite value of the metric passing the filter. */
  noValue: number;
  nonFinite: number;
  rowsMin: number;
  rowsMax: number;
}

export async function digestRange(job: DigestJob): Promise<Digest> {
  const d = new Digester(job.settings);
  await forEachLineIn(job.path, job.start, job.end, (text) => d.add(JSON.parse(text) as AnyRecord));
  return d.finish();
}

/** Every line of bytes [start, end) of a file (`end` at a line's end), decoded. */
export async function forEachLineIn(path: string, start: number, end: number, visit: (line: string) => void): Promise<void> {
  const fh = await open(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(4 << 20);
    let filled = 0;
    let pos = start;
    while (pos < end) {
      if (filled === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, filled, Math.min(buf.length - filled, end - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      filled += bytesRead;
      let from = 0;
      for (let nl = buf.indexOf(10, 0); nl !== -1 && nl < filled; nl = buf.indexOf(10, from)) {
        if (nl > from) visit(buf.toString('utf8', from, nl));
        from = nl + 1;
      }
      buf.copy(buf, 0, from, filled);
      filled -= from;
    }
    if (filled > 0) visit(buf.toString('utf8', 0, filled));
  } finally {
    await fh.close();
  }
}

class Digester {
  private readonly s: DigestSettings;
  private readonly units = new Map<string, StatusCounts>();
  private readonly valueIndex: Array<Map<string, number>>;
  private readonly itemParams: number[][];
  private readonly itemValues: number[] = [];
  private readonly top: TopConfig[] = [];
  private readonly slowest: SlowConfig[] = [];
  private readonly errors = new Map<string, ErrorGroup>();
  private readonly elapsed: number[] = [];
  private readonly elapsedStatus: number[] = [];
  private readonly engines = new Map<string, number>();
  private readonly targets = new Map<string, number>();
  private firstStart: string | undefined;
  private lastFinish: string | undefined;
  private noValue = 0;
  private nonFinite = 0;
  private rowsMin = Number.POSITIVE_INFINITY;
  private rowsMax = 0;

  constructor(settings: DigestSettings) {
    this.s = settings;
    this.valueIndex = settings.by.map((p) => new Map(p.labels.map((l, i) => [l, i])));
    this.itemParams = settings.by.map(() => []);
  }

  add(r: AnyRecord): void {
    countStatus(this.units, r);
    this.engines.set(r.engine, (this.engines.get(r.engine) ?? 0) + 1);
    const target = r.v === 2 ? r.target : '(record v1: no target)';
    this.targets.set(target, (this.targets.get(target) ?? 0) + 1);
    if (this.firstStart === undefined || r.started_at < this.firstStart) this.firstStart = r.started_at;
    if (this.lastFinish === undefined || r.finished_at > this.lastFinish) this.lastFinish = r.finished_at;
    this.elapsed.push(r.elapsed_ms);
    this.elapsedStatus.push(r.status === 'ok' ? 0 : r.status === 'skipped' ? 1 : 2);
    noteSlow(this.slowest, { config: r.config, unit: r.unit, status: r.status, elapsed_ms: r.elapsed_ms });
    if (r.status === 'error') {
      const e = r.error;
      const message = (e?.message ?? '').split('\n')[0]?.slice(0, 300) ?? '';
      const key = errorKey(e?.code ?? null, e?.name ?? 'ERROR', message);
      const g = this.errors.get(key);
      if (g) g.count++;
      else this.errors.set(key, { code: e?.code ?? null, name: e?.name ?? 'ERROR', message, count: 1, example: r.config });
      return;
    }
    if (r.status !== 'ok' || r.rows.length === 0) return;
    const { metric, filter } = this.s;
    const values: number[] = [];
    let single: Record<string, unknown> | undefined;
    let passed = 0;
    for (const row of r.rows) {
      if (filter && !passes(filter, (col) => (col in row ? row[col] : r.params[col]))) continue;
      passed++;
      single = passed === 1 ? row : undefined;
      const v = toNumber(row[metric]);
      if (v === undefined) continue;
      if (!Number.isFinite(v)) {
        this.nonFinite++;
        continue;
      }
      values.push(v);
    }
    if (values.length === 0) {
      this.noValue++;
      return;
    }
    if (passed < this.rowsMin) this.rowsMin = passed;
    if (passed > this.rowsMax) this.rowsMax = passed;
    const value = combine(values, this.s.aggregate);
    for (let p = 0; p < this.s.by.length; p++) {
      const name = (this.s.by[p] as { name: string }).name;
      (this.itemParams[p] as number[]).push(this.valueIndex[p]?.get(String(r.params[name])) ?? -1);
    }
    this.itemValues.push(value);
    noteTop(this.top, { config: r.config, unit: r.unit, params: r.params, value, rows: passed, row: single }, this.s.higherIsBetter);
  }

  finish(): Digest {
    return {
      units: [...this.units],
      itemParams: this.itemParams.map((xs) => Int32Array.from(xs)),
      itemValues: Float64Array.from(this.itemValues),
      top: this.top,
      slowest: this.slowest,
      errors: [...this.errors.values()],
      elapsed: Float64Array.from(this.elapsed),
      elapsedStatus: Uint8Array.from(this.elapsedStatus),
      engines: [...this.engines],
      targets: [...this.targets],
      firstStart: this.firstStart,
      lastFinish: this.lastFinish,
      noValue: this.noValue,
      nonFinite: this.nonFinite,
      rowsMin: this.rowsMin,
      rowsMax: this.rowsMax,
    };
  }
}

export function errorKey(code: number | null, name: string, message: string): string {
  return `${code ?? ''}\u0000${name}\u0000${message}`;
}

/** Keep `list` the TOP_N best by value (ties: the one met first stays ahead). */
export function noteTop(list: TopConfig[], entry: TopConfig, higherIsBetter: boolean): void {
  const better = (a: number, b: number): boolean => (higherIsBetter ? a > b : a < b);
  const worst = list[list.length - 1];
  if (list.length >= TOP_N && worst && !better(entry.value, worst.value)) return;
  let i = list.length;
  while (i > 0 && better(entry.value, (list[i - 1] as TopConfig).value)) i--;
  list.splice(i, 0, entry);
  if (list.length > TOP_N) list.pop();
}

/** Keep `list` the SLOWEST_N slowest. */
export function noteSlow(list: SlowConfig[], entry: SlowConfig): void {
  const last = list[list.length - 1];
  if (list.length >= SLOWEST_N && last && entry.elapsed_ms <= last.elapsed_ms) return;
  let i = list.length;
  while (i > 0 && entry.elapsed_ms > (list[i - 1] as SlowConfig).elapsed_ms) i--;
  list.splice(i, 0, entry);
  if (list.length > SLOWEST_N) list.pop();
}

/** A recorded value as a number: numbers, digit strings (64-bit, decimals), "nan"/"inf"/"-inf". */
export function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'nan') return Number.NaN;
    if (v === 'inf') return Number.POSITIVE_INFINITY;
    if (v === '-inf') return Number.NEGATIVE_INFINITY;
    return v.trim() === '' ? undefined : Number(v);
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

export function combine(values: ArrayLike<number>, how: Aggregate): number {
  const n = values.length;
  if (n === 1) return values[0] as number;
  switch (how) {
    case 'mean': {
      let s = 0;
      for (let i = 0; i < n; i++) s += values[i] as number;
      return s / n;
    }
    case 'max': {
      let m = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < n; i++) if ((values[i] as number) > m) m = values[i] as number;
      return m;
    }
    case 'min': {
      let m = Number.POSITIVE_INFINITY;
      for (let i = 0; i < n; i++) if ((values[i] as number) < m) m = values[i] as number;
      return m;
    }
    case 'median':
      return quantileSorted(Float64Array.from(values).sort(), 0.5);
  }
}

export function quantileSorted(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}
