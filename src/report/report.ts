/**
 * `sweep report`: one self-contained HTML file answering "which parameters
 * work, and how robust is that?" for a sweep, complete or not.
 *
 *   read    the validated records, one unit at a time (model.ts)
 *   reduce  heatmap cells for every pair of plotted params, a marginal per
 *           param, the metric's distribution, the operations figures
 *   draw    Vega-Lite specs rendered to SVG (charts.ts)
 *   write   html.ts, atomically, to <out>/report.html or --out
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { openSweep, partialNote } from '../export/sweep-results.js';
import { writeFileAtomicSync } from '../fs/atomic.js';
import { TOOL_VERSION } from '../version.js';
import { distributionChart, heatmapChart, loadCharting, marginalChart, metricColorScale, queryTimesChart, unitsChart, type Chart, type ChartSpec, type HeatCell } from './charts.js';
import { parseFilter } from './filter.js';
import { buildModel, groupBy, quantileSorted, sortValues, type Aggregate, type ReportModel } from './model.js';
import { renderPage } from './html.js';
import { ReportThreads } from './threads.js';

export interface ReportOptions {
  specPath: string;
  cwd?: string;
  /** The sweep's output dir (default out/<name>). */
  outDir?: string;
  metric?: string;
  /** Params to plot. */
  by?: string[];
  filter?: string;
  aggregate?: Aggregate;
  /** The HTML file (default <out>/report.html). */
  file?: string;
  now?: Date;
  /** Worker threads reading the records and drawing (default: one per core, up to 4, from 20,000 configs; 0: none). */
  threads?: number;
}

export interface ReportSummary {
  path: string;
  sweep: string;
  metric: string | null;
  configs: number;
  ok: number;
  skipped: number;
  error: number;
  missing: number;
  /** Configs with a value of the metric. */
  with_value: number;
  charts: number;
  bytes: number;
  partial: string | null;
  elapsed_s: number;
  /** Where the time went: reading the records, reducing them to chart data, drawing, writing the page. */
  phases_s: { read: number; plan: number; draw: number; page: number };
}

export const REPORT_FILE = 'report.html';

/** Where `sweep report` writes by default: what run and collect print. */
export function defaultReportPath(outDir: string): string {
  return join(outDir, REPORT_FILE);
}

const AGGREGATES: readonly Aggregate[] = ['mean', 'median', 'max', 'min'];
/** Below this many configs the threads cost more to start than they save. */
const THREADS_FROM_CONFIGS = 20_000;

