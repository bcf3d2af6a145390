/**
 * `sweep status`: one session per host per refresh, every host at once. Per
 * unit, on the host it is placed on (placement.json): the pueue state of the
 * task with its label, and configs ok / skipped / error / remaining from its
 * results file there (the worker's own rule: an ok/skipped record with the
 * current SQL hash, for that host's target); elapsed and rate of a running
 * task; the log tail of a failed one. Per host: units by state, configs per
 * second, the group's parallelism and, when autoscaled, the controller's last
 * decision; a host that is down is a row saying why (its units are counted as
 * unknown), never a hang. Overall: progress, one rate and ETA, and whether the
 * sweep's tasks are all finished (by label and group, never by pueue id).
 */
import type { AutoscaleDecision } from '../autoscale/rule.js';
import { discoveryStep, nodeStep, parseDiscovery, parseNodeResult } from '../host/remote-script.js';
import type { DetailsInput, DetailsOutput, InspectInput, InspectOutput, UnitProbe } from '../host/remote-side.js';
import { afterLabel, autoscaleLabel, currentTask, tasksByLabel, unitLabel } from '../pueue/labels.js';
import { describeState, explainResult, isActive, isFailure, parseStatus, type StatusView, type TaskView } from '../pueue/status.js';
import type { RemoteSettings } from '../spec/schema.js';
import { RemoteError, type RemoteSession } from '../transport/transport.js';
import { clickhouseTarget, loadSweepContext, originOf, unitIndexSha, type HostContext, type SweepContext } from './context.js';
import { onEveryHost } from './fanout.js';
import { parallelPlan } from './hosts.js';
import { hostWeights, unitsByHost } from './placement.js';

export interface StatusOptions {
  specPath: string;
  /** Remote settings instead of the spec's (`sweep run` through a local pueue daemon). */
  remote?: RemoteSettings;
  cwd?: string;
  outDir?: string;
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
  /** Tail of the worker's log (or pueue's) for a failed task. */
  log?: string;
}

export interface UnitStatus {
  unit: string;
  /** The host the unit is placed on. */
  host: string;
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
  /** False when its host did not answer: the counts are unknown (shown as all remaining). */
  reachable: boolean;
}

export interface HostStatus {
  host: string;
  /** The sweep dir on that host. */
  dir: string;
  /** Its ssh session worked and its pueue daemon answered. */
  reachable: boolean;
  /** Why not, when not. */
  why: string | null;
  /** The sweep dir exists there (something was submitted). */
  submitted: boolean;
  group_state: { exists: boolean; status: 'Running' | 'Paused' | 'Reset' | null; parallel: number | null };
  /** Units placed on this host. */
  units: number;
  counts: { done: number; running: number; queued: number; failed: number; not_queued: number };
  configs_per_s: number | null;
  /** With parallel auto or {min, max}: the bounds, the controller's task state and its last decision. */
  autoscale: { min: number; max: number; controller: string | null; last: AutoscaleDecision | null } | null;
  /** The target records written there carry (null when the host did not answer). */
  target: string | null;
  /** The host's clock when it was read. */
  now: string | null;
}

export interface StatusReport {
  sweep: string;
  group: string;
  /** One row per host, in spec order. */
  hosts: HostStatus[];
  /** Something was submitted on at least one host. */
  submitted: boolean;
  units: UnitStatus[];
  after: Array<{ host: string; step: string; label: string; task: TaskSummary | null }>;
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
    /** Units on hosts that did not answer. */
    unreachable: number;
  };
  /** Done (ok + skipped) / configs. */
  progress: number;
  /** Configs per second over all hosts. */
  rate: number | null;
  eta_s: number | null;
  /** Every host answered and no task of this sweep is queued, running, paused or stashed on any. */
  idle: boolean;
  /** Every config has an ok or skipped record. */
  complete: boolean;
  /** Plain statements about what needs the user's attention. */
  notes: string[];
  /** The first answering host's clock when it was read. */
  now: string;
  connections: number;
}

