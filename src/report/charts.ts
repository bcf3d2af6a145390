/**
 * The report's charts: Vega-Lite specs, compiled and rendered to SVG by Vega
 * when the report is written (a headless `View` with `renderer: 'none'`), so
 * the HTML carries finished pictures and needs no script, server or network.
 *
 * Tooltips: Vega's own tooltips are event handlers of a live View, which a
 * static SVG does not have. Every mark gets its text through Vega-Lite's
 * `description` channel, which Vega writes as the mark's `aria-label`; that
 * label is copied into an SVG `<title>` child, the browser's native tooltip.
 * This file only states what to draw; nothing here draws.
 *
 * Vega is imported on first use (loadCharting): it takes a few hundred
 * milliseconds to load, which no other command should pay, and the report
 * loads it while its threads read the records.
 */
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** A chart to draw: its Vega-Lite spec and what the page says about it. */
export interface ChartSpec {
  kind: 'heatmap' | 'marginal' | 'distribution' | 'units' | 'query-times';
  title: string;
  caption: string;
  spec: TopLevelSpec;
  /** data-* attributes of the figure (tests count marks against them). */
  attrs: Record<string, string | number>;
}

/** A drawn chart. */
export type Chart = Omit<ChartSpec, 'spec'> & { svg: string };

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

const CONFIG = {
  font: FONT,
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, labelColor: '#333', titleColor: '#222', gridColor: '#eee', domainColor: '#999', tickColor: '#999' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 600 },
  title: { fontSize: 13, fontWeight: 600, anchor: 'start' as const },
};

export const STATUS_COLORS: Record<string, string> = { ok: '#2e9e5b', skipped: '#a0a7b4', error: '#d64545', missing: '#f0a030' };

type Charting = { vega: typeof Vega; vl: typeof VegaLite };
let charting: Promise<Charting> | undefined;

/** Vega and Vega-Lite, imported once. */
export function loadCharting(): Promise<Charting> {
  charting ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => ({ vega, vl }));
  return charting;
}

/** Compile and render one spec to SVG, with native tooltips. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vl } = await loadCharting();
  const compiled = vl.compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return withTooltips(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * `<path aria-label="x" .../>` -> `<path aria-label="x" ...><title>x</title></path>`.
 * Vega (6.x) writes a mark's aria-label as its first attribute and escapes it
 * for an attribute, which is also valid text.
 */
export function withTooltips(svg: string): string {
  return svg.replace(/<(path|rect|circle|line) aria-label="([^"]*)"([^>]*)\/>/g, '<$1 aria-label="$2"$3><title>$2</title></$1>');
}

// ---------------------------------------------------------------- colour

export interface ColorScale {
  /** Vega-Lite scale for the metric. */
  scale: Record<string, unknown>;
  /** Where a value falls on the colour ramp, 0..1 (for label contrast). */
  position: (v: number) => number;
  dark: (v: number) => boolean;
}

/**
 * One colour scale for every heatmap, so cells compare across charts. A metric
 * with both signs gets a diverging red-yellow-green ramp centred on 0 (the sign
 * of a return matters more than its size); otherwise viridis. Reversed when
 * lower is better, so the good end is always green (or yellow).
 */
export function metricColorScale(min: number, max: number, higherIsBetter: boolean): ColorScale {
  const diverging = min < 0 && max > 0;
  const lo = Number.isFinite(min) ? min : 0;
  const hi = Number.isFinite(max) && max > lo ? max : lo + 1;
  if (diverging) {
    const position = (v: number): number => {
      const t = v < 0 ? 0.5 * (1 - v / lo) : 0.5 + 0.5 * (v / hi);
      return higherIsBetter ? t : 1 - t;
    };
    return {
      scale: { scheme: 'redyellowgreen', domain: [lo, 0, hi], reverse: !higherIsBetter },
      position,
      dark: (v) => {
        const t = position(v);
        return t < 0.15 || t > 0.85;
      },
    };
  }
  const position = (v: number): number => {
    const t = (v - lo) / (hi - lo);
    return higherIsBetter ? t : 1 - t;
  };
  return { scale: { scheme: 'viridis', domain: [lo, hi], reverse: !higherIsBetter }, position, dark: (v) => position(v) < 0.55 };
}

// ---------------------------------------------------------------- charts

export interface HeatCell {
  x: string;
  y: string;
  value: number | null;
  n: number;
}

