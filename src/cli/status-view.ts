/**
 * How `sweep status` lays out a report: the totals and one line per host
 * first, then the units that need eyes (failed, then running or paused), then
 * a count of the rest ("812 done, 150 queued"); `all` lists every unit. For
 * `--watch` on a terminal the same layout is fitted to the screen: rows are
 * given to failed and running units until the screen is full, columns are
 * dropped (rate, elapsed) before unit ids are shortened, and nothing wraps.
 */
import cliTruncate from 'cli-truncate';
import stringWidth from 'string-width';
import type { StatusReport, UnitStatus } from '../remote/status.js';
import { fitLine } from '../term/live.js';
import { formatTable, type Cell, type Column } from '../term/table.js';

export interface StatusLayout {
  /** Every unit, instead of the failed and running ones and a count of the rest. */
  all?: boolean;
  color?: boolean;
  /** Fit a screen: at most `rows` lines, none wider than `columns`; no log tails. */
  screen?: { columns: number; rows: number };
}

export type UnitCategory = 'failed' | 'running' | 'queued' | 'done' | 'not queued';

/** Where a unit stands, for the counts and for which units are listed. */
export function categoryOf(u: UnitStatus): UnitCategory {
  if (u.task?.failed) return 'failed';
  if (u.task && /^(Running|Paused)/.test(u.task.state)) return 'running';
  if (u.configs > 0 && u.ok + u.skipped === u.configs && u.index === 'same') return 'done';
  if (u.task && /^(Queued|Stashed)/.test(u.task.state)) return 'queued';
  return 'not queued';
}

/** Unit counts on one host. A sweep runs on one host today; the view takes a list. */
export interface HostLine {
  host: string;
  /** The sweep's dir on that host. */
  dir: string;
  units: number;
  counts: Record<UnitCategory, number>;
}

export function hostLines(r: StatusReport): HostLine[] {
  const counts: Record<UnitCategory, number> = { failed: 0, running: 0, queued: 0, done: 0, 'not queued': 0 };
  for (const u of r.units) counts[categoryOf(u)]++;
  return [{ host: r.host, dir: r.dir, units: r.units.length, counts }];
}

const ORDER: UnitCategory[] = ['done', 'running', 'queued', 'failed', 'not queued'];

function countsText(counts: Record<UnitCategory, number>, skip: UnitCategory[] = []): string {
  return ORDER.filter((k) => counts[k] > 0 && !skip.includes(k))
    .map((k) => `${counts[k]} ${k}`)
    .join(', ');
}

export function headerLine(r: StatusReport): string {
  const g = r.group_state;
  return `sweep ${r.sweep} | pueue group ${r.group}: ${g.exists ? `${g.status} (parallel ${g.parallel})` : 'not created yet'}`;
}

/** Progress, errors, rate and ETA; within `columns` the bar narrows, then the rate goes. */
export function totalsLine(r: StatusReport, columns = Infinity): string {
  const t = r.totals;
  const done = t.ok + t.skipped;
  const counts = `${(r.progress * 100).toFixed(1)}%  ${done}/${t.configs} configs, ${t.error} error(s)`;
  const rate = r.rate !== null ? `, ${r.rate.toFixed(1)} configs/s` : '';
  const eta = r.eta_s !== null ? `, ETA ${dur(r.eta_s)}` : '';
  for (const text of [`${counts}${rate}${eta}`, `${counts}${eta}`]) {
    const room = columns - stringWidth(text) - 3;
    if (room >= 10) return `${bar(r.progress, Math.min(20, room))} ${text}`;
  }
  return `${counts}${eta}`;
}

/** One line for logs and pipes: progress, what runs, what failed. */
export function summaryLine(r: StatusReport): string {
  const t = r.totals;
  const [h] = hostLines(r);
  const c = h?.counts;
  return (
    `${r.sweep}: ${(r.progress * 100).toFixed(1)}% (${t.ok + t.skipped}/${t.configs}), ${t.running} running, ${t.queued} waiting` +
    `${c && c.failed > 0 ? `, ${c.failed} failed` : ''}${t.error > 0 ? `, ${t.error} config error(s)` : ''}${r.eta_s !== null ? `, ETA ${dur(r.eta_s)}` : ''}`
  );
}

export function formatStatus(r: StatusReport, layout: StatusLayout = {}): string {
  return `${statusLines(r, layout).join('\n')}\n`;
}