export async function sweepStatus(opts: StatusOptions): Promise<StatusReport> {
  const ctx = await loadSweepContext({
    specPath: opts.specPath,
    cwd: opts.cwd,
    outDir: opts.outDir,
    remote: opts.remote,
    allowStale: true,
    localFallback: true,
  });
  return readStatus(ctx, opts.logLines ?? 12, opts.env);
}

/** What one host answered for status (null parts: it did not get that far). */
export interface HostSnapshot {
  host: string;
  dir: string;
  reachable: boolean;
  why: string | null;
  cores: number | null;
  target: string | null;
  inspected: Pick<InspectOutput, 'units' | 'now' | 'dirExists' | 'autoscale'> | null;
  status: StatusView | null;
  details: DetailsOutput | null;
}

/** One refresh: one session per host, all at once. */
export async function readStatus(ctx: SweepContext, logLines = 12, env: NodeJS.ProcessEnv = process.env): Promise<StatusReport> {
  const placement = unitsByHost(ctx, hostWeights(ctx, new Map()));
  const outcomes = await onEveryHost(
    ctx.hosts,
    (h) => 90_000 + (placement.byHost.get(h.host)?.length ?? 0) * 50,
    'status',
    (h, session) => readHost(ctx, h, session, placement.byHost.get(h.host) ?? [], logLines, env),
  );
  const snaps = outcomes.map(
    (o): HostSnapshot =>
      o.ok ? o.value : { host: o.host.host, dir: o.host.sweepDir, reachable: false, why: o.why, cores: null, target: null, inspected: null, status: null, details: null },
  );
  const report = buildReport(ctx, placement.current, snaps);
  report.connections = ctx.hosts.reduce((n, h) => n + h.transport.stats.connections, 0);
  return report;
}

async function readHost(ctx: SweepContext, h: HostContext, session: RemoteSession, units: string[], logLines: number, env: NodeJS.ProcessEnv): Promise<HostSnapshot> {
  const host = h.host;
  const d = parseDiscovery((await session.run(discoveryStep(), { step: 'connect', timeoutMs: 45_000 })).stdout);
  if (!d.node || !d.pueue) {
    throw new RemoteError(host, 'status', `${!d.node ? 'node >= 20' : 'pueue v4'} not found on the host (found: ${d.seen.join('; ') || 'nothing'}); run 'sweep submit-all' for the full preflight`);
  }
  const pueueRef = { bin: d.pueue.path, config: h.pueueConfig };
  const origin = originOf(ctx, h.sweepDir, clickhouseTarget(ctx, env, h).url, d.hostname);
  const input: InspectInput = {
    sweep: ctx.name,
    group: ctx.group,
    sweepDir: h.sweepDir,
    node: d.node.path,
    pueue: pueueRef,
    units: units.map((u) => ({ id: u, indexSha256: safeIndexSha(ctx, u) })),
    origin,
  };
  const inspected = parseNodeResult<InspectOutput>(host, 'status', await session.run(nodeStep('inspect', input), { step: 'status', timeoutMs: 60_000 + units.length * 50 }));
  const snap: HostSnapshot = { host, dir: h.sweepDir, reachable: true, why: null, cores: d.cores ?? null, target: origin.target, inspected, status: null, details: null };
  if (!inspected.daemon.ok) {
    // The results files were read all the same: the host's row says why its tasks are unknown.
    snap.reachable = false;
    snap.why = `the pueue daemon does not answer: ${inspected.daemon.message.split('\n').slice(0, 3).join(' / ')}`;
    return snap;
  }
  const status = parseStatus(inspected.daemon.status);
  snap.status = status;
  // Second step of the same session: log tails of failures (from the workers' own logs), rates of running units.
  const { units: byUnit, after: byAfter } = tasksByLabel(ctx.name, status.tasks);
  const failures: DetailsInput['failures'] = [];
  const running: string[] = [];
  const mine = new Set(units);
  for (const u of units) {
    const t = currentTask(byUnit.get(u) ?? []);
    if (t && hasLog(t)) failures.push({ id: t.id, unit: u });
    if (t && t.state === 'running') running.push(u);
  }
  for (const [unit, tasks] of byUnit) {
    // A unit moved off this host may still run here: its rate counts for the host.
    const t = currentTask(tasks);
    if (!mine.has(unit) && t?.state === 'running') running.push(unit);
  }
  for (const tasks of byAfter.values()) {
    const t = currentTask(tasks);
    if (t && hasLog(t)) failures.push({ id: t.id, unit: null });
  }
  if (failures.length > 0 || running.length > 0) {
    const det: DetailsInput = { pueue: pueueRef, sweepDir: h.sweepDir, failures, logLines, running };
    snap.details = parseNodeResult<DetailsOutput>(host, 'status', await session.run(nodeStep('details', det), { step: 'status', timeoutMs: 60_000 }));
  }
  return snap;
}

