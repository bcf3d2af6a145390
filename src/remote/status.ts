/**
 * `sweep status`: one session per refresh. Per unit: the pueue state of the
 * task with its label, and configs ok / skipped / error / remaining from its
 * results file on the host (the worker's own rule: an ok/skipped record with
 * the current SQL hash); elapsed and rate of a running task; the log tail of
 * a failed one. Overall: progress, rate, ETA, and whether the sweep's tasks
 * are all finished (by label and group, never by pueue id).
 */
import { discoveryStep, nodeStep, parseDiscovery, parseNodeResult } from '../host/remote-script.js';
import type { DetailsInput, DetailsOutput, InspectInput, InspectOutput, UnitProbe } from '../host/remote-side.js';
import { afterLabel, currentTask, tasksByLabel, unitLabel } from '../pueue/labels.js';
import { describeState, explainResult, isActive, isFailure, parseStatus, type StatusView, type TaskView } from '../pueue/status.js';
import type { RemoteSettings } from '../spec/schema.js';
import { RemoteError, type Transport } from '../transport/transport.js';
import { clickhouseTarget, loadSweepContext, originOf, unitIndexSha, type SweepContext } from './context.js';

export interface StatusOptions {
  specPath: string;
  /** Remote settings instead of the spec's (`sweep run` through a local pueue daemon). */
  remote?: RemoteSettings;
  cwd?: string;
  outDir?: string;
  transport?: Transport;
  /** Lines of log shown for a failed task (default 12). */
  logLines?: number;
  /** Where CLICKHOUSE_URL comes from (default process.env): it names the target records must carry. */
  env?: NodeJS.ProcessEnv;
}

export interface TaskSummary {
  state: string;
  active: boolean;
  failed: boolean;
  /** What a failure means, in words. */
  explain?: string;
  start?: string;
  end?: string;
  /** Tail of `pueue log` for a failed task. */
  log?: string;
}

export interface UnitStatus {
  unit: string;
  label: string;
  task: TaskSummary | null;
  configs: number;
  ok: number;
  skipped: number;
  error: number;
  remaining: number;
  /** Is the host's unit index the local one? ('differs': regenerated since the last submission.) */
  index: UnitProbe['index'];
  torn: boolean;
  elapsed_s: number | null;
  /** Configs per second of the running task. */
  rate: number | null;
}

export interface StatusReport {
  sweep: string;
  host: string;
  dir: string;
  group: string;
  group_state: { exists: boolean; status: 'Running' | 'Paused' | 'Reset' | null; parallel: number | null };
  submitted: boolean;
  units: UnitStatus[];
  after: Array<{ step: string; label: string; task: TaskSummary | null }>;
  totals: {
    units: number;
    configs: number;
    ok: number;
    skipped: number;
    error: number;
    remaining: number;
    units_complete: number;
    running: number;
    queued: number;
    failed: number;
    killed: number;
    no_task: number;
  };
  /** Done (ok + skipped) / configs. */
  progress: number;
  rate: number | null;
  eta_s: number | null;
  /** No task of this sweep is queued, running, paused or stashed. */
  idle: boolean;
  /** Every config has an ok or skipped record. */
  complete: boolean;
  /** Plain statements about what needs the user's attention. */
  notes: string[];
  /** The host's clock when it was read. */
  now: string;
  connections: number;
}

export async function sweepStatus(opts: StatusOptions): Promise<StatusReport> {
  const ctx = await loadSweepContext({
    specPath: opts.specPath,
    cwd: opts.cwd,
    outDir: opts.outDir,
    transport: opts.transport,
    remote: opts.remote,
    allowStale: true,
    localFallback: true,
  });
  return readStatus(ctx, opts.logLines ?? 12, opts.env);
}

