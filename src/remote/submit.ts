/**
 * `sweep submit-all`: ship a generated sweep to its hosts and queue one pueue
 * task per unfinished unit, every host at once, one session and one rsync per
 * host (the per-host steps are in submit-host.ts):
 *
 *   audit      every host: discover, inspect (daemon, ClickHouse, results)
 *              -- any host that fails a check stops the submission, nothing
 *              queued anywhere (exit 2 naming it); an unreachable one too,
 *              unless --skip-unreachable or --rebalance
 *   place      each unit where it was (placement.json); new units spread by
 *              parallelism; --rebalance moves unfinished units off
 *              unreachable hosts (placement.ts)
 *   -- dry run stops here and reports the plan --
 *   ship       every reachable host: prepare, rsync of its units, setup on its
 *              server, queue its units, its autoscale controller
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomicSync } from '../fs/atomic.js';
import { WORKER_BUNDLE, workerBundlePath } from '../generate/worker-bundle.js';
import { isComplete, type InspectOutput, type QueueOutput, type UnitProbe } from '../host/remote-side.js';
import { readNdjson } from '../results/ndjson.js';
import { validateUnit } from '../results/validate.js';
import type { SetupRecord } from '../setup/setup.js';
import type { RemoteSettings } from '../spec/schema.js';
import { RemoteError, type RemoteSession, type SyncSummary } from '../transport/transport.js';
import { TOOL_VERSION } from '../version.js';
import type { UnitIndex } from '../format/manifest.js';
import { acquireSweepLock } from '../worker/lock.js';
import { parseOnly, unitsSelecting } from '../worker/select.js';
import type { RerunMode } from '../worker/todo.js';
import { loadSweepContext, unitIndexSha, type HostContext, type SweepContext } from './context.js';
import { whyOf, withDeadline, type HostOutcome } from './fanout.js';
import { parallelPlan, placementWeight } from './hosts.js';
import { planPlacement, readPlacement, writePlacement, type PlacementFile, type PlacementMode, type PlacementPlan } from './placement.js';
import { auditHost, planSubmission, queueOnHost, setupDecision, shipToHost, stateFileWarning, type HostAudit, type Plan, type ShipResult } from './submit-host.js';

export { afterCommand, PUSH_FILTERS, planSubmission, stateFileWarning, unitCommand, type UnitPlan } from './submit-host.js';

export interface SubmitOptions {
  specPath: string;
  /** Remote settings instead of the spec's (`sweep run` through a local pueue daemon). */
  remote?: RemoteSettings;
  cwd?: string;
  outDir?: string;
  dryRun?: boolean;
  /** Where CLICKHOUSE_URL and CLICKHOUSE_PASSWORD come from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Progress, one human line at a time (stderr). */
  log?: (line: string) => void;
  /** --fresh: move the hosts' results aside and run every config again. */
  fresh?: boolean;
  /** --rerun: what runs again besides configs without a current record. */
  rerun?: RerunMode;
  /** --only values: only units with matching configs are queued, and their workers run only those. */
  only?: readonly string[];
  /** --setup: run the setup again on each host's server even though it is current. */
  setup?: boolean;
  /** --skip-unreachable: go on without hosts that do not answer (their new units go elsewhere). */
  skipUnreachable?: boolean;
  /** --rebalance: besides, move unfinished units off hosts that do not answer. */
  rebalance?: boolean;
  /** The caller (sweep run --pueue) holds the sweep dir's lock already. */
  lockHeld?: boolean;
}

/** What one host got. */
export interface HostSubmitReport {
  host: string;
  dir: string;
  /** Its ssh session worked and its pueue daemon answered. */
  reachable: boolean;
  /** Why not, when not. */
  why: string | null;
  /** Where the workers' records will say they ran (src/engine/target.ts). */
  target: string | null;
  /** The units placed on this host now. */
  units: number;
  /** The group's parallelism: a number, or autoscaled within [min, max]. */
  parallel: { auto: boolean; min: number; max: number; start: number };
  preflight: {
    node: { path: string; version: string };
    pueue: { path: string; version: string };
    clickhouse: { url: string; version: string };
    /** null when memory_max is not set. */
    memory_cap: { memory_max: string; enforced: boolean; message: string } | null;
    state_file: { path: string | null; bytes: number | null };
    password: 'sent' | 'stored-earlier' | 'none';
  } | null;
  /** The setup on the host's server: `none` (no setup), `current` (ran with this SQL), `run` (runs / would run, and why). */
  setup: { action: 'none' | 'current' | 'run'; reason: string; statements: number; elapsed_ms: number | null };
  plan: SubmitReport['plan'];
  /** Units moved off this host whose task here was removed (queued) or still runs (running: it finishes, collect keeps one record per config). */
  moved_away: { removed: string[]; running: string[] };
  /** With --fresh: where the host's results went. */
  moved_aside: string | null;
  sync: SyncSummary | null;
  queued: Array<{ unit: string; label: string; id: number }>;
  failed: Array<{ unit: string; label: string; message: string }>;
  complete_after_sync: string[];
  after: Array<{ step: string; label: string; id?: number; message?: string }>;
  removed: number;
  group_resumed: boolean;
  /** The autoscale controller: queued now (its task id), already running, or why it could not be queued. */
  autoscale: { state: 'queued' | 'running' | 'not-needed' | 'failed'; id: number | null; message: string | null } | null;
  timings: { audit_ms: number; setup_ms: number; sync_ms: number; queue_ms: number; add_ms: number[] };
}

