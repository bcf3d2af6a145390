/**
 * The report's figures: the merged records digested (digest.ts) in byte
 * ranges of results.ndjson, one per thread (threads.ts), then merged in file
 * order so the result is the same whichever thread read what.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { parseChType } from '../engine/clickhouse-types.js';
import { UserError } from '../errors.js';
import type { StatusCounts } from '../export/status-counts.js';
import { readMergedShapes, summarize, type ReadSummary, type SweepInfo } from '../export/sweep-results.js';
import type { AnyRecord } from '../results/record.js';
import {
  combine,
  forEachLineIn,
  errorKey,
  noteSlow,
  noteTop,
  quantileSorted,
  type Aggregate,
  type Digest,
  type DigestJob,
  type DigestSettings,
  type ErrorGroup,
  type SlowConfig,
  type TopConfig,
} from './digest.js';
import { unknownColumns, type RowFilter } from './filter.js';
import type { ReportThreads } from './threads.js';

export type { Aggregate, ErrorGroup, TopConfig } from './digest.js';
export { combine, quantileSorted } from './digest.js';

export interface ReportSettings {
  /** A result column; undefined: the first numeric one. */
  metric: string | undefined;
  higherIsBetter: boolean;
  aggregate: Aggregate;
  filter: RowFilter | undefined;
  /** Params to plot; undefined: every param with more than one value. */
  by: string[] | undefined;
  /** Where the settings came from, for messages (`--metric` or `report.metric in sweep.yaml`). */
  labels: { metric: string; by: string };
}

export interface UnitLine {
  unit: string;
  configs: number;
  ok: number;
  skipped: number;
  error: number;
  missing: number;
}

export interface ReportModel {
  read: ReadSummary;
  metric: { name: string; type: string } | undefined;
  /** Result columns of the first shape, in order (for the top table). */
  columns: Array<{ name: string; type: string }>;
  /** One value per config that has one. */
  values: Float64Array;
  /** Per plotted param: its value labels (spec order) and each config's value index (-1: not in the spec). */
  params: Array<{ name: string; labels: string[]; index: Int32Array }>;
  top: TopConfig[];
  noValue: number;
  nonFinite: number;
  rowsPerConfig: { min: number; max: number };
  units: UnitLine[];
  errors: ErrorGroup[];
  slowest: SlowConfig[];
  elapsed: Float64Array;
  /** 0 ok, 1 skipped, 2 error, per elapsed entry. */
  elapsedStatus: Uint8Array;
  engines: Array<[string, number]>;
  targets: Array<[string, number]>;
  /** First start to last finish over the kept records. */
  wall_s: number;
  wall_from: string | undefined;
  wall_to: string | undefined;
  queries_per_s: number;
}

/** Read and reduce the merged records, in `threads`' threads (inline when it has none). */
export async function buildModel(sweep: SweepInfo, settings: ReportSettings, threads: ReportThreads): Promise<ReportModel> {
  const names = sweep.params.map((p) => p.name);
  for (const b of settings.by ?? []) {
    if (!names.includes(b)) throw new UserError('FLAG_INVALID', `${settings.labels.by}: expected param names (one of: ${names.join(', ')}), found ${JSON.stringify(b)}`);
  }
  const byNames = settings.by ? names.filter((n) => settings.by?.includes(n)) : sweep.params.filter((p) => p.values.length > 1).map((p) => p.name);
  const by = byNames.map((name) => ({ name, labels: (sweep.params.find((p) => p.name === name)?.values ?? []).map(String) }));
  const columns = await resultColumns(sweep);
  const metric = chooseMetric(columns, settings);
  if (settings.filter && columns.length > 0) {
    const known = [...columns.map((c) => c.name), ...names];
    const unknown = unknownColumns(settings.filter, new Set(known));
    if (unknown.length > 0) throw new UserError('FILTER_INVALID', `filter ${JSON.stringify(settings.filter.text)}: expected result columns or params (${known.join(', ')}), found ${unknown.join(', ')}`);
  }
  const digestSettings: DigestSettings = { metric: metric?.name ?? '', filter: settings.filter, aggregate: settings.aggregate, higherIsBetter: settings.higherIsBetter, by };
  const jobs = splitAtLines(sweep.results, Math.max(1, threads.size)).map((r): DigestJob => ({ path: sweep.results, ...r, settings: digestSettings }));
  const digests = await threads.digest(jobs);
  return merge(sweep, digests, by, metric, columns, settings);
}