export function statusLines(r: StatusReport, layout: StatusLayout = {}): string[] {
  const screen = layout.screen;
  const top: string[] = [headerLine(r), totalsLine(r, screen?.columns)];
  for (const h of hostLines(r)) {
    const counts = `host ${h.host}: ${h.units} units: ${countsText(h.counts) || 'none'}`;
    // On a screen the counts come first; the dir gets what room is left, cut from its start.
    const room = screen ? screen.columns - stringWidth(counts) - 3 : Infinity;
    top.push(room >= 12 ? `${counts} | ${stringWidth(h.dir) > room ? cliTruncate(h.dir, room, { position: 'start' }) : h.dir}` : counts);
  }
  for (const a of r.after) top.push(`after step ${a.step}: ${a.task ? a.task.state : 'not queued'}`);
  // A screen has no room for the log tails a note may point to; the report after the watch prints them.
  for (const n of r.notes) top.push(`note: ${screen ? n.replace(' (log tails below)', '') : n}`);

  const failed = r.units.filter((u) => categoryOf(u) === 'failed');
  const running = r.units.filter((u) => categoryOf(u) === 'running');
  const listed = layout.all ? r.units : [...failed, ...running];
  const rest = hostLines(r)[0]?.counts;
  const restLine = layout.all || !rest ? null : countsText(rest, ['failed', 'running']);

  let shown = listed;
  let more: string | null = null;
  if (screen) {
    // header row of the table, the rest line, and a "more" line if needed
    const room = screen.rows - top.length - 1 - (restLine ? 1 : 0);
    if (listed.length > Math.max(0, room)) {
      const rows = Math.max(0, room - 1);
      if (layout.all) {
        shown = listed.slice(0, rows);
      } else {
        // Failed units first, but running ones keep at least half the rows when both overflow.
        const nFailed = Math.min(failed.length, Math.max(Math.ceil(rows / 2), rows - running.length));
        shown = [...failed.slice(0, nFailed), ...running.slice(0, rows - nFailed)];
      }
      const hidden = listed.filter((u) => !shown.includes(u));
      const hiddenFailed = hidden.filter((u) => categoryOf(u) === 'failed').length;
      const where = layout.all ? 'without --watch, --all prints them all' : "'sweep status --all' lists every unit";
      more = `... and ${hidden.length} more${hiddenFailed > 0 ? ` (${hiddenFailed} failed)` : ''}: ${where}`;
    }
  }
  const out = [...top];
  if (shown.length > 0) out.push(...unitTable(shown, layout.color === true, screen?.columns));
  if (more) out.push(more);
  if (restLine) out.push(`${listed.length > 0 ? 'the other units: ' : 'units: '}${restLine}${layout.all ? '' : ' (--all lists every unit)'}`);
  if (!screen) out.push(...logTails(r));
  return screen ? out.slice(0, screen.rows).map((l) => fitLine(l, screen.columns)) : out;
}

function unitTable(units: UnitStatus[], color: boolean, width: number | undefined): string[] {
  const all: Array<{ col: Column; cell: (u: UnitStatus) => Cell }> = [
    { col: { header: 'unit' }, cell: (u) => u.unit },
    { col: { header: 'state' }, cell: (u) => stateOf(u) },
    { col: { header: 'ok', align: 'right' }, cell: (u) => u.ok },
    { col: { header: 'skip', align: 'right' }, cell: (u) => u.skipped },
    { col: { header: 'err', align: 'right' }, cell: (u) => u.error },
    { col: { header: 'left', align: 'right' }, cell: (u) => u.remaining },
    { col: { header: 'elapsed', align: 'right' }, cell: (u) => dur(u.elapsed_s) },
    { col: { header: 'rate', align: 'right' }, cell: (u) => (u.rate === null ? '-' : `${u.rate.toFixed(1)}/s`) },
  ];
  const render = (cols: typeof all, unitWidth?: number): string[] =>
    formatTable(
      cols.map((c) => c.col),
      units.map((u) =>
        cols.map((c, i) => {
          const v = c.cell(u);
          if (i === 0 && unitWidth !== undefined) return cliTruncate(String(v), unitWidth, { position: 'middle' });
          if (i === 1 && color) return paintState(String(v));
          return v;
        }),
      ),
    ).split('\n');
  const widest = (lines: string[]) => Math.max(0, ...lines.map((l) => stringWidth(l)));
  let lines = render(all);
  if (width === undefined || widest(lines) <= width) return lines;
  // Too wide for the screen: drop rate, then elapsed, then shorten unit ids (middle out).
  for (const drop of [1, 2]) {
    const cols = all.slice(0, all.length - drop);
    lines = render(cols);
    if (widest(lines) <= width) return lines;
  }
  const cols = all.slice(0, all.length - 2);
  const over = widest(lines) - width;
  const unitCol = Math.max(8, Math.max(...units.map((u) => stringWidth(u.unit))) - over);
  return render(cols, unitCol);
}

function logTails(r: StatusReport): string[] {
  const out: string[] = [];
  const failed = [
    ...r.units.filter((u) => u.task?.failed).map((u) => ({ name: u.unit, task: u.task })),
    ...r.after.filter((a) => a.task?.failed).map((a) => ({ name: `after step ${a.step}`, task: a.task })),
  ];
  for (const f of failed) {
    if (!f.task || f.task.state === 'DependencyFailed') continue;
    out.push(`--- ${f.name}: ${f.task.state}${f.task.explain ? ` (${f.task.explain})` : ''}; last lines of its pueue log:`);
    const lines = (f.task.log ?? '').split('\n').filter((l) => l.trim() !== '');
    out.push(...(lines.length > 0 ? lines.map((l) => `  | ${l}`) : ['  | (empty)']));
  }
  return out;
}

function stateOf(u: UnitStatus): string {
  if (!u.task) return u.configs > 0 && u.ok + u.skipped === u.configs ? 'complete' : 'no task';
  return u.task.state;
}

function paintState(state: string): string {
  const code = /^(Failed|Killed|DependencyFailed|FailedToSpawn|Errored)/.test(state) ? 31 : /^(Running)/.test(state) ? 36 : /^Success|complete/.test(state) ? 32 : /Paused/.test(state) ? 33 : 0;
  return code ? `\x1b[${code}m${state}\x1b[0m` : state;
}

function bar(p: number, width = 20): string {
  const full = Math.round(Math.min(1, Math.max(0, p)) * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

function dur(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