export interface SubmitReport {
  sweep: string;
  /** The spec as given on the command line. */
  spec: string;
  group: string;
  dry_run: boolean;
  hosts: HostSubmitReport[];
  placement: {
    /** out/<name>/placement.json (null on a dry run: nothing written). */
    path: string | null;
    /** Units per host now. */
    counts: Record<string, number>;
    /** Units placed for the first time (or again: their host left the spec). */
    placed: number;
    /** Units moved off an unreachable host (--rebalance). */
    moved: Array<{ unit: string; from: string; to: string }>;
    /** Units left on an unreachable host: they resume when it answers (--rebalance moves them). */
    waiting: Array<{ unit: string; host: string }>;
    /** Hosts that did not answer (skipped with --skip-unreachable or --rebalance): no unit was placed on them now. */
    unreachable: string[];
  };
  /** Every host's lists together, each entry naming its host. */
  plan: {
    queue: Array<{ host: string; unit: string; reason: string; previous?: string }>;
    active: Array<{ host: string; unit: string; state: string }>;
    complete: string[];
    not_selected: number;
    remove: number;
    after: Array<{ host: string; step: string; replace: number; wait_for: number }>;
    resume_group: boolean;
  };
  queued: Array<{ host: string; unit: string; label: string; id: number }>;
  failed: Array<{ host: string; unit: string; label: string; message: string }>;
  complete_after_sync: string[];
  after: Array<{ host: string; step: string; label: string; id?: number; message?: string }>;
  removed: number;
  group_resumed: boolean;
  warnings: string[];
  /** The local record of this submission (`<out>/submissions.ndjson`). */
  record: string | null;
  connections: number;
  timings: { total_ms: number; audit_ms: number; ship_ms: number };
}