/** `parts` byte ranges of a file, each ending at a line's end. */
function splitAtLines(path: string, parts: number): Array<{ start: number; end: number }> {
  const size = statSync(path).size;
  const cuts = [0];
  const fd = openSync(path, 'r');
  try {
    const probe = Buffer.allocUnsafe(1 << 16);
    for (let k = 1; k < parts; k++) {
      let at = Math.max(Math.floor((size * k) / parts), cuts[cuts.length - 1] as number);
      for (;;) {
        const n = readSync(fd, probe, 0, probe.length, at);
        if (n === 0) {
          at = size;
          break;
        }
        const nl = probe.subarray(0, n).indexOf(10);
        if (nl !== -1) {
          at += nl + 1;
          break;
        }
        at += n;
      }
      cuts.push(at);
    }
  } finally {
    closeSync(fd);
  }
  cuts.push(size);
  const out: Array<{ start: number; end: number }> = [];
  for (let i = 0; i + 1 < cuts.length; i++) if ((cuts[i + 1] as number) > (cuts[i] as number)) out.push({ start: cuts[i] as number, end: cuts[i + 1] as number });
  return out.length > 0 ? out : [{ start: 0, end: 0 }];
}

/** The first shape of the merge; for v1 records (no shapes), the first row's columns. */
async function resultColumns(sweep: SweepInfo): Promise<Array<{ name: string; type: string }>> {
  const first = readMergedShapes(sweep).values().next();
  if (!first.done) return first.value.columns;
  let columns: Array<{ name: string; type: string }> = [];
  const stop = new Error('found');
  try {
    await forEachLineIn(sweep.results, 0, statSync(sweep.results).size, (text) => {
      const row = (JSON.parse(text) as AnyRecord).rows[0];
      if (!row) return;
      columns = Object.entries(row).map(([name, v]) => ({ name, type: typeof v === 'number' ? 'Float64' : 'String' }));
      throw stop;
    });
  } catch (err) {
    if (err !== stop) throw err;
  }
  return columns;
}

function chooseMetric(columns: Array<{ name: string; type: string }>, settings: ReportSettings): { name: string; type: string } | undefined {
  if (columns.length === 0) return undefined; // no results yet
  const numeric = columns.filter((c) => isNumericType(c.type));
  const asked = settings.metric;
  if (asked === undefined) {
    if (!numeric[0]) throw new UserError('METRIC_INVALID', `the results have no numeric column to plot (columns: ${columns.map((c) => `${c.name} ${c.type}`).join(', ')})`);
    return numeric[0];
  }
  const col = columns.find((c) => c.name === asked);
  if (!col) {
    throw new UserError('METRIC_INVALID', `${settings.labels.metric}: expected a result column (numeric ones: ${numeric.map((c) => c.name).join(', ') || 'none'}), found ${JSON.stringify(asked)}, which the results do not have`);
  }
  if (!isNumericType(col.type)) {
    throw new UserError('METRIC_INVALID', `${settings.labels.metric}: expected a numeric result column (one of: ${numeric.map((c) => c.name).join(', ') || 'none'}), found ${asked} of type ${col.type}`);
  }
  return col;
}

function isNumericType(type: string): boolean {
  let t = parseChType(type);
  if (t.kind === 'nullable') t = t.inner;
  return t.kind === 'int' || t.kind === 'float' || t.kind === 'decimal';
}

function merge(sweep: SweepInfo, digests: Digest[], by: DigestSettings['by'], metric: ReportModel['metric'], columns: ReportModel['columns'], settings: ReportSettings): ReportModel {
  const perUnit = new Map<string, StatusCounts>();
  const top: TopConfig[] = [];
  const slowest: SlowConfig[] = [];
  const errors = new Map<string, ErrorGroup>();
  const engines = new Map<string, number>();
  const targets = new Map<string, number>();
  let first: string | undefined;
  let last: string | undefined;
  let noValue = 0;
  let nonFinite = 0;
  let rowsMin = Number.POSITIVE_INFINITY;
  let rowsMax = 0;
  let items = 0;
  let records = 0;
  for (const d of digests) {
    for (const [unit, c] of d.units) {
      const into = perUnit.get(unit);
      if (into) {
        into.ok += c.ok;
        into.skipped += c.skipped;
        into.error += c.error;
      } else perUnit.set(unit, { ...c });
    }
    for (const t of d.top) noteTop(top, t, settings.higherIsBetter);
    for (const s of d.slowest) noteSlow(slowest, s);
    for (const e of d.errors) {
      const key = errorKey(e.code, e.name, e.message);
      const g = errors.get(key);
      if (g) g.count += e.count;
      else errors.set(key, { ...e });
    }
    for (const [k, n] of d.engines) engines.set(k, (engines.get(k) ?? 0) + n);
    for (const [k, n] of d.targets) targets.set(k, (targets.get(k) ?? 0) + n);
    if (d.firstStart !== undefined && (first === undefined || d.firstStart < first)) first = d.firstStart;
    if (d.lastFinish !== undefined && (last === undefined || d.lastFinish > last)) last = d.lastFinish;
    noValue += d.noValue;
    nonFinite += d.nonFinite;
    rowsMin = Math.min(rowsMin, d.rowsMin);
    rowsMax = Math.max(rowsMax, d.rowsMax);
    items += d.itemValues.length;
    records += d.elapsed.length;
  }
  const values = new Float64Array(items);
  const params = by.map((p) => ({ name: p.name, labels: p.labels, index: new Int32Array(items) }));
  const elapsed = new Float64Array(records);
  const elapsedStatus = new Uint8Array(records);
  let at = 0;
  let rat = 0;
  for (const d of digests) {
    values.set(d.itemValues, at);
    params.forEach((p, i) => p.index.set(d.itemParams[i] as Int32Array, at));
    at += d.itemValues.length;
    elapsed.set(d.elapsed, rat);
    elapsedStatus.set(d.elapsedStatus, rat);
    rat += d.elapsed.length;
  }
  const wall = first && last ? (Date.parse(last) - Date.parse(first)) / 1000 : 0;
  const read = summarize(sweep, perUnit);
  const finished = read.totals.ok + read.totals.skipped + read.totals.error;
  return {
    read,
    metric,
    columns,
    values,
    params,
    top,
    noValue,
    nonFinite,
    rowsPerConfig: rowsMax === 0 ? { min: 0, max: 0 } : { min: rowsMin, max: rowsMax },
    units: read.units,
    errors: [...errors.values()].sort((a, b) => b.count - a.count),
    slowest,
    elapsed,
    elapsedStatus,
    engines: [...engines].sort((a, b) => b[1] - a[1]),
    targets: [...targets].sort((a, b) => b[1] - a[1]),
    wall_s: wall,
    wall_from: first,
    wall_to: last,
    queries_per_s: wall > 0 ? finished / wall : 0,
  };
}