export function heatmapChart(o: {
  xName: string;
  yName: string;
  xLabels: string[];
  yLabels: string[];
  cells: HeatCell[];
  metric: string;
  aggregate: string;
  color: ColorScale;
  format: (v: number) => string;
  /** For the labels inside cells: three significant digits. */
  short: (v: number) => string;
}): ChartSpec {
  // Cells wider than tall, so a label like 0.0164 fits; the whole map stays within ~560 x 380 px.
  const cellW = Math.max(10, Math.min(64, Math.floor(560 / o.xLabels.length)));
  const cellH = Math.max(10, Math.min(34, Math.floor(380 / o.yLabels.length)));
  const labelled = o.xLabels.length * o.yLabels.length <= 200 && cellW >= 46 && cellH >= 18;
  const values = o.cells.map((c) => ({
    ...c,
    label: c.value === null ? '' : o.short(c.value),
    dark: c.value !== null && o.color.dark(c.value),
    tip:
      c.value === null
        ? `${o.xName} = ${c.x}, ${o.yName} = ${c.y}: no value (no config with rows here)`
        : `${o.xName} = ${c.x}, ${o.yName} = ${c.y}: ${o.aggregate} ${o.metric} ${o.format(c.value)} over ${c.n} config${c.n === 1 ? '' : 's'}`,
  }));
  const x = { field: 'x', type: 'ordinal', sort: o.xLabels, title: o.xName, axis: { labelAngle: 0, labelOverlap: true } };
  const y = { field: 'y', type: 'ordinal', sort: o.yLabels, title: o.yName, axis: { labelOverlap: true } };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: cellW * o.xLabels.length,
    height: cellH * o.yLabels.length,
    data: { values },
    layer: [
      {
        // invalid: null keeps the cells without a value (drawn grey) instead of dropping them.
        mark: { type: 'rect', invalid: null, stroke: 'white', strokeWidth: cellW >= 14 && cellH >= 14 ? 1 : 0 },
        encoding: {
          x,
          y,
          color: {
            condition: { test: 'datum.value === null', value: '#eceff3' },
            field: 'value',
            type: 'quantitative',
            scale: o.color.scale,
            title: `${o.aggregate} ${o.metric}`,
            legend: { format: '.3~g', gradientLength: Math.max(60, Math.min(200, cellH * o.yLabels.length)) },
          },
          description: { field: 'tip' },
        },
      },
      ...(labelled
        ? [
            {
              mark: { type: 'text', fontSize: 10, aria: false },
              encoding: {
                x,
                y,
                text: { field: 'label' },
                color: { condition: { test: 'datum.dark', value: 'white' }, value: '#222' },
              },
            },
          ]
        : []),
    ],
  } as unknown as TopLevelSpec;
  return {
    kind: 'heatmap',
    title: `${o.yName} × ${o.xName}`,
    caption: `${o.aggregate} of ${o.metric} over the other params; grey: no config with a value`,
    spec,
    attrs: { x: o.xName, y: o.yName, cells: o.xLabels.length * o.yLabels.length },
  };
}

export interface MarginalPoint {
  v: string;
  value: number;
  q25: number;
  q75: number;
  min: number;
  max: number;
  n: number;
}

export function marginalChart(o: { param: string; labels: string[]; points: MarginalPoint[]; metric: string; aggregate: string; format: (v: number) => string }): ChartSpec {
  const step = Math.max(14, Math.min(64, Math.floor(480 / Math.max(1, o.labels.length))));
  const longest = Math.max(...o.labels.map((l) => l.length));
  const values = o.points.map((p) => ({
    ...p,
    tip: `${o.param} = ${p.v}: ${o.aggregate} ${o.format(p.value)} over ${p.n} config${p.n === 1 ? '' : 's'}; middle half ${o.format(p.q25)} to ${o.format(p.q75)}; range ${o.format(p.min)} to ${o.format(p.max)}`,
  }));
  // Labels wider than their step are slanted rather than dropped.
  const x = { field: 'v', type: 'ordinal', sort: o.labels, title: o.param, scale: { domain: o.labels }, axis: { labelAngle: longest * 6.5 > step ? -40 : 0, labelOverlap: true } };
  const y = { type: 'quantitative', title: o.metric, scale: { zero: false, nice: true }, axis: { format: '.3~g' } };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: { step },
    height: 170,
    data: { values },
    encoding: { x },
    layer: [
      { mark: { type: 'rule', color: '#b8c2cc', aria: false }, encoding: { y: { ...y, field: 'min' }, y2: { field: 'max' } } },
      { mark: { type: 'bar', color: '#a6c8e8', width: { band: 0.55 }, aria: false }, encoding: { y: { ...y, field: 'q25' }, y2: { field: 'q75' } } },
      { mark: { type: 'line', color: '#1f5f99', strokeWidth: 1.5, aria: false }, encoding: { y: { ...y, field: 'value' } } },
      { mark: { type: 'point', filled: true, color: '#1f5f99', size: 46, opacity: 1 }, encoding: { y: { ...y, field: 'value' }, description: { field: 'tip' } } },
    ],
  } as unknown as TopLevelSpec;
  return {
    kind: 'marginal',
    title: `${o.metric} by ${o.param}`,
    caption: `dot: ${o.aggregate} over the other params; bar: middle half of configs; line: min to max`,
    spec,
    attrs: { param: o.param, points: o.points.length },
  };
}