export async function submitAll(opts: SubmitOptions): Promise<SubmitReport> {
  const t0 = performance.now();
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const ctx = await loadSweepContext({ specPath: opts.specPath, cwd: opts.cwd, outDir: opts.outDir, remote: opts.remote });
  const dryRun = opts.dryRun === true;
  const warnings: string[] = [];
  const password = env['CLICKHOUSE_PASSWORD'];
  if (password !== undefined && /[\n\0]/.test(password)) {
    throw new UserError('PASSWORD_INVALID', 'CLICKHOUSE_PASSWORD: expected a single line, found a newline or NUL byte');
  }
  const mode: PlacementMode = opts.rebalance ? 'rebalance' : opts.skipUnreachable ? 'skip-unreachable' : 'strict';
  if (mode !== 'strict' && ctx.hosts.length === 1 && !dryRun) {
    // Nothing to place elsewhere: with one host, "skip" would only mean "queue nothing".
    warnings.push(`--${mode}: the sweep has one host; it must answer`);
  }
  const rerun = opts.rerun ?? 'errors';
  const selection = parseOnly(opts.only ?? [], Object.keys(ctx.spec.params));
  const selectedUnits = selection ? unitsSelecting(ctx.outDir, ctx.units.map((u) => u.id), selection) : undefined;
  // A dry run writes nothing here: it needs no lock. Everything else is one writer at a time.
  const lock = dryRun || opts.lockHeld ? undefined : await acquireSweepLock(ctx.outDir, `sweep submit-all ${opts.specPath}`);
  const sessions = new Map<string, RemoteSession>();
  try {
    const bundleNote = checkWorkerBundle(ctx.outDir, dryRun);
    if (bundleNote) warnings.push(bundleNote);
    const indexShas = new Map(ctx.units.map((u) => [u.id, unitIndexSha(ctx.outDir, u.id)]));
    for (const h of ctx.hosts) sessions.set(h.host, h.transport.openSession());

    // ---- audit, every host at once
    log(`connecting to ${ctx.hosts.map((h) => h.host).join(', ')} ...`);
    const a0 = performance.now();
    const audits = await Promise.all(
      ctx.hosts.map((h) =>
        withDeadline(h, sessions.get(h.host) as RemoteSession, 120_000 + ctx.units.length * 60, 'preflight', () =>
          auditHost(ctx, h, sessions.get(h.host) as RemoteSession, { env, password, indexShas, forceSetup: opts.setup === true }),
        ),
      ),
    );
    const auditMs = performance.now() - a0;
    const { reachable, down } = judgeAudits(audits, mode, ctx.hosts.length);
    for (const a of reachable) {
      const chVersion = a.inspected.clickhouse?.ok ? a.inspected.clickhouse.version : '?';
      log(`${a.h.host}: preflight ok: node ${a.node.version} (${a.node.path}), pueue ${a.pueue.version} (${a.pueue.path}), ClickHouse ${chVersion} at ${a.ch.display}`);
    }
    for (const d of down) warnings.push(`host ${d.host.host} is unreachable (${d.why}); going on without it (--${mode})`);

    // ---- place
    const previous = readPlacement(ctx.outDir);
    const cores = new Map(reachable.flatMap((a) => (a.discovery.cores ? [[a.h.host, a.discovery.cores] as const] : [])));
    const weights = ctx.hosts.map((h) => ({ host: h.host, weight: placementWeight(h.parallel, cores.get(h.host) ?? previousWeight(previous, h.host)), reachable: reachable.some((a) => a.h.host === h.host) }));
    const stays = await staysOn(ctx, down, previous);
    const placed = planPlacement({ units: ctx.units.map((u) => u.id), hosts: weights, previous, mode, stays: (u, host) => stays(u, host) });
    if (placed.moved.length > 0) log(`moving ${placed.moved.length} unfinished unit(s) off ${[...new Set(placed.moved.map((m) => m.from))].join(', ')}: ${summarizeMoves(placed)}`);
    const skipped = placed.placed.filter((p) => down.length > 0 && p.why === 'new');
    if (skipped.length > 0 && down.length > 0) log(`placing ${skipped.length} new unit(s) on the reachable hosts only (${down.map((d) => d.host.host).join(', ')} unreachable)`);
    if (placed.waiting.length > 0) {
      warnings.push(
        `${placed.waiting.length} unit(s) stay placed on unreachable ${[...new Set(placed.waiting.map((w) => w.host))].join(', ')} (they may be running or done there) and resume when it answers; 'sweep submit-all --rebalance' moves the unfinished ones now`,
      );
    }
    const unitsOn = new Map<string, string[]>(ctx.hosts.map((h) => [h.host, []]));
    for (const u of ctx.units) {
      const hs = placed.units.get(u.id) ?? [];
      unitsOn.get(hs[hs.length - 1] ?? '')?.push(u.id);
    }

    // ---- plan, per reachable host
    const plans = new Map<string, HostEntry>();
    const idleHosts: string[] = [];
    for (const a of reachable) {
      const mine = new Set(unitsOn.get(a.h.host) ?? []);
      const status = a.status;
      if (!status) continue;
      const plan = planSubmission(
        { name: ctx.name, group: ctx.group, units: ctx.units.filter((u) => mine.has(u.id)), spec: ctx.spec },
        status,
        a.inspected,
        { rerun, fresh: opts.fresh === true, selectedUnits, elsewhere: new Set(ctx.units.map((u) => u.id).filter((u) => !mine.has(u))) },
      );
      for (const act of plan.active) if (act.state === 'Stashed') warnings.push(`${a.h.host}: unit ${act.unit} has a stashed task: it runs only after 'pueue enqueue' (left as it is)`);
      if (plan.foreignInGroup > 0) warnings.push(`${a.h.host}: pueue group ${ctx.group} also holds ${plan.foreignInGroup} task(s) that are not this sweep's: give each sweep its own group (remote.group)`);
      if (plan.movedAway.running.length > 0) {
        warnings.push(`${a.h.host}: ${plan.movedAway.running.length} unit(s) placed on another host now still run here (${plan.movedAway.running.slice(0, 3).join(', ')}): they finish; collect keeps one record per config`);
      }
      const stateWarning = stateFileWarning(a.inspected.stateFile);
      if (stateWarning) warnings.push(`${a.h.host}: ${stateWarning}`);
      if (ctx.remote.memory_max && a.inspected.systemd?.ok !== true) {
        warnings.push(
          `remote.memory_max ${ctx.remote.memory_max} is NOT enforced on ${a.h.host}: a trial 'systemd-run --user --scope' failed (${a.inspected.systemd?.message ?? 'unknown'}); units run without a memory cap`,
        );
      }
      // A host with nothing of this sweep to do (more hosts than units) is left alone: no sweep dir, no setup on its server.
      const nothing = mine.size === 0 && plan.removeIds.length === 0 && plan.controller.active === null && !plan.resumeGroup && plan.active.length === 0;
      if (nothing && ctx.hosts.length > 1) {
        idleHosts.push(a.h.host);
        continue;
      }
      plans.set(a.h.host, { audit: a, plan, setup: { action: 'none', reason: '', runsSql: false, copyFrom: null } });
    }
    if (idleHosts.length > 0) log(`no unit is placed on ${idleHosts.join(', ')}: left alone`);
    // Setup runs once per target: hosts aimed at one server (a cluster's load balancer) share it.
    const roles = setupRoles([...plans.values()].map((e) => ({ host: e.audit.h.host, target: e.audit.origin.target, decision: setupDecision(e.audit.origin, e.audit.inspected.setup) })), opts.setup === true);
    for (const e of plans.values()) e.setup = roles.get(e.audit.h.host) ?? e.setup;
    // Setup rebuilds the data units read, --fresh moves their results: never under a queued or running unit of any host of that target.
    for (const e of plans.values()) {
      const sharing = [...plans.values()].filter((x) => x.audit.origin.target === e.audit.origin.target);
      const sqlRuns = sharing.some((x) => x.setup.runsSql);
      const why = sqlRuns && e.setup.runsSql ? `setup must run (${e.setup.reason})` : opts.fresh ? '--fresh moves the results aside' : undefined;
      if (!why) continue;
      const busyOn = (sqlRuns && e.setup.runsSql ? sharing : [e]).flatMap((x) => [...new Set([...x.plan.active.map((y) => y.unit), ...x.audit.inspected.liveUnits])].sort().map((u) => ({ host: x.audit.h.host, unit: u })));
      if (busyOn.length === 0) continue;
      const where = [...new Set(busyOn.map((x) => x.host))].join(', ');
      const message = `${why}, but ${busyOn.length} unit(s) of this sweep are queued or running on ${where}: ${busyOn.slice(0, 5).map((x) => x.unit).join(', ')}${busyOn.length > 5 ? ', ...' : ''}; wait for them or 'sweep stop ${opts.specPath}' first`;
      if (!dryRun) throw new UserError('SWEEP_ACTIVE', message);
      warnings.push(`a real submission would refuse: ${message}`);
    }

    const report = baseReport(ctx, opts, dryRun, placed, plans, down, auditMs, warnings, reachable);
    const running = [...plans.values()].filter((p) => p.setup.runsSql).map((p) => p.audit.h.host);
    log(
      `audit: ${report.plan.queue.length} unit(s) to queue, ${report.plan.active.length} already queued or running, ${report.plan.complete.length} complete` +
        (report.plan.remove > 0 ? `; ${report.plan.remove} finished task(s) of this sweep to remove` : '') +
        (running.length > 0 ? `; setup ${dryRun ? 'would run' : 'runs'} on ${running.join(', ')}` : ''),
    );
    if (dryRun) return finish(report, ctx, t0);

    // Record where every unit goes before anything is queued: a crash from here on still knows.
    report.placement.path = writePlacement(ctx.outDir, placementFile(ctx, placed, plans, previous));

    // ---- ship, every reachable host at once: prepare, rsync, setup (where it runs) ...
    const s0 = performance.now();
    const workerFlags = [...(rerun !== 'errors' ? ['--rerun', rerun] : []), ...(selection ? selection.flags.flatMap((f) => ['--only', f]) : [])];
    const entries = [...plans.values()];
    const session = (e: HostEntry): RemoteSession => sessions.get(e.audit.h.host) as RemoteSession;
    const shipped = await Promise.all(
      entries.map((e) =>
        withDeadline(e.audit.h, session(e), 6 * 60 * 60_000, 'submit', () =>
          shipToHost(ctx, e.audit, session(e), {
            plan: e.plan,
            units: unitsOn.get(e.audit.h.host) ?? [],
            allUnits: ctx.hosts.length === 1,
            password,
            fresh: opts.fresh === true,
            forceSetupFlag: opts.setup === true,
            runSetup: e.setup.runsSql,
            log,
          }),
        ),
      ),
    );
    const failures: Error[] = [];
    const shipOk = new Map<string, ShipResult>();
    for (const out of shipped) {
      if (out.ok) shipOk.set(out.host.host, out.value);
      else failures.push(out.error);
    }
    // ... then queue on each host that got this far (a host sharing a target whose setup failed elsewhere queues nothing).
    const queuedOut = await Promise.all(
      entries
        .filter((e) => shipOk.has(e.audit.h.host))
        .flatMap((e) => {
          const record = setupRecordFor(e, plans, shipOk);
          if (record === 'failed') return [];
          const p = parallelPlan(e.audit.h.parallel, e.audit.discovery.cores);
          return [
            withDeadline(e.audit.h, session(e), 6 * 60 * 60_000, 'queue', () =>
              queueOnHost(ctx, e.audit, session(e), {
                plan: e.plan,
                parallel: p,
                groupParallel: e.audit.status?.groups[ctx.group]?.parallel ?? null,
                withSystemd: ctx.remote.memory_max !== undefined && e.audit.inspected.systemd?.ok === true,
                fresh: opts.fresh === true,
                workerFlags,
                unitsAtOnce: p.auto || ctx.hosts.length > 1 || typeof ctx.remote.parallel !== 'number' ? p.max : null,
                indexShas,
                setupRecord: record,
                log,
              }),
            ),
          ];
        }),
    );
    for (const [host, r] of shipOk) applyShip(report, host, r);
    for (const out of queuedOut) {
      if (out.ok) applyQueue(report, out.host.host, out.value);
      else failures.push(out.error);
    }
    report.timings.ship_ms = Math.round(performance.now() - s0);
    report.record = writeRecord(ctx, report, plans);
    if (failures.length > 0) {
      // What reached the other hosts stays queued (a resubmission completes the rest); the failure is the user's to fix.
      const queuedOn = report.hosts.filter((h) => h.queued.length > 0).map((h) => h.host);
      const first = failures[0] as Error;
      if (failures.length === 1 && queuedOn.length === 0) throw first;
      throw new UserError(
        first instanceof UserError ? first.code : 'SUBMIT_FAILED',
        `${failures.map((e) => e.message).join('\n')}${queuedOn.length > 0 ? `\n(units were queued on ${queuedOn.join(', ')}; 'sweep submit-all' again completes the rest)` : ''}`,
      );
    }
    return finish(report, ctx, t0);
  } finally {
    await Promise.all([...sessions.values()].map((s) => s.close()));
    await lock?.release();
  }
}

