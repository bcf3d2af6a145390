/**
 * The report page: one HTML file with its CSS inline and the charts as inline
 * SVG, so it opens from a mail attachment or a laptop with no network. No
 * script: nothing to fail in the browser's console, nothing to load.
 */
import type { Chart } from './charts.js';
import { fmtMs, STATUS_COLORS } from './charts.js';
import type { ErrorGroup, ReportModel, TopConfig, UnitLine } from './model.js';

export interface PageInput {
  sweep: string;
  specPath: string;
  generatedAt: string;
  tool: string;
  model: ReportModel;
  configs: number;
  metricLine: string;
  higherIsBetter: boolean;
  notes: string[];
  paramNames: string[];
  /** Params shown in the top table (all of them, spec order). */
  heatmaps: Chart[];
  marginals: Chart[];
  distribution: Chart | undefined;
  unitsChart: Chart | undefined;
  queryTimes: Chart | undefined;
  format: (v: number) => string;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f6f7f9}
main{max-width:1240px;margin:0 auto;padding:20px 28px 48px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:17px;margin:34px 0 10px;padding-bottom:4px;border-bottom:1px solid #dde1e7}
h3{font-size:14px;margin:0 0 2px}
.sub{color:#5b6472;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0 8px}
.card{background:#fff;border:1px solid #e1e5eb;border-radius:8px;padding:8px 14px;min-width:104px}
.card .n{font-size:20px;font-weight:650;font-variant-numeric:tabular-nums}
.card .l{font-size:12px;color:#5b6472}
.card.ok .n{color:${STATUS_COLORS['ok']}}.card.error .n{color:${STATUS_COLORS['error']}}.card.missing .n{color:#c47a00}.card.skipped .n{color:#6b7280}
.meta{font-size:13px;color:#3c4350;margin:4px 0}
.meta b{font-weight:600}
.note{background:#fff8e6;border:1px solid #f1d48a;border-radius:6px;padding:6px 10px;margin:8px 0;font-size:13px}
nav{font-size:13px;margin:10px 0 0}
nav a{color:#1f5f99;margin-right:14px;text-decoration:none}
table{border-collapse:collapse;background:#fff;border:1px solid #e1e5eb;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:4px 10px;border-bottom:1px solid #eef0f3;text-align:left;white-space:nowrap}
th{background:#f0f2f5;font-weight:600;color:#333}
td.num,th.num{text-align:right}
td.metric{font-weight:650}
td.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:11.5px;color:#555}
td.msg{white-space:normal;max-width:560px;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:11.5px}
.grid{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0;background:#fff;border:1px solid #e1e5eb;border-radius:8px;padding:10px 12px}
figcaption{font-size:12px;color:#5b6472;margin-bottom:4px}
figure svg{display:block}
.wide{overflow-x:auto}
footer{margin-top:40px;color:#7a8290;font-size:12px}
`;

export function renderPage(p: PageInput): string {
  const m = p.model;
  const t = m.read.totals;
  const finished = t.ok + t.skipped + t.error;
  const cards = [
    card('configs', p.configs, ''),
    card('ok', t.ok, 'ok'),
    card('skipped (no rows)', t.skipped, 'skipped'),
    card('error', t.error, 'error'),
    card('missing', t.missing, 'missing'),
    card('wall time', m.wall_s > 0 ? fmtDuration(m.wall_s) : '-', ''),
    card('queries/s', m.queries_per_s > 0 ? m.queries_per_s.toFixed(m.queries_per_s >= 100 ? 0 : 1) : '-', ''),
  ].join('');
  const engines = m.engines.map(([e, n]) => `${esc(e)}${m.engines.length > 1 ? ` (${n})` : ''}`).join(', ') || '-';
  const targets = m.targets.map(([e, n]) => `${esc(e)}${m.targets.length > 1 ? ` (${n})` : ''}`).join(', ') || '-';
  const notes = p.notes.map((n) => `<div class="note">${esc(n)}</div>`).join('');
  const sections: string[] = [];
  sections.push(`<section id="top"><h2>Top ${m.top.length} configs</h2><div class="meta">${esc(p.metricLine)}</div>${topTable(p)}</section>`);
  if (p.heatmaps.length > 0) {
    sections.push(`<section id="heatmaps"><h2>Heatmaps: every pair of params</h2><div class="sub">Each cell combines the configs with those two values, whatever the other params are (as backtesting.py's plot_heatmaps does). Hover a cell for its value and count.</div><div class="grid">${p.heatmaps.map(figure).join('')}</div></section>`);
  }
  if (p.marginals.length > 0) {
    sections.push(`<section id="marginals"><h2>Robustness: the metric against each param</h2><div class="sub">A value whose dot is high and whose bar is short and high works whatever the other params are; a tall bar or a long line means it depends on them.</div><div class="grid">${p.marginals.map(figure).join('')}</div></section>`);
  }
  if (p.distribution) sections.push(`<section id="distribution"><h2>Distribution</h2><div class="grid">${figure(p.distribution)}</div></section>`);
  sections.push(operations(p));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sweep ${esc(p.sweep)}: report</title>
<style>${CSS}</style></head>
<body><main>
<header>
<h1>sweep ${esc(p.sweep)}</h1>
<div class="sub">${esc(p.specPath)} · written ${esc(p.generatedAt)} by sweep ${esc(p.tool)}</div>
<div class="cards">${cards}</div>
<div class="meta"><b>engine</b> ${engines} · <b>target</b> ${targets}</div>
<div class="meta"><b>finished</b> ${finished} of ${p.configs} configs${m.wall_s > 0 ? ` between ${esc(m.wall_from ?? '')} and ${esc(m.wall_to ?? '')}` : ''}</div>
${notes}
<nav><a href="#top">top configs</a>${p.heatmaps.length ? '<a href="#heatmaps">heatmaps</a>' : ''}${p.marginals.length ? '<a href="#marginals">robustness</a>' : ''}${p.distribution ? '<a href="#distribution">distribution</a>' : ''}<a href="#operations">operations</a></nav>
</header>
${sections.join('\n')}
<footer>Charts: Vega-Lite, rendered to SVG when this file was written. This page loads nothing from the network.</footer>
</main></body></html>
`;
}

function card(label: string, n: number | string, cls: string): string {
  return `<div class="card${cls ? ` ${cls}` : ''}"><div class="n">${esc(String(n))}</div><div class="l">${esc(label)}</div></div>`;
}

function figure(c: Chart): string {
  const attrs = Object.entries(c.attrs)
    .map(([k, v]) => ` data-${k}="${esc(String(v))}"`)
    .join('');
  return `<figure data-chart="${c.kind}"${attrs}><h3>${esc(c.title)}</h3>${c.caption ? `<figcaption>${esc(c.caption)}</figcaption>` : ''}${c.svg}</figure>`;
}

function topTable(p: PageInput): string {
  const m = p.model;
  if (m.top.length === 0) return '<p>No config has a value for the metric.</p>';
  const metric = m.metric?.name ?? 'metric';
  const single = m.rowsPerConfig.max <= 1;
  const others = single ? m.columns.filter((c) => c.name !== metric && !p.paramNames.includes(c.name)).map((c) => c.name) : [];
  const head = [
    '<th class="num">#</th>',
    ...p.paramNames.map((n) => `<th>${esc(n)}</th>`),
    `<th class="num" data-metric="1">${esc(metric)}</th>`,
    ...others.map((n) => `<th class="num">${esc(n)}</th>`),
    ...(single ? [] : ['<th class="num">rows</th>']),
    '<th>config</th>',
  ].join('');
  const rows = m.top.map((c: TopConfig, i) => {
    const cells = [
      `<td class="num">${i + 1}</td>`,
      ...p.paramNames.map((n) => `<td>${esc(show(c.params[n]))}</td>`),
      `<td class="num metric" data-value="${c.value}">${esc(p.format(c.value))}</td>`,
      ...others.map((n) => `<td class="num">${esc(show(c.row?.[n]))}</td>`),
      ...(single ? [] : [`<td class="num">${c.rows}</td>`]),
      `<td class="id">${esc(c.config)}</td>`,
    ];
    return `<tr>${cells.join('')}</tr>`;
  });
  return `<div class="wide"><table id="top-configs" data-order="${p.higherIsBetter ? 'desc' : 'asc'}"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function operations(p: PageInput): string {
  const m = p.model;
  const parts: string[] = ['<section id="operations"><h2>Operations</h2>'];
  parts.push('<div class="grid">');
  if (p.unitsChart) parts.push(figure(p.unitsChart));
  parts.push(unitTable(m.units, p.unitsChart !== undefined));
  parts.push('</div>');
  parts.push(`<h3 style="margin-top:22px">Errors</h3>${errorTable(m.errors)}`);
  parts.push('<div class="grid" style="margin-top:22px">');
  if (p.queryTimes) parts.push(figure(p.queryTimes));
  parts.push(`<div><h3>Slowest configs</h3>${slowTable(m.slowest)}</div>`);
  parts.push('</div></section>');
  return parts.join('');
}

/** The units with missing or failed configs (all units when few and not charted). */
function unitTable(units: UnitLine[], charted: boolean): string {
  const problem = units.filter((u) => u.missing + u.error > 0).sort((a, b) => b.missing + b.error - (a.missing + a.error));
  const shown = units.length <= 40 && !charted ? units : problem.slice(0, 40);
  const complete = units.length - problem.length;
  const caption = `${units.length} units, ${complete} complete${shown.length > 0 && shown.length < units.length ? `; the ${shown.length === problem.length ? '' : `${shown.length} `}units with missing or failed configs:` : ''}`;
  if (shown.length === 0) return `<div><h3>Units</h3><p class="sub">${esc(caption)}</p></div>`;
  const rows = shown.map((u) => `<tr><td class="id">${esc(u.unit)}</td><td class="num">${u.configs}</td><td class="num">${u.ok}</td><td class="num">${u.skipped}</td><td class="num">${u.error}</td><td class="num">${u.missing}</td></tr>`);
  return `<div><h3>Units</h3><div class="sub">${esc(caption)}</div><table id="units"><thead><tr><th>unit</th><th class="num">configs</th><th class="num">ok</th><th class="num">skipped</th><th class="num">error</th><th class="num">missing</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function errorTable(errors: ErrorGroup[]): string {
  if (errors.length === 0) return '<p class="sub">No config ended in error.</p>';
  const rows = errors.slice(0, 30).map((e) => `<tr><td class="num">${e.count}</td><td>${e.code ?? ''} ${esc(e.name)}</td><td class="msg">${esc(e.message)}</td><td class="id">${esc(e.example)}</td></tr>`);
  const more = errors.length > 30 ? `<p class="sub">... and ${errors.length - 30} more kinds of error</p>` : '';
  return `<table id="errors"><thead><tr><th class="num">configs</th><th>code</th><th>message</th><th>example config</th></tr></thead><tbody>${rows.join('')}</tbody></table>${more}`;
}

function slowTable(slowest: ReportModel['slowest']): string {
  if (slowest.length === 0) return '<p class="sub">No records yet.</p>';
  const rows = slowest.map((s) => `<tr><td class="id">${esc(s.config)}</td><td>${esc(s.status)}</td><td class="num">${esc(fmtMs(s.elapsed_ms))}</td></tr>`);
  return `<table id="slowest"><thead><tr><th>config</th><th>status</th><th class="num">time</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

function fmtDuration(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${s.toFixed(s >= 10 ? 0 : 1)} s`;
}

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}
