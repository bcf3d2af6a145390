import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { loadSweepContext } from '../remote/context.js';
import { readStatus, type StatusReport, type UnitStatus } from '../remote/status.js';
import type { CliIo } from './io.js';

interface StatusFlags {
  out?: string;
  watch?: boolean;
  interval?: string;
  json?: boolean;
}

export function registerStatus(program: Command, io: CliIo): void {
  program
    .command('status <spec>')
    .description('per-unit and overall progress on the host: pueue state by label, configs done, errors, ETA')
    .option('--out <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('--watch', 'refresh until no task of the sweep is queued or running')
    .option('--interval <seconds>', 'seconds between refreshes with --watch', '5')
    .option('--json', 'print the report as JSON on stdout (with --watch: the final one)')
    .action(async (spec: string, flags: StatusFlags) => {
      const interval = Number(flags.interval);
      if (!Number.isFinite(interval) || interval < 0.2) {
        throw new UserError('FLAG_INVALID', `--interval: expected a number of seconds >= 0.2, found ${JSON.stringify(flags.interval)}`);
      }
      const ctx = await loadSweepContext({ specPath: spec, outDir: flags.out, allowStale: true, localFallback: true });
      const tty = process.stdout.isTTY === true && !flags.json;
      const color = tty && !process.env['NO_COLOR'];
      let report = await readStatus(ctx);
      while (flags.watch && !report.idle) {
        const text = formatStatus(report, color);
        if (flags.json) io.stderr(`${summaryLine(report)}\n`);
        else io.stdout(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
        await new Promise((r) => setTimeout(r, interval * 1000));
        report = await readStatus(ctx);
      }
      if (flags.json) io.stdout(`${JSON.stringify(report)}\n`);
      else io.stdout(tty && flags.watch ? `\x1b[H\x1b[2J${formatStatus(report, color)}` : formatStatus(report, color));
      // 0 only when every config is done; a sweep still running or with errors is 1.
      if (!report.complete) process.exitCode = 1;
    });
}

export function formatStatus(r: StatusReport, color = false): string {
  const out: string[] = [];
  const g = r.group_state;
  out.push(`sweep ${r.sweep} on ${r.host}:${r.dir} | pueue group ${r.group}: ${g.exists ? `${g.status} (parallel ${g.parallel})` : 'not created yet'}`);
  const rows = r.units.map((u) => [u.unit, stateOf(u), String(u.ok), String(u.skipped), String(u.error), String(u.remaining), dur(u.elapsed_s), u.rate === null ? '-' : `${u.rate.toFixed(1)}/s`]);
  const head = ['unit', 'state', 'ok', 'skip', 'err', 'left', 'elapsed', 'rate'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const fmt = (cells: string[], paint = false): string =>
    cells
      .map((c, i) => {
        const w = widths[i] as number;
        const padded = i <= 1 ? c.padEnd(w) : c.padStart(w);
        return paint && i === 1 && color ? paintState(padded, c) : padded;
      })
      .join('  ')
      .trimEnd();
  out.push(fmt(head));
  for (const row of rows) out.push(fmt(row, true));
  for (const a of r.after) out.push(`after step ${a.step}: ${a.task ? a.task.state : 'not queued'}`);
  const t = r.totals;
  const done = t.ok + t.skipped;
  out.push(
    `${bar(r.progress)} ${(r.progress * 100).toFixed(1)}%  ${done}/${t.configs} configs, ${t.error} error(s)` +
      `${r.rate !== null ? `, ${r.rate.toFixed(1)} configs/s` : ''}${r.eta_s !== null ? `, ETA ${dur(r.eta_s)}` : ''}` +
      ` | units: ${t.units_complete}/${t.units} complete, ${t.running} running, ${t.queued} waiting${t.failed ? `, ${t.failed} failed` : ''}${t.killed ? `, ${t.killed} killed` : ''}`,
  );
  for (const n of r.notes) out.push(`note: ${n}`);
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
  return `${out.join('\n')}\n`;
}

function summaryLine(r: StatusReport): string {
  const t = r.totals;
  return `${r.sweep}: ${(r.progress * 100).toFixed(1)}% (${t.ok + t.skipped}/${t.configs}), ${t.running} running, ${t.queued} waiting${r.eta_s !== null ? `, ETA ${dur(r.eta_s)}` : ''}`;
}

function stateOf(u: UnitStatus): string {
  if (!u.task) return u.configs > 0 && u.ok + u.skipped === u.configs ? 'complete' : 'no task';
  return u.task.state;
}

function paintState(padded: string, state: string): string {
  const code = /^(Failed|Killed|DependencyFailed|FailedToSpawn|Errored)/.test(state) ? 31 : /^(Running)/.test(state) ? 36 : /^Success|complete/.test(state) ? 32 : /Paused/.test(state) ? 33 : 0;
  return code ? `\x1b[${code}m${padded}\x1b[0m` : padded;
}

function bar(p: number, width = 30): string {
  const full = Math.round(Math.min(1, Math.max(0, p)) * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

function dur(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