/** A reachable host's audit, plan and part in its target's setup. */
interface HostEntry {
  audit: HostAudit;
  plan: Plan;
  setup: SetupRole;
}

/** What a host does about the setup: nothing, run the SQL on its server, or take the record of another host of its target. */
export interface SetupRole {
  action: 'none' | 'current' | 'run';
  reason: string;
  /** Runs the setup SQL on its server. */
  runsSql: boolean;
  /** The host of the same target whose setup record it takes (after that host's setup ran, when it runs now). */
  copyFrom: string | null;
}

/**
 * Pure: setup once per target. Hosts aimed at one server (the same target:
 * a cluster's load balancer, a Distributed table's server) must not each run
 * it (a DROP/CREATE would pull the table from under the other's units): the
 * first host of the target that must run it runs it, the others take its
 * record. A host that only lacks the record, while another host of its target
 * has it current, takes that one; nothing runs.
 */
export function setupRoles(hosts: ReadonlyArray<{ host: string; target: string; decision: { action: 'none' | 'current' | 'run'; reason: string } }>, force: boolean): Map<string, SetupRole> {
  const out = new Map<string, SetupRole>();
  const targets = [...new Set(hosts.map((h) => h.target))];
  for (const target of targets) {
    const group = hosts.filter((h) => h.target === target);
    const current = group.find((h) => h.decision.action === 'current');
    const sqlRuns = group.some((h) => h.decision.action === 'run') && (force || !current);
    const runner = sqlRuns ? group.find((h) => h.decision.action === 'run') : undefined;
    for (const h of group) {
      if (h.decision.action === 'none') out.set(h.host, { action: 'none', reason: h.decision.reason, runsSql: false, copyFrom: null });
      else if (runner) {
        out.set(h.host, h === runner ? { action: 'run', reason: h.decision.reason, runsSql: true, copyFrom: null } : { action: 'run', reason: `runs once for this target, on ${runner.host}`, runsSql: false, copyFrom: runner.host });
      } else if (h.decision.action === 'run' && current) {
        out.set(h.host, { action: 'current', reason: `ran on ${current.host}, the same target (${current.decision.reason})`, runsSql: false, copyFrom: current.host });
      } else out.set(h.host, { action: h.decision.action, reason: h.decision.reason, runsSql: false, copyFrom: null });
    }
  }
  return out;
}