export interface Group {
  n: number;
  value: number;
  min: number;
  max: number;
  q25: number;
  q75: number;
}

/** The values sorted, and the permutation that sorts them (ties in index order). */
export interface SortedValues {
  sorted: Float64Array;
  order: Int32Array;
}

/**
 * Sort once, for the distribution and every marginal's quantiles: a typed
 * array sort of the values, each value's rank by binary search, then a
 * counting sort of the indices by rank. No comparator calls, no object per value.
 */
export function sortValues(values: Float64Array): SortedValues {
  const n = values.length;
  const sorted = Float64Array.from(values).sort();
  const rank = new Int32Array(n);
  const counts = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] as number) < v) lo = mid + 1;
      else hi = mid;
    }
    rank[i] = lo;
    counts[lo + 1] = (counts[lo + 1] as number) + 1;
  }
  for (let r = 0; r < n; r++) counts[r + 1] = (counts[r + 1] as number) + (counts[r] as number);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rank[i] as number;
    order[counts[r] as number] = i;
    counts[r] = (counts[r] as number) + 1;
  }
  return { sorted, order };
}

/**
 * Combine `values` by key (0..nKeys-1; -1 skipped): a counting sort puts each
 * key's values side by side, then each run is combined. With `by` (the values'
 * sorting permutation) the values are visited in sorted order, so every run
 * comes out sorted and its quantiles and median are read off by position.
 * O(n); no object per value.
 */
export function groupBy(keys: Int32Array, nKeys: number, values: Float64Array, how: Aggregate, sortedBy?: SortedValues): Array<Group | null> {
  const quantiles = sortedBy !== undefined;
  const starts = new Int32Array(nKeys + 1);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as number;
    if (k >= 0) starts[k + 1] = (starts[k + 1] as number) + 1;
  }
  for (let k = 0; k < nKeys; k++) starts[k + 1] = (starts[k + 1] as number) + (starts[k] as number);
  const ordered = new Float64Array(starts[nKeys] as number);
  const fill = starts.slice(0, nKeys);
  const n = keys.length;
  for (let j = 0; j < n; j++) {
    const i = sortedBy ? (sortedBy.order[j] as number) : j;
    const k = keys[i] as number;
    if (k < 0) continue;
    ordered[fill[k] as number] = values[i] as number;
    fill[k] = (fill[k] as number) + 1;
  }
  const out: Array<Group | null> = [];
  for (let k = 0; k < nKeys; k++) {
    const run = ordered.subarray(starts[k] as number, starts[k + 1] as number);
    if (run.length === 0) {
      out.push(null);
      continue;
    }
    if (!quantiles && how === 'median') run.sort();
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < run.length; i++) {
      const v = run[i] as number;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    out.push({
      n: run.length,
      value: how === 'median' ? quantileSorted(run, 0.5) : combine(run, how),
      min,
      max,
      q25: quantiles ? quantileSorted(run, 0.25) : Number.NaN,
      q75: quantiles ? quantileSorted(run, 0.75) : Number.NaN,
    });
  }
  return out;
}