export async function writeReport(opts: ReportOptions): Promise<ReportSummary> {
  const t0 = performance.now();
  const cwd = opts.cwd ?? process.cwd();
  const sweep = await openSweep({ specPath: opts.specPath, cwd, outDir: opts.outDir });
  const r = sweep.spec.report;
  const specLabel = relative(cwd, sweep.loaded.path) || sweep.loaded.path;
  if (opts.aggregate !== undefined && !AGGREGATES.includes(opts.aggregate)) {
    throw new UserError('FLAG_INVALID', `--aggregate: expected one of ${AGGREGATES.join(', ')}, found ${JSON.stringify(opts.aggregate)}`);
  }
  const filterText = opts.filter ?? r?.filter;
  const settings = {
    metric: opts.metric ?? r?.metric,
    higherIsBetter: r?.higher_is_better ?? true,
    aggregate: opts.aggregate ?? r?.aggregate ?? 'mean',
    filter: filterText !== undefined ? parseFilter(filterText, opts.filter !== undefined ? '--filter' : `report.filter in ${specLabel}`) : undefined,
    by: opts.by,
    labels: { metric: opts.metric !== undefined ? '--metric' : `report.metric in ${specLabel}`, by: '--by' },
  };
  const threads = ReportThreads.start(opts.threads ?? (sweep.configs >= THREADS_FROM_CONFIGS ? Math.min(4, availableParallelism()) : 0));
  let model: ReportModel;
  let charts: Drawn;
  let tRead: number;
  let tPlan: number;
  const metricName = (m: ReportModel): string => m.metric?.name ?? '(no metric)';
  let format: (v: number) => string;
  try {
    // Without threads, Vega loads here while the records are read; threads load it themselves.
    const charting = threads.size === 0 ? loadCharting() : undefined;
    charting?.catch(() => {});
    model = await buildModel(sweep, settings, threads);
    await charting;
    tRead = performance.now();
    format = formatterFor(model.values);
    const plan = planCharts(model, metricName(model), settings.aggregate, settings.higherIsBetter, format);
    tPlan = performance.now();
    charts = await drawCharts(plan, threads);
  } finally {
    await threads.close();
  }
  const tCharts = performance.now();
  const read = model.read;
  const metric = metricName(model);
  if (settings.filter && model.values.length === 0 && read.totals.ok > 0) {
    // An empty report would look like a sweep that found nothing.
    throw new UserError('FILTER_INVALID', `${opts.filter !== undefined ? '--filter' : `report.filter in ${specLabel}`} ${JSON.stringify(settings.filter.text)}: expected it to keep some rows of the ${read.totals.ok} ok config(s), found none pass it (compare the values in rows.ndjson)`);
  }
  const notes = [...sweep.notes];
  const partial = partialNote(read);
  if (partial) notes.push(partial);
  if (model.rowsPerConfig.max > 1) {
    notes.push(`configs have up to ${model.rowsPerConfig.max} rows${settings.filter ? ` passing the filter ${settings.filter.text}` : ''}: each config's value is the ${settings.aggregate} of its rows' ${metric}; set report.filter in the spec (or --filter), e.g. to pick one horizon, to compare single rows`);
  }
  if (model.noValue > 0) notes.push(`${model.noValue} config(s) returned rows but no value of ${metric}${settings.filter ? ` passing the filter ${settings.filter.text}` : ''}: left out of the charts`);
  if (model.nonFinite > 0) notes.push(`${model.nonFinite} row(s) with ${metric} nan or inf left out`);
  if (read.totals.skipped > 0) notes.push(`${read.totals.skipped} config(s) returned no rows (skipped): they have no value and show as grey cells when no config of a cell has one`);

  const direction = settings.higherIsBetter ? 'higher is better' : 'lower is better';
  const metricLine =
    `metric: ${metric} (${model.metric?.type ?? '?'}, ${direction}); one value per config${model.rowsPerConfig.max > 1 ? ` (${settings.aggregate} of its rows)` : ''}` +
    `${settings.filter ? `; rows where ${settings.filter.text}` : ''}; ${model.values.length} of ${sweep.configs} configs have one`;
  const html = renderPage({
    sweep: sweep.name,
    specPath: specLabel,
    generatedAt: (opts.now ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z'),
    tool: TOOL_VERSION,
    model,
    configs: sweep.configs,
    metricLine,
    higherIsBetter: settings.higherIsBetter,
    notes,
    paramNames: sweep.params.map((p) => p.name),
    ...charts,
    format,
  });
  const path = resolve(cwd, opts.file ?? defaultReportPath(sweep.outDir));
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomicSync(path, html, { durable: false });
  const t = read.totals;
  return {
    path,
    sweep: sweep.name,
    metric: model.metric?.name ?? null,
    configs: sweep.configs,
    ok: t.ok,
    skipped: t.skipped,
    error: t.error,
    missing: t.missing,
    with_value: model.values.length,
    charts: charts.heatmaps.length + charts.marginals.length + [charts.distribution, charts.unitsChart, charts.queryTimes].filter(Boolean).length,
    bytes: Buffer.byteLength(html),
    partial: partial ?? null,
    elapsed_s: Math.round(performance.now() - t0) / 1000,
    phases_s: {
      read: Math.round(tRead - t0) / 1000,
      plan: Math.round(tPlan - tRead) / 1000,
      draw: Math.round(tCharts - tPlan) / 1000,
      page: Math.round(performance.now() - tCharts) / 1000,
    },
  };
}

interface Planned<C> {
  heatmaps: C[];
  marginals: C[];
  distribution: C | undefined;
  unitsChart: C | undefined;
  queryTimes: C | undefined;
}
type Drawn = Planned<Chart>;

/** Render every planned chart, the largest first so the threads finish together. */
async function drawCharts(plan: Planned<ChartSpec>, threads: ReportThreads): Promise<Drawn> {
  const all = [...plan.heatmaps, ...plan.marginals, plan.distribution, plan.unitsChart, plan.queryTimes].filter((c): c is ChartSpec => c !== undefined);
  const weight = (c: ChartSpec): number => Number(c.attrs['cells'] ?? c.attrs['points'] ?? c.attrs['units'] ?? c.attrs['bins'] ?? 0);
  const order = all.map((_, i) => i).sort((a, b) => weight(all[b] as ChartSpec) - weight(all[a] as ChartSpec));
  const svgs = await threads.render(order.map((i) => (all[i] as ChartSpec).spec));
  const drawn = new Map<ChartSpec, Chart>();
  order.forEach((i, k) => {
    const { spec: _spec, ...rest } = all[i] as ChartSpec;
    drawn.set(all[i] as ChartSpec, { ...rest, svg: svgs[k] as string });
  });
  const get = (c: ChartSpec | undefined): Chart | undefined => (c ? drawn.get(c) : undefined);
  return {
    heatmaps: plan.heatmaps.map((c) => drawn.get(c) as Chart),
    marginals: plan.marginals.map((c) => drawn.get(c) as Chart),
    distribution: get(plan.distribution),
    unitsChart: get(plan.unitsChart),
    queryTimes: get(plan.queryTimes),
  };
}

function planCharts(model: ReportModel, metric: string, aggregate: Aggregate, higherIsBetter: boolean, format: (v: number) => string): Planned<ChartSpec> {
  const { params, values } = model;
  const heatmaps: ChartSpec[] = [];
  const marginals: ChartSpec[] = [];
  // One sort serves the distribution and every marginal's quantiles.
  const byValue = sortValues(values);
  if (values.length > 0) {
    // Every pair's cells first, so one colour scale spans them all.
    const pairs: Array<{ a: (typeof params)[number]; b: (typeof params)[number]; cells: HeatCell[] }> = [];
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < params.length; i++) {
      for (let j = i + 1; j < params.length; j++) {
        const a = params[i] as (typeof params)[number];
        const b = params[j] as (typeof params)[number];
        const nb = b.labels.length;
        const keys = new Int32Array(values.length);
        for (let k = 0; k < values.length; k++) {
          const ia = a.index[k] as number;
          const ib = b.index[k] as number;
          keys[k] = ia < 0 || ib < 0 ? -1 : ia * nb + ib;
        }
        const groups = groupBy(keys, a.labels.length * nb, values, aggregate);
        const cells: HeatCell[] = [];
        for (let ia = 0; ia < a.labels.length; ia++) {
          for (let ib = 0; ib < nb; ib++) {
            const g = groups[ia * nb + ib];
            if (g) {
              lo = Math.min(lo, g.value);
              hi = Math.max(hi, g.value);
            }
            cells.push({ x: a.labels[ia] as string, y: b.labels[ib] as string, value: g ? g.value : null, n: g ? g.n : 0 });
          }
        }
        pairs.push({ a, b, cells });
      }
    }
    const color = metricColorScale(lo, hi, higherIsBetter);
    for (const { a, b, cells } of pairs) {
      heatmaps.push(heatmapChart({ xName: a.name, yName: b.name, xLabels: a.labels, yLabels: b.labels, cells, metric, aggregate, color, format, short: (v) => String(Number(v.toPrecision(3))) }));
    }
    for (const p of params) {
      const groups = groupBy(p.index, p.labels.length, values, aggregate, byValue);
      const points = groups.flatMap((g, i) => (g ? [{ v: p.labels[i] as string, value: g.value, q25: g.q25, q75: g.q75, min: g.min, max: g.max, n: g.n }] : []));
      marginals.push(marginalChart({ param: p.name, labels: p.labels, points, metric, aggregate, format }));
    }
  }
  let distribution: ChartSpec | undefined;
  if (values.length > 0) {
    const { sorted } = byValue;
    const best = higherIsBetter ? sorted[sorted.length - 1] : sorted[0];
    distribution = distributionChart({ bins: histogram(sorted, 30), metric, median: quantileSorted(sorted, 0.5), best, format });
  }
  const unitsChartDrawn = model.units.length > 0 && model.units.length <= 60 ? unitsChart(model.units) : undefined;
  const queryTimes = model.elapsed.length > 0 ? queryTimesChart(logHistogram(model.elapsed, model.elapsedStatus)) : undefined;
  return { heatmaps, marginals, distribution, unitsChart: unitsChartDrawn, queryTimes };
}