/** The setup record a host takes from another host of its target (null: none to take; 'failed': that host's setup failed). */
function setupRecordFor(e: HostEntry, plans: ReadonlyMap<string, HostEntry>, shipped: ReadonlyMap<string, ShipResult>): SetupRecord | null | 'failed' {
  const from = e.setup.copyFrom;
  if (from === null) return null;
  const source = plans.get(from);
  const sha = e.audit.origin.setupSha;
  if (!source || sha === null) return null;
  const target = e.audit.origin.target;
  if (source.setup.runsSql) {
    const ran = shipped.get(from)?.setup;
    if (!ran?.generation) return 'failed';
    return { v: 1, target, setup_sha256: sha, generation: ran.generation, ran_at: new Date().toISOString(), statements: ran.statements, elapsed_ms: ran.elapsed_ms, engine: `(ran from ${from})` };
  }
  const rec = source.audit.inspected.setup;
  if (!rec) return null;
  return { v: 1, target, setup_sha256: rec.setup_sha256, generation: rec.generation, ran_at: rec.ran_at, statements: 0, elapsed_ms: 0, engine: `(ran from ${from})` };
}

/**
 * Which hosts answered. A host that answered with a problem (node missing,
 * ClickHouse unreachable from it, ...) stops the submission; an unreachable one
 * too, unless the mode skips it. Nothing has been changed anywhere yet.
 */