/** One refresh: one session. */
export async function readStatus(ctx: SweepContext, logLines = 12, env: NodeJS.ProcessEnv = process.env): Promise<StatusReport> {
  const { transport } = ctx;
  const host = transport.host;
  const session = transport.openSession();
  try {
    const d = parseDiscovery((await session.run(discoveryStep(), { step: 'connect', timeoutMs: 45_000 })).stdout);
    if (!d.node || !d.pueue) {
      throw new RemoteError(host, 'status', `${!d.node ? 'node >= 20' : 'pueue v4'} not found on the host (found: ${d.seen.join('; ') || 'nothing'}); run 'sweep submit-all' for the full preflight`);
    }
    const pueueRef = { bin: d.pueue.path, config: ctx.remote.pueue_config ?? null };
    const input: InspectInput = {
      sweep: ctx.name,
      group: ctx.group,
      sweepDir: ctx.sweepDir,
      node: d.node.path,
      pueue: pueueRef,
      units: ctx.units.map((u) => ({ id: u.id, indexSha256: safeIndexSha(ctx, u.id) })),
      origin: originOf(ctx, clickhouseTarget(ctx, env, host).url, d.hostname),
    };
    const inspected = parseNodeResult<InspectOutput>(host, 'status', await session.run(nodeStep('inspect', input), { step: 'status', timeoutMs: 60_000 + ctx.units.length * 50 }));
    if (!inspected.daemon.ok) {
      throw new RemoteError(host, 'status', `the pueue daemon does not answer: ${inspected.daemon.message.split('\n').slice(0, 3).join(' / ')}`, 'PUEUE_DAEMON_DOWN');
    }
    const status = parseStatus(inspected.daemon.status);
    const report = buildReport(ctx, status, inspected);

    // Second step of the same session: log tails of failures (from the workers' own logs), rates of running units.
    const { units: byUnit, after: byAfter } = tasksByLabel(ctx.name, status.tasks);
    const failedTasks = new Map<number, { summary: TaskSummary; unit: string | null }>();
    const running: string[] = [];
    // A task that never ran (DependencyFailed) has no log.
    const hasLog = (t: TaskView): boolean => isFailure(t) && t.result?.kind !== 'dependency-failed';
    for (const u of report.units) {
      const t = currentTask(byUnit.get(u.unit) ?? []);
      if (t && hasLog(t) && u.task) failedTasks.set(t.id, { summary: u.task, unit: u.unit });
      if (t && t.state === 'running') running.push(u.unit);
    }
    for (const a of report.after) {
      const t = currentTask(byAfter.get(a.step) ?? []);
      if (t && hasLog(t) && a.task) failedTasks.set(t.id, { summary: a.task, unit: null });
    }
    if (failedTasks.size > 0 || running.length > 0) {
      const input: DetailsInput = { pueue: pueueRef, sweepDir: ctx.sweepDir, failures: [...failedTasks].map(([id, f]) => ({ id, unit: f.unit })), logLines, running };
      const det = parseNodeResult<DetailsOutput>(host, 'status', await session.run(nodeStep('details', input), { step: 'status', timeoutMs: 60_000 }));
      for (const [id, f] of failedTasks) {
        const text = det.logs[String(id)];
        if (text !== undefined) f.summary.log = text;
      }
      applyRates(report, det);
    }
    report.connections = transport.stats.connections;
    return report;
  } finally {
    await session.close();
  }
}

function safeIndexSha(ctx: SweepContext, unit: string): string {
  try {
    return unitIndexSha(ctx.outDir, unit);
  } catch {
    return '';
  }
}

function summarize(t: TaskView | undefined): TaskSummary | null {
  if (!t) return null;
  const s: TaskSummary = { state: describeState(t), active: isActive(t), failed: isFailure(t) };
  const why = isFailure(t) ? explainResult(t.result) : undefined;
  if (why) s.explain = why;
  if (t.start) s.start = t.start;
  if (t.end) s.end = t.end;
  return s;
}