/** A task that never ran (DependencyFailed) has no log. */
function hasLog(t: TaskView): boolean {
  return isFailure(t) && t.result?.kind !== 'dependency-failed';
}

function safeIndexSha(ctx: SweepContext, unit: string): string {
  try {
    return unitIndexSha(ctx.outDir, unit);
  } catch {
    return '';
  }
}

function summarize(t: TaskView | undefined, logs: Record<string, string> | undefined): TaskSummary | null {
  if (!t) return null;
  const s: TaskSummary = { state: describeState(t), active: isActive(t), failed: isFailure(t) };
  const why = isFailure(t) ? explainResult(t.result) : undefined;
  if (why) s.explain = why;
  if (t.start) s.start = t.start;
  if (t.end) s.end = t.end;
  const log = logs?.[String(t.id)];
  if (log !== undefined) s.log = log;
  return s;
}

export type ReportContext = Pick<SweepContext, 'name' | 'group' | 'units' | 'spec'> & { hosts: ReadonlyArray<Pick<HostContext, 'host' | 'sweepDir' | 'parallel'>> };

/** Pure: the report from one snapshot per host, units on the host they are placed on (`placement`: unit -> host). */
export function buildReport(ctx: ReportContext, placement: ReadonlyMap<string, string>, snaps: readonly HostSnapshot[]): StatusReport {
  const totals: StatusReport['totals'] = { units: ctx.units.length, configs: 0, ok: 0, skipped: 0, error: 0, remaining: 0, units_complete: 0, running: 0, queued: 0, failed: 0, killed: 0, no_task: 0, unreachable: 0 };
  const snapOf = new Map(snaps.map((s) => [s.host, s]));
  const labelled = new Map(snaps.map((s) => [s.host, s.status ? tasksByLabel(ctx.name, s.status.tasks) : undefined]));
  const units: UnitStatus[] = [];
  for (const mu of ctx.units) {
    const host = placement.get(mu.id) ?? ctx.hosts[0]?.host ?? '';
    const snap = snapOf.get(host);
    const byUnit = labelled.get(host)?.units;
    const t = currentTask(byUnit?.get(mu.id) ?? []);
    const p = snap?.inspected?.units[mu.id];
    const configs = p && p.index !== 'missing' ? p.total : mu.configs;
    const nowMs = Date.parse(snap?.inspected?.now ?? new Date().toISOString());
    const us: UnitStatus = {
      unit: mu.id,
      host,
      label: unitLabel(ctx.name, mu.id),
      task: summarize(t, snap?.details?.logs),
      configs,
      ok: p?.ok ?? 0,
      skipped: p?.skipped ?? 0,
      error: p?.error ?? 0,
      remaining: p && p.index !== 'missing' ? p.remaining : configs,
      index: p?.index ?? 'missing',
      torn: p?.torn ?? false,
      elapsed_s: t?.start ? ((t.end ? Date.parse(t.end) : nowMs) - Date.parse(t.start)) / 1000 : null,
      rate: snap?.details?.rates[mu.id] ?? null,
      reachable: snap?.reachable ?? false,
    };
    units.push(us);
    totals.configs += us.configs;
    totals.ok += us.ok;
    totals.skipped += us.skipped;
    totals.error += us.error;
    totals.remaining += us.remaining;
    if (us.configs > 0 && us.ok + us.skipped === us.configs && us.index === 'same') totals.units_complete++;
    if (!us.reachable && !snap?.status) totals.unreachable++;
    else if (!t) totals.no_task++;
    else if (t.state === 'running') totals.running++;
    else if (t.state === 'queued' || t.state === 'paused' || t.state === 'stashed') totals.queued++;
    else if (t.result?.kind === 'killed') totals.killed++;
    else if (isFailure(t)) totals.failed++;
  }
  const after: StatusReport['after'] = [];
  const hosts: HostStatus[] = [];
  let idle = true;
  for (const h of ctx.hosts) {
    const snap = snapOf.get(h.host);
    const byLabel = labelled.get(h.host);
    for (const a of ctx.spec.after) {
      if (!byLabel) continue;
      const tasks = byLabel.after.get(a.name) ?? [];
      // Each host chains the after steps on its own units; a host with none never had them.
      if (tasks.length === 0 && ctx.hosts.length > 1) continue;
      after.push({ host: h.host, step: a.name, label: afterLabel(ctx.name, a.name), task: summarize(currentTask(tasks), snap?.details?.logs) });
    }
    if (!snap?.status || !byLabel) idle = false;
    else if ([...byLabel.units.values(), ...byLabel.after.values()].flat().some(isActive)) idle = false;
    hosts.push(hostRow(ctx, h, snap, units));
  }
  let rate: number | null = null;
  for (const h of hosts) if (h.configs_per_s !== null) rate = (rate ?? 0) + h.configs_per_s;
  const complete = totals.units_complete === totals.units;
  const report: StatusReport = {
    sweep: ctx.name,
    group: ctx.group,
    hosts,
    submitted: snaps.some((s) => s.inspected?.dirExists === true),
    units,
    after,
    totals,
    progress: totals.configs > 0 ? (totals.ok + totals.skipped) / totals.configs : 0,
    rate,
    eta_s: rate !== null && rate > 0 ? (totals.remaining + totals.error) / rate : null,
    idle,
    complete,
    notes: [],
    now: snaps.find((s) => s.inspected)?.inspected?.now ?? new Date().toISOString(),
    connections: 0,
  };
  report.notes = notesFor(report);
  return report;
}