function judgeAudits(audits: Array<HostOutcome<HostAudit>>, mode: PlacementMode, hostCount: number): { reachable: HostAudit[]; down: Array<{ host: HostContext; why: string; audit: HostAudit | null }> } {
  const reachable: HostAudit[] = [];
  const down: Array<{ host: HostContext; why: string; audit: HostAudit | null }> = [];
  const broken: Error[] = [];
  for (const o of audits) {
    if (o.ok) {
      if (!o.value.daemonDown) reachable.push(o.value);
      else down.push({ host: o.host, why: whyOf(o.value.daemonDown, o.host.host).split('\n')[0] ?? '', audit: o.value });
    } else if (o.unreachable) down.push({ host: o.host, why: o.why.split('\n')[0] ?? o.why, audit: null });
    else broken.push(o.error);
  }
  if (broken.length === 1 && hostCount === 1) throw broken[0] as Error;
  if (broken.length > 0) {
    const hosts = broken.map((e) => (e instanceof RemoteError ? e.host : '?'));
    throw new UserError(
      (broken[0] as UserError).code ?? 'REMOTE_FAILED',
      `${broken.map((e) => e.message).join('\n')}\nnothing was queued on any host (${hosts.join(', ')} must be fixed first)`,
    );
  }
  if (down.length > 0 && (mode === 'strict' || reachable.length === 0)) {
    if (hostCount === 1) {
      const only = audits[0];
      if (only?.ok && only.value.daemonDown) throw only.value.daemonDown;
      if (only && !only.ok) throw only.error;
    }
    const lines = down.map((d) => `${d.host.host} (${d.host.entry}): ${d.why}`);
    throw new UserError(
      'HOST_UNREACHABLE',
      `${down.length} host(s) unreachable:\n  ${lines.join('\n  ')}\nnothing was queued on any host. ` +
        (reachable.length === 0 ? 'No host answers.' : "'sweep submit-all --skip-unreachable' goes on without them (their new units go to the others); '--rebalance' also moves their unfinished units"),
    );
  }
  return { reachable, down };
}

/**
 * For --rebalance: whether a unit stays on its unreachable host. With the host
 * answering ssh (only its daemon down), its results and live unit locks were
 * read: complete or running units stay. With no session at all, the last
 * collected copy of its results (`out/<name>/hosts/<host>/results/`) is all
 * there is: units complete there stay, the others move (one still running
 * there would run twice; collect keeps one record per config).
 */
async function staysOn(ctx: SweepContext, down: Array<{ host: HostContext; audit: HostAudit | null }>, previous: PlacementFile | undefined): Promise<(unit: string, host: string) => boolean> {
  const stay = new Set<string>();
  for (const d of down) {
    if (d.audit) {
      for (const [unit, probe] of Object.entries(d.audit.inspected.units)) if (isComplete(probe)) stay.add(`${d.host.host}\n${unit}`);
      for (const unit of d.audit.inspected.liveUnits) stay.add(`${d.host.host}\n${unit}`);
      continue;
    }
    const target = previous?.hosts[d.host.host]?.target ?? null;
    for (const [unit, hs] of Object.entries(previous?.units ?? {})) {
      if (hs[hs.length - 1] !== d.host.host) continue;
      const file = join(d.host.localResults, `${unit}.ndjson`);
      if (!existsSync(file)) continue;
      const index = JSON.parse(readFileSync(join(ctx.outDir, 'units', `${unit}.json`), 'utf8')) as UnitIndex;
      const v = validateUnit(ctx.name, unit, index.configs, await readNdjson(file), target ? { targets: [target] } : undefined);
      if (v.counts.missing === 0 && v.counts.error === 0) stay.add(`${d.host.host}\n${unit}`);
    }
  }
  return (unit, host) => stay.has(`${host}\n${unit}`);
}

function previousWeight(previous: PlacementFile | undefined, host: string): number | undefined {
  const w = previous?.hosts[host]?.weight;
  return typeof w === 'number' && w > 0 ? w : undefined;
}

function summarizeMoves(p: PlacementPlan): string {
  const by = new Map<string, number>();
  for (const m of p.moved) by.set(`${m.from} -> ${m.to}`, (by.get(`${m.from} -> ${m.to}`) ?? 0) + 1);
  return [...by].map(([k, n]) => `${n} ${k}`).join(', ');
}