export function distributionChart(o: { bins: Array<{ x0: number; x1: number; n: number }>; metric: string; median: number; best: number | undefined; format: (v: number) => string }): ChartSpec {
  const values = o.bins.map((b) => ({ ...b, tip: `${o.metric} ${o.format(b.x0)} to ${o.format(b.x1)}: ${b.n} config${b.n === 1 ? '' : 's'}` }));
  const marks = [
    { value: o.median, label: `median ${o.format(o.median)}`, color: '#555' },
    ...(o.best !== undefined ? [{ value: o.best, label: `best ${o.format(o.best)}`, color: '#2e9e5b' }] : []),
  ];
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 560,
    height: 170,
    layer: [
      {
        data: { values },
        mark: { type: 'bar', color: '#6b9ac4', binSpacing: 1 },
        encoding: {
          x: { field: 'x0', type: 'quantitative', bin: { binned: true }, title: o.metric, axis: { format: '.3~g' } },
          x2: { field: 'x1' },
          y: { field: 'n', type: 'quantitative', title: 'configs', axis: { tickMinStep: 1, format: 'd' } },
          description: { field: 'tip' },
        },
      },
      {
        data: { values: marks },
        mark: { type: 'rule', strokeDash: [4, 3], aria: false },
        encoding: { x: { field: 'value', type: 'quantitative' }, color: { field: 'color', type: 'nominal', scale: null } },
      },
      {
        data: { values: marks },
        mark: { type: 'text', align: 'left', dx: 3, dy: -4, y: 0, fontSize: 10, aria: false },
        encoding: { x: { field: 'value', type: 'quantitative' }, text: { field: 'label' }, color: { field: 'color', type: 'nominal', scale: null } },
      },
    ],
  } as unknown as TopLevelSpec;
  return { kind: 'distribution', title: `distribution of ${o.metric}`, caption: 'one value per config', spec, attrs: { bins: o.bins.length } };
}

export function unitsChart(units: Array<{ unit: string; ok: number; skipped: number; error: number; missing: number }>): ChartSpec {
  const values = units.flatMap((u) =>
    (['ok', 'skipped', 'error', 'missing'] as const)
      .filter((s) => u[s] > 0)
      .map((s) => ({ unit: u.unit, status: s, n: u[s], tip: `${u.unit}: ${u[s]} ${s}` })),
  );
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 420,
    height: { step: 16 },
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'unit', type: 'nominal', sort: units.map((u) => u.unit), title: null, axis: { labelLimit: 320 } },
      x: { field: 'n', type: 'quantitative', stack: 'zero', title: 'configs', axis: { tickMinStep: 1, format: 'd' } },
      color: { field: 'status', type: 'nominal', scale: { domain: Object.keys(STATUS_COLORS), range: Object.values(STATUS_COLORS) }, title: 'status' },
      order: { field: 'status', sort: 'ascending' },
      description: { field: 'tip' },
    },
  } as unknown as TopLevelSpec;
  return { kind: 'units', title: 'configs per unit by status', caption: '', spec, attrs: { units: units.length } };
}

export function queryTimesChart(bins: Array<{ x0: number; x1: number; status: string; n: number }>): ChartSpec {
  const values = bins.map((b) => ({ ...b, tip: `${fmtMs(b.x0)} to ${fmtMs(b.x1)}: ${b.n} ${b.status}` }));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 560,
    height: 170,
    data: { values },
    mark: { type: 'bar', binSpacing: 1 },
    encoding: {
      x: { field: 'x0', type: 'quantitative', bin: { binned: true }, scale: { type: 'log' }, title: 'query time (ms, log scale)', axis: { format: '~s' } },
      x2: { field: 'x1' },
      y: { field: 'n', type: 'quantitative', stack: 'zero', title: 'configs', axis: { tickMinStep: 1, format: 'd' } },
      color: { field: 'status', type: 'nominal', scale: { domain: ['ok', 'skipped', 'error'], range: [STATUS_COLORS['ok'], STATUS_COLORS['skipped'], STATUS_COLORS['error']] }, title: 'status' },
      description: { field: 'tip' },
    },
  } as unknown as TopLevelSpec;
  return { kind: 'query-times', title: 'query times', caption: 'wall time of each config (all its statements)', spec, attrs: { bins: bins.length } };
}

export function fmtMs(ms: number): string {
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toPrecision(2)} ms`;
}