function hostRow(ctx: ReportContext, h: Pick<HostContext, 'host' | 'sweepDir' | 'parallel'>, snap: HostSnapshot | undefined, units: readonly UnitStatus[]): HostStatus {
  const mine = units.filter((u) => u.host === h.host);
  const counts: HostStatus['counts'] = { done: 0, running: 0, queued: 0, failed: 0, not_queued: 0 };
  let rate: number | null = null;
  for (const u of mine) {
    if (u.rate !== null) rate = (rate ?? 0) + u.rate;
    if (u.task?.failed) counts.failed++;
    else if (u.task && /^(Running|Paused)/.test(u.task.state)) counts.running++;
    else if (u.configs > 0 && u.ok + u.skipped === u.configs && u.index === 'same') counts.done++;
    else if (u.task && /^(Queued|Stashed)/.test(u.task.state)) counts.queued++;
    else counts.not_queued++;
  }
  // Units moved off this host that still run here.
  for (const [unit, r] of Object.entries(snap?.details?.rates ?? {})) if (!mine.some((u) => u.unit === unit)) rate = (rate ?? 0) + r;
  const g = snap?.status?.groups[ctx.group];
  const plan = parallelPlan(h.parallel, snap?.cores ?? undefined);
  const controller = snap?.status ? currentTask(snap.status.tasks.filter((t) => t.label === autoscaleLabel(ctx.name))) : undefined;
  return {
    host: h.host,
    dir: h.sweepDir,
    reachable: snap?.reachable ?? false,
    why: snap?.why ?? (snap ? null : 'not asked'),
    submitted: snap?.inspected?.dirExists ?? false,
    group_state: { exists: g !== undefined, status: g?.status ?? null, parallel: g?.parallel ?? null },
    units: mine.length,
    counts,
    configs_per_s: rate,
    autoscale: plan.auto ? { min: plan.min, max: plan.max, controller: controller ? describeState(controller) : null, last: snap?.inspected?.autoscale ?? null } : null,
    target: snap?.target ?? null,
    now: snap?.inspected?.now ?? null,
  };
}