function baseReport(
  ctx: SweepContext,
  opts: SubmitOptions,
  dryRun: boolean,
  placed: PlacementPlan,
  plans: Map<string, HostEntry>,
  down: Array<{ host: HostContext; why: string; audit: HostAudit | null }>,
  auditMs: number,
  warnings: string[],
  reachable: readonly HostAudit[],
): SubmitReport {
  const counts: Record<string, number> = Object.fromEntries(ctx.hosts.map((h) => [h.host, 0]));
  for (const hs of placed.units.values()) {
    const h = hs[hs.length - 1];
    if (h !== undefined) counts[h] = (counts[h] ?? 0) + 1;
  }
  const hosts: HostSubmitReport[] = ctx.hosts.map((h) => {
    const entry = plans.get(h.host);
    const d = down.find((x) => x.host.host === h.host);
    const a = entry?.audit ?? d?.audit ?? reachable.find((x) => x.h.host === h.host) ?? null;
    const p = parallelPlan(h.parallel, a?.discovery.cores);
    const plan = entry?.plan;
    return {
      host: h.host,
      dir: h.sweepDir,
      reachable: d === undefined,
      why: d?.why ?? null,
      target: a?.origin.target ?? null,
      units: counts[h.host] ?? 0,
      parallel: { auto: p.auto, min: p.min, max: p.max, start: p.start },
      preflight: a ? preflightOf(ctx, a, opts) : null,
      setup: { action: entry?.setup.action ?? 'none', reason: entry?.setup.reason ?? (d ? 'host unreachable' : a ? 'no unit placed on this host' : 'no setup in the spec'), statements: 0, elapsed_ms: null },
      plan: plan ? planOf(h.host, plan) : emptyPlan(),
      moved_away: plan?.movedAway ?? { removed: [], running: [] },
      moved_aside: null,
      sync: null,
      queued: [],
      failed: [],
      complete_after_sync: [],
      after: [],
      removed: 0,
      group_resumed: false,
      autoscale: p.auto ? { state: plan?.controller.active !== null && plan !== undefined ? 'running' : 'not-needed', id: plan?.controller.active ?? null, message: null } : null,
      timings: { audit_ms: Math.round(auditMs), setup_ms: 0, sync_ms: 0, queue_ms: 0, add_ms: [] },
    };
  });
  const all = hosts.map((h) => h.plan);
  return {
    sweep: ctx.name,
    spec: opts.specPath,
    group: ctx.group,
    dry_run: dryRun,
    hosts,
    placement: {
      path: null,
      counts,
      placed: placed.placed.length,
      moved: placed.moved,
      waiting: placed.waiting,
      unreachable: down.map((d) => d.host.host),
    },
    plan: {
      queue: all.flatMap((p) => p.queue),
      active: all.flatMap((p) => p.active),
      complete: all.flatMap((p) => p.complete),
      not_selected: all.reduce((n, p) => n + p.not_selected, 0),
      remove: all.reduce((n, p) => n + p.remove, 0),
      after: all.flatMap((p) => p.after),
      resume_group: all.some((p) => p.resume_group),
    },
    queued: [],
    failed: [],
    complete_after_sync: [],
    after: [],
    removed: 0,
    group_resumed: false,
    warnings,
    record: null,
    connections: 0,
    timings: { total_ms: 0, audit_ms: Math.round(auditMs), ship_ms: 0 },
  };
}

function preflightOf(ctx: SweepContext, a: HostAudit, opts: SubmitOptions): NonNullable<HostSubmitReport['preflight']> {
  const env = opts.env ?? process.env;
  const stateBytes = a.inspected.stateFile.path !== null ? a.inspected.stateFile.bytes : null;
  return {
    node: a.node,
    pueue: a.pueue,
    clickhouse: { url: a.ch.display, version: a.inspected.clickhouse?.ok ? a.inspected.clickhouse.version : '?' },
    memory_cap: ctx.remote.memory_max ? { memory_max: ctx.remote.memory_max, enforced: a.inspected.systemd?.ok === true, message: a.inspected.systemd?.message ?? '' } : null,
    state_file: { path: a.inspected.stateFile.path, bytes: stateBytes },
    password: env['CLICKHOUSE_PASSWORD'] !== undefined ? 'sent' : a.inspected.passwordFile ? 'stored-earlier' : 'none',
  };
}

function planOf(host: string, plan: Plan): SubmitReport['plan'] {
  return {
    queue: plan.units.flatMap((u) => (u.action === 'queue' ? [{ host, unit: u.unit, reason: u.reason, ...(u.previous ? { previous: u.previous } : {}) }] : [])),
    active: plan.active.map((a) => ({ host, ...a })),
    complete: plan.units.flatMap((u) => (u.action === 'complete' ? [u.unit] : [])),
    not_selected: plan.units.filter((u) => u.action === 'not-selected').length,
    remove: plan.removeIds.length,
    after: plan.after.map((a) => ({ host, step: a.step, replace: a.replaceIds.length, wait_for: a.waitIds.length })),
    resume_group: plan.resumeGroup,
  };
}

function emptyPlan(): SubmitReport['plan'] {
  return { queue: [], active: [], complete: [], not_selected: 0, remove: 0, after: [], resume_group: false };
}

function applyShip(report: SubmitReport, host: string, r: ShipResult): void {
  const h = report.hosts.find((x) => x.host === host);
  if (!h) return;
  if (r.prepared.removeError) report.warnings.push(`${host}: could not remove this sweep's finished tasks (${r.prepared.removeError}); continuing`);
  h.removed = r.prepared.removed;
  h.moved_aside = r.prepared.movedAside?.dir ?? null;
  h.sync = r.sync;
  report.warnings.push(...r.sync.warnings.map((w) => `${host}: ${w}`));
  if (r.setup) h.setup = { action: r.setup.action, reason: r.setup.reason, statements: r.setup.statements, elapsed_ms: r.setup.elapsed_ms };
  h.timings = { ...h.timings, setup_ms: Math.round(r.setupMs), sync_ms: Math.round(r.syncMs) };
  report.removed += r.prepared.removed;
}