/** Pure: the report from one status snapshot (rates and logs are added after). */
export function buildReport(ctx: Pick<SweepContext, 'name' | 'group' | 'units' | 'sweepDir' | 'transport' | 'spec'>, status: StatusView, inspected: Pick<InspectOutput, 'units' | 'now' | 'dirExists'>): StatusReport {
  const { units: byUnit, after: byAfter } = tasksByLabel(ctx.name, status.tasks);
  const nowMs = Date.parse(inspected.now);
  const totals: StatusReport['totals'] = { units: ctx.units.length, configs: 0, ok: 0, skipped: 0, error: 0, remaining: 0, units_complete: 0, running: 0, queued: 0, failed: 0, killed: 0, no_task: 0 };
  const units: UnitStatus[] = [];
  for (const mu of ctx.units) {
    const t = currentTask(byUnit.get(mu.id) ?? []);
    const p = inspected.units[mu.id];
    const configs = p && p.index !== 'missing' ? p.total : mu.configs;
    const us: UnitStatus = {
      unit: mu.id,
      label: unitLabel(ctx.name, mu.id),
      task: summarize(t),
      configs,
      ok: p?.ok ?? 0,
      skipped: p?.skipped ?? 0,
      error: p?.error ?? 0,
      remaining: p && p.index !== 'missing' ? p.remaining : configs,
      index: p?.index ?? 'missing',
      torn: p?.torn ?? false,
      elapsed_s: t?.start ? ((t.end ? Date.parse(t.end) : nowMs) - Date.parse(t.start)) / 1000 : null,
      rate: null,
    };
    units.push(us);
    totals.configs += us.configs;
    totals.ok += us.ok;
    totals.skipped += us.skipped;
    totals.error += us.error;
    totals.remaining += us.remaining;
    if (us.configs > 0 && us.ok + us.skipped === us.configs && us.index === 'same') totals.units_complete++;
    if (!t) totals.no_task++;
    else if (t.state === 'running') totals.running++;
    else if (t.state === 'queued' || t.state === 'paused' || t.state === 'stashed') totals.queued++;
    else if (t.result?.kind === 'killed') totals.killed++;
    else if (isFailure(t)) totals.failed++;
  }
  const after = ctx.spec.after.map((a) => ({ step: a.name, label: afterLabel(ctx.name, a.name), task: summarize(currentTask(byAfter.get(a.name) ?? [])) }));
  const ours = [...byUnit.values(), ...byAfter.values()].flat();
  const idle = !ours.some(isActive);
  const complete = totals.units_complete === totals.units;
  const g = status.groups[ctx.group];
  const report: StatusReport = {
    sweep: ctx.name,
    host: ctx.transport.host,
    dir: ctx.sweepDir,
    group: ctx.group,
    group_state: { exists: g !== undefined, status: g?.status ?? null, parallel: g?.parallel ?? null },
    submitted: inspected.dirExists,
    units,
    after,
    totals,
    progress: totals.configs > 0 ? (totals.ok + totals.skipped) / totals.configs : 0,
    rate: null,
    eta_s: null,
    idle,
    complete,
    notes: [],
    now: inspected.now,
    connections: 0,
  };
  report.notes = notesFor(report);
  return report;
}

/** Rates from each running unit's last progress line (queries per second over its last interval). */
function applyRates(report: StatusReport, det: DetailsOutput): void {
  let total = 0;
  for (const u of report.units) {
    const r = det.rates[u.unit];
    if (r === undefined) continue;
    u.rate = r;
    total += r;
  }
  if (total > 0) {
    report.rate = total;
    report.eta_s = (report.totals.remaining + report.totals.error) / total;
  }
}

function notesFor(r: StatusReport): string[] {
  const notes: string[] = [];
  const t = r.totals;
  if (!r.submitted) {
    notes.push(`not submitted: ${r.dir} does not exist on ${r.host}; run 'sweep submit-all' first`);
    return notes;
  }
  if (r.group_state.status === 'Paused') {
    const waiting = t.queued > 0 ? ` with ${t.queued} unit(s) waiting` : '';
    notes.push(
      `pueue group ${r.group} is PAUSED${waiting}: nothing in it will start.` +
        (t.killed > 0 ? ` ${t.killed} unit(s) were Killed, as when the pueue daemon restarts (it kills running tasks and pauses their group).` : '') +
        ` Run 'sweep submit-all' to resume: it requeues killed units, keeps finished configs, and starts the group.`,
    );
  } else if (t.killed > 0) {
    notes.push(`${t.killed} unit(s) were Killed (pueue daemon restart, pueue kill, kill -9 or the OOM killer); 'sweep submit-all' queues them again, finished configs are kept`);
  }
  if (t.failed > 0) notes.push(`${t.failed} unit(s) failed (log tails below); fix the cause, then 'sweep submit-all' retries their unfinished configs`);
  for (const a of r.after) {
    if (a.task?.failed) notes.push(`after step ${a.step}: ${a.task.state}${a.task.explain ? ` (${a.task.explain})` : ''}`);
  }
  if (t.no_task > 0 && r.idle && !r.complete) notes.push(`${t.no_task} unit(s) have no pueue task; run 'sweep submit-all' to queue them`);
  const differs = r.units.filter((u) => u.index === 'differs').length;
  if (differs > 0) notes.push(`${differs} unit(s) on the host differ from the local output (regenerated since the last submission); 'sweep submit-all' ships and reruns what changed`);
  if (r.idle && r.complete) notes.push('complete: every config has an ok or skipped record; run \'sweep collect\' to bring the results back');
  return notes;
}