/** Equal-width bins over sorted finite values. */
function histogram(sorted: Float64Array, bins: number): Array<{ x0: number; x1: number; n: number }> {
  const lo = sorted[0] as number;
  const hi = sorted[sorted.length - 1] as number;
  if (hi === lo) return [{ x0: lo - 0.5 * Math.abs(lo || 1) * 0.01, x1: hi + 0.5 * Math.abs(hi || 1) * 0.01, n: sorted.length }];
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of sorted) {
    const b = Math.min(bins - 1, Math.floor((v - lo) / width));
    counts[b] = (counts[b] as number) + 1;
  }
  return counts.map((n, i) => ({ x0: lo + i * width, x1: lo + (i + 1) * width, n }));
}

/** Query times in log-spaced bins (at least 5 per decade, 12 or more in all), counted per status. */
function logHistogram(ms: Float64Array, status: Uint8Array): Array<{ x0: number; x1: number; status: string; n: number }> {
  const names = ['ok', 'skipped', 'error'];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of ms) {
    const x = Math.log10(Math.max(v, 0.01));
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const perDecade = Math.min(40, Math.max(5, Math.ceil(12 / Math.max(hi - lo, 1e-9))));
  const start = Math.floor(lo * perDecade) / perDecade;
  const bins = Math.max(1, Math.ceil((hi - start) * perDecade + 1e-9));
  const counts = names.map(() => new Array<number>(bins).fill(0));
  for (let i = 0; i < ms.length; i++) {
    const x = Math.log10(Math.max(ms[i] as number, 0.01));
    const b = Math.min(bins - 1, Math.floor((x - start) * perDecade));
    const row = counts[status[i] as number] as number[];
    row[b] = (row[b] as number) + 1;
  }
  const out: Array<{ x0: number; x1: number; status: string; n: number }> = [];
  for (let s = 0; s < names.length; s++) {
    for (let b = 0; b < bins; b++) {
      const n = (counts[s] as number[])[b] as number;
      if (n > 0) out.push({ x0: 10 ** (start + b / perDecade), x1: 10 ** (start + (b + 1) / perDecade), status: names[s] as string, n });
    }
  }
  return out;
}

/** Numbers shown with enough significant digits to tell the configs apart (4, more when they are close). */
function formatterFor(values: Float64Array): (v: number) => string {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo;
  const scale = Math.max(Math.abs(lo), Math.abs(hi));
  const digits = span > 0 && scale > 0 ? Math.min(8, Math.max(3, Math.ceil(Math.log10(scale / span)) + 3)) : 4;
  return (v: number) => {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    return String(Number(v.toPrecision(digits)));
  };
}