function notesFor(r: StatusReport): string[] {
  const notes: string[] = [];
  const several = r.hosts.length > 1;
  const on = (h: HostStatus): string => (several ? `host ${h.host}: ` : '');
  for (const h of r.hosts) {
    const mine = r.units.filter((u) => u.host === h.host);
    const killed = mine.filter((u) => u.task?.state === 'Killed').length;
    const queued = mine.filter((u) => u.task && /^(Queued|Paused|Stashed)/.test(u.task.state)).length;
    if (!h.reachable) {
      notes.push(
        `host ${h.host} is unreachable (${h.why ?? 'no answer'}): ${h.submitted ? 'the counts of its units are from its results files; their pueue tasks are unknown' : `its ${h.units} unit(s) are not counted`}.` +
          ` Once it answers again 'sweep submit-all' resumes there${several ? "; 'sweep submit-all --rebalance' moves its unfinished units to the other hosts now" : ''}`,
      );
      continue;
    }
    if (!h.submitted) {
      // A host no unit is placed on (more hosts than units) is never given a sweep dir.
      if (h.units > 0 || !several) notes.push(`${on(h)}not submitted: ${h.dir} does not exist on ${h.host}; run 'sweep submit-all' first`);
      continue;
    }
    if (h.group_state.status === 'Paused') {
      const waiting = queued > 0 ? ` with ${queued} unit(s) waiting` : '';
      notes.push(
        `${on(h)}pueue group ${r.group} is PAUSED${waiting}: nothing in it will start.` +
          (killed > 0 ? ` ${killed} unit(s) were Killed, as when the pueue daemon restarts (it kills running tasks and pauses their group).` : '') +
          ` Run 'sweep submit-all' to resume: it requeues killed units, keeps finished configs, and starts the group.`,
      );
    } else if (killed > 0) {
      notes.push(`${on(h)}${killed} unit(s) were Killed (pueue daemon restart, pueue kill, kill -9 or the OOM killer); 'sweep submit-all' queues them again, finished configs are kept`);
    }
  }
  const t = r.totals;
  if (t.failed > 0) notes.push(`${t.failed} unit(s) failed (log tails below); fix the cause, then 'sweep submit-all' retries their unfinished configs`);
  for (const a of r.after) {
    if (a.task?.failed) notes.push(`${several ? `host ${a.host}: ` : ''}after step ${a.step}: ${a.task.state}${a.task.explain ? ` (${a.task.explain})` : ''}`);
  }
  const reachableIdle = r.hosts.every((h) => !h.reachable || h.counts.running + h.counts.queued === 0);
  if (t.no_task > 0 && reachableIdle && !r.complete && r.submitted) notes.push(`${t.no_task} unit(s) have no pueue task; run 'sweep submit-all' to queue them`);
  const differs = r.units.filter((u) => u.index === 'differs').length;
  if (differs > 0) notes.push(`${differs} unit(s) on the host differ from the local output (regenerated since the last submission); 'sweep submit-all' ships and reruns what changed`);
  if (r.idle && r.complete) notes.push('complete: every config has an ok or skipped record; run \'sweep collect\' to bring the results back');
  return notes;
}