function applyQueue(report: SubmitReport, host: string, r: { queued: QueueOutput; queueMs: number }): void {
  const h = report.hosts.find((x) => x.host === host);
  if (!h) return;
  const q = r.queued;
  h.queued = q.added;
  h.failed = q.failed;
  h.complete_after_sync = q.complete;
  h.after = q.after;
  h.group_resumed = q.started;
  if (h.autoscale && q.controller) h.autoscale = 'id' in q.controller ? { state: 'queued', id: q.controller.id, message: null } : { state: 'failed', id: null, message: q.controller.message };
  if (h.autoscale?.state === 'failed') report.warnings.push(`${host}: the autoscale controller could not be queued (${h.autoscale.message ?? ''}); the group stays at ${h.parallel.start}`);
  h.timings = { ...h.timings, queue_ms: Math.round(r.queueMs), add_ms: q.addMs.map(Math.round) };
  report.queued.push(...q.added.map((x) => ({ host, ...x })));
  report.failed.push(...q.failed.map((x) => ({ host, ...x })));
  report.complete_after_sync.push(...q.complete);
  report.after.push(...q.after.map((x) => ({ host, ...x })));
  report.group_resumed ||= q.started;
}

function finish(report: SubmitReport, ctx: SweepContext, t0: number): SubmitReport {
  report.connections = ctx.hosts.reduce((n, h) => n + h.transport.stats.connections, 0);
  report.timings.total_ms = Math.round(performance.now() - t0);
  return report;
}

/** The remote must run this build's worker: out/worker.mjs is refreshed from dist/worker.mjs when they differ. */
function checkWorkerBundle(outDir: string, dryRun: boolean): string | undefined {
  const shipped = join(outDir, WORKER_BUNDLE);
  const built = workerBundlePath();
  if (!existsSync(built)) {
    if (existsSync(shipped)) return `this sweep's worker bundle ${built} is missing; shipping the copy in ${shipped} as it is`;
    throw new UserError('BUNDLE_MISSING', `worker bundle not found at ${built} nor ${shipped}: run 'npm run build', then 'sweep generate'`);
  }
  const builtBytes = readFileSync(built);
  if (existsSync(shipped) && readFileSync(shipped).equals(builtBytes)) return undefined;
  if (dryRun) return `${shipped} differs from this build's ${built}: a real submission refreshes it`;
  writeFileAtomicSync(shipped, builtBytes);
  return undefined;
}

/** placement.json: every unit's host history, and each host's dir, weight and target as this submission saw them. */
function placementFile(ctx: SweepContext, placed: PlacementPlan, plans: Map<string, { audit: HostAudit }>, previous: PlacementFile | undefined): PlacementFile {
  const hosts: PlacementFile['hosts'] = {};
  for (const h of ctx.hosts) {
    const a = plans.get(h.host)?.audit;
    hosts[h.host] = {
      dir: h.sweepDir,
      weight: placementWeight(h.parallel, a?.discovery.cores ?? previousWeight(previous, h.host)),
      target: a?.origin.target ?? previous?.hosts[h.host]?.target ?? null,
    };
  }
  return { v: 1, sweep: ctx.name, updated_at: new Date().toISOString(), hosts, units: Object.fromEntries(placed.units) };
}

/** One line per submission in <out>/submissions.ndjson: for the user; status and collect never read ids from it. */
function writeRecord(ctx: SweepContext, report: SubmitReport, plans: Map<string, { audit: HostAudit }>): string {
  const path = join(ctx.outDir, 'submissions.ndjson');
  const first = [...plans.values()][0]?.audit;
  const line = {
    time: new Date().toISOString(),
    tool_version: TOOL_VERSION,
    group: report.group,
    // No password in it: clickhouseTarget refuses one. status and stop read it back for a run --pueue.
    clickhouse_url: first?.ch.url,
    target: first?.origin.target,
    hosts: report.hosts.map((h) => ({
      host: h.host,
      dir: h.dir,
      reachable: h.reachable,
      clickhouse_url: plans.get(h.host)?.audit.ch.url ?? null,
      target: h.target,
      setup: h.setup.action,
      tasks: h.queued,
      after: h.after,
      failed: h.failed.map((f) => f.unit),
    })),
    placement: { counts: report.placement.counts, moved: report.placement.moved.length },
    skipped: { active: report.plan.active.length, complete: report.plan.complete.length + report.complete_after_sync.length },
  };
  appendFileSync(path, `${JSON.stringify(line)}\n`);
  return path;
}

export type { InspectOutput, UnitProbe };
