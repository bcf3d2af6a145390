/**
 * submit-all on ONE host, in that host's one session (submit.ts runs every
 * host at once and decides what goes where):
 *
 *   audit      discover node >= 20 and pueue v4; inspect: pueue daemon answers,
 *              ClickHouse answers from the host, a trial systemd-run when
 *              memory_max is set, pueue status, each unit's results file
 *              against its index
 *   plan       (pure) what to queue, skip, remove and chain there
 *   ship       sweep dir and private files, remove this sweep's finished tasks,
 *              one rsync of the host's units only, setup on the host's server
 *              (once per target: a host sharing its target with another gets
 *              that one's setup record instead of running the SQL again)
 *   queue      `pueue add` per unit, after steps, the autoscale controller
 *
 * Idempotent by construction: a unit is queued only when no task with its
 * label is queued/running/paused/stashed and its results file does not hold an
 * ok/skipped record for every config with the current SQL hash. The audit
 * compares the host's copy of each unit index with the local one by sha256;
 * units whose copy differs (first submission, regenerated SQL) are checked
 * again after the rsync, in the same session, before they are queued.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { WORKER_BUNDLE } from '../generate/worker-bundle.js';
import { discoveryStep, MIN_NODE_MAJOR, nodeStep, parseDiscovery, parseNodeResult, remoteModules, type Discovery } from '../host/remote-script.js';
import {
  isComplete,
  PASSWORD_FILE,
  PRIVATE_DIR,
  type InspectInput,
  type InspectOutput,
  type Origin,
  type PrepareInput,
  type PrepareOutput,
  type QueueInput,
  type QueueOutput,
  type UnitProbe,
} from '../host/remote-side.js';
import { afterLabel, autoscaleGroup, autoscaleLabel, currentTask, tasksByLabel, unitLabel } from '../pueue/labels.js';
import { describeState, isActive, parseStatus, type StatusView, type TaskView } from '../pueue/status.js';
import { targetKey, type SetupOutcome, type SetupRecord } from '../setup/setup.js';
import type { Spec } from '../spec/schema.js';
import { shJoin, shQuote } from '../transport/shell-quote.js';
import { RemoteError, tail, type RemoteSession, type SyncSummary } from '../transport/transport.js';
import type { RerunMode } from '../worker/todo.js';
import { clickhouseTarget, originOf, type ClickHouseTarget, type HostContext, type SweepContext } from './context.js';
import type { ParallelPlan } from './hosts.js';

const STATE_WARN_BYTES = 50 * 1024 * 1024;

// ---------------------------------------------------------------- audit

export interface HostAudit {
  h: HostContext;
  node: { path: string; version: string };
  pueue: { path: string; version: string };
  discovery: Discovery;
  pueueRef: { bin: string; config: string | null };
  ch: ClickHouseTarget;
  origin: Origin;
  inspected: InspectOutput;
  /** null when the daemon does not answer (the host is unreachable; its results were read all the same). */
  status: StatusView | null;
  /** The daemon's complaint when it does not answer. */
  daemonDown: RemoteError | null;
}

/**
 * Discovery and inspect on one host. Throws (a RemoteError naming the host
 * and the step) for what the user must fix there; a daemon that does not
 * answer is returned (`daemonDown`), so --rebalance can still see which units
 * are complete or running there.
 */
export async function auditHost(
  ctx: SweepContext,
  h: HostContext,
  session: RemoteSession,
  o: { env: NodeJS.ProcessEnv; password: string | undefined; indexShas: ReadonlyMap<string, string>; forceSetup: boolean },
): Promise<HostAudit> {
  const host = h.host;
  const res = await session.run(discoveryStep(), { step: 'connect', timeoutMs: 45_000 });
  const d = parseDiscovery(res.stdout);
  const seen = d.seen.length > 0 ? ` (found: ${d.seen.join('; ')})` : '';
  if (!d.node) {
    throw new RemoteError(host, 'preflight', `node >= ${MIN_NODE_MAJOR} not found on PATH, ~/.local/bin, /usr/local/bin, /usr/bin, ~/.nvm or ~/.volta${seen}; install Node.js ${MIN_NODE_MAJOR}+ there`, 'NODE_MISSING');
  }
  if (!d.pueue) {
    throw new RemoteError(
      host,
      'preflight',
      `pueue v4 not found on PATH, ~/.cargo/bin, ~/.local/bin, /usr/local/bin or /usr/bin${seen}; install it there with 'cargo install --locked pueue' (v3 and v4 cannot talk to each other)`,
      'PUEUE_MISSING',
    );
  }
  const ch = clickhouseTarget(ctx, o.env, h);
  const pueueRef = { bin: d.pueue.path, config: h.pueueConfig };
  const origin = originOf(ctx, h.sweepDir, ch.url, d.hostname, o.forceSetup);
  const input: InspectInput = {
    sweep: ctx.name,
    group: ctx.group,
    sweepDir: h.sweepDir,
    node: d.node.path,
    pueue: pueueRef,
    // Every unit, not only this host's: a unit moved here may have records here from before.
    units: ctx.units.map((u) => ({ id: u.id, indexSha256: o.indexShas.get(u.id) as string })),
    origin,
    clickhouse: { url: ch.url, user: ctx.spec.clickhouse.user, database: ctx.spec.clickhouse.database },
    ...(ctx.remote.memory_max ? { memoryMax: ctx.remote.memory_max } : {}),
  };
  const inspected = parseNodeResult<InspectOutput>(
    host,
    'preflight',
    await session.run(nodeStep('inspect', input, o.password !== undefined ? { SWEEP_CLICKHOUSE_PASSWORD: o.password } : {}), {
      step: 'preflight',
      timeoutMs: 60_000 + ctx.units.length * 50,
    }),
  );
  const audit: HostAudit = { h, node: d.node, pueue: d.pueue, discovery: d, pueueRef, ch, origin, inspected, status: null, daemonDown: null };
  if (!inspected.daemon.ok) {
    const cfg = h.pueueConfig ? ` -c ${shQuote(h.pueueConfig)}` : '';
    const pueued = d.pueued ?? 'pueued';
    audit.daemonDown = new RemoteError(
      host,
      'preflight',
      `the pueue daemon does not answer ('pueue${cfg} status' said: ${inspected.daemon.message.split('\n').slice(0, 3).join(' / ')}).\n` +
        `  sweep never starts it for you. Start it on ${host}, e.g.: ${pueued}${cfg} -d   (or: systemctl --user start pueued)`,
      'PUEUE_DAEMON_DOWN',
    );
    return audit;
  }
  try {
    audit.status = parseStatus(inspected.daemon.status);
  } catch (err) {
    throw new RemoteError(host, 'preflight', `unexpected 'pueue status --json' output: ${(err as Error).message}`, 'PUEUE_FORMAT');
  }
  if (inspected.clickhouse && !inspected.clickhouse.ok) {
    throw new RemoteError(host, 'preflight', `ClickHouse at ${ch.display} does not answer from ${host}: ${inspected.clickhouse.message}`, 'CLICKHOUSE_UNREACHABLE');
  }
  return audit;
}

/** A warning when pueue's state file is past 50 MB: every add, start and finish rewrites it whole. */
export function stateFileWarning(f: InspectOutput['stateFile']): string | undefined {
  if (f.path === null || f.bytes <= STATE_WARN_BYTES) return undefined;
  return `pueue's state file ${f.path} is ${(f.bytes / 1024 / 1024).toFixed(0)} MB: every pueue add rewrites it whole (measured: 1.3 s per add at 94 MB against 0.1 s on a clean state); remove old finished tasks ('pueue clean -g GROUP' for groups you own)`;
}

// ---------------------------------------------------------------- plan

export type UnitPlan =
  | { unit: string; action: 'queue'; reason: string; probe: UnitProbe; previous?: string }
  | { unit: string; action: 'active'; state: string }
  | { unit: string; action: 'complete'; probe: UnitProbe }
  | { unit: string; action: 'not-selected' };

export interface Plan {
  units: UnitPlan[];
  active: Array<{ unit: string; state: string }>;
  removeIds: number[];
  after: Array<{ step: string; replaceIds: number[]; waitIds: number[] }>;
  forceAfter: boolean;
  resumeGroup: boolean;
  foreignInGroup: number;
  /** Queued tasks here of units placed on another host now (removed), and running ones (left to finish). */
  movedAway: { removed: string[]; running: string[] };
  /** Tasks of this host's autoscale controller: the active one, finished ones (removed with the others). */
  controller: { active: number | null };
}

export interface PlanOptions {
  rerun: RerunMode;
  /** --fresh: every unit runs again. */
  fresh: boolean;
  /** --only: units holding a selected config (others are left alone). */
  selectedUnits?: ReadonlySet<string> | undefined;
  /** Units of the sweep placed on other hosts: their tasks here are not queued again, and queued ones are removed. */
  elsewhere?: ReadonlySet<string> | undefined;
}

/** Pure: what to queue, skip, remove and chain on one host, from its audit. `ctx.units` are the host's units. */
export function planSubmission(
  ctx: { name: string; group: string; units: ReadonlyArray<{ id: string }>; spec: Pick<Spec, 'after'> },
  status: StatusView,
  inspected: Pick<InspectOutput, 'units'>,
  opts: PlanOptions = { rerun: 'errors', fresh: false },
): Plan {
  const { units: byUnit, after: byAfter } = tasksByLabel(ctx.name, status.tasks);
  const controllers = status.tasks.filter((t) => t.label === autoscaleLabel(ctx.name));
  const ours = new Set<TaskView>([...[...byUnit.values()].flat(), ...[...byAfter.values()].flat(), ...controllers]);
  const units: UnitPlan[] = [];
  const active: Plan['active'] = [];
  for (const u of ctx.units) {
    const cur = currentTask(byUnit.get(u.id) ?? []);
    if (cur && isActive(cur)) {
      const state = describeState(cur);
      units.push({ unit: u.id, action: 'active', state });
      active.push({ unit: u.id, state });
      continue;
    }
    if (opts.selectedUnits && !opts.selectedUnits.has(u.id)) {
      units.push({ unit: u.id, action: 'not-selected' });
      continue;
    }
    const probe = inspected.units[u.id] ?? { index: 'missing', total: 0, ok: 0, skipped: 0, error: 0, remaining: 0, torn: false, bad: 0, bytes: 0 };
    const asked = opts.fresh ? '--fresh' : opts.rerun === 'all' ? '--rerun all' : opts.rerun === 'skipped' && probe.skipped > 0 ? '--rerun skipped' : undefined;
    if (!asked && (isComplete(probe) || (opts.rerun === 'none' && probe.index === 'same' && probe.remaining === 0 && probe.total > 0))) {
      units.push({ unit: u.id, action: 'complete', probe });
      continue;
    }
    const previous = cur ? describeState(cur) : undefined;
    units.push({ unit: u.id, action: 'queue', reason: asked ? `${queueReason(probe)}; ${asked}` : queueReason(probe), probe, ...(previous ? { previous } : {}) });
  }
  // A unit moved to another host: its task here must not run it a second time; one already running finishes.
  const movedAway: Plan['movedAway'] = { removed: [], running: [] };
  const moveIds: number[] = [];
  for (const unit of opts.elsewhere ?? []) {
    for (const t of byUnit.get(unit) ?? []) {
      if (t.state === 'queued' || t.state === 'stashed') {
        moveIds.push(t.id);
        movedAway.removed.push(unit);
      } else if (t.state === 'running' || t.state === 'paused') movedAway.running.push(unit);
    }
  }
  const pendingAfter = [...byAfter.values()].flat().filter((t) => t.state === 'queued' || t.state === 'stashed');
  // Finished tasks of this sweep (by label), except those a waiting task depends on: pueue refuses to remove them.
  // A queued after step that waits for a removed unit task goes with it (it is queued again below).
  const removing = new Set(moveIds);
  const afterToo = moveIds.length > 0 ? pendingAfter.filter((t) => t.dependencies.some((d) => removing.has(d))) : [];
  for (const t of afterToo) removing.add(t.id);
  const needed = new Set(status.tasks.filter((t) => isActive(t) && !removing.has(t.id)).flatMap((t) => t.dependencies));
  const removeIds = [...[...ours].filter((t) => !isActive(t) && !needed.has(t.id)).map((t) => t.id), ...removing];
  const foreignInGroup = status.tasks.filter((t) => t.group === ctx.group && !ours.has(t)).length;
  const waitIds = [...byUnit.entries()]
    .flatMap(([unit, ts]) => (opts.elsewhere?.has(unit) ? ts.filter((t) => !removing.has(t.id)) : ts))
    .filter((t) => isActive(t) && t.state !== 'stashed' && !removing.has(t.id))
    .map((t) => t.id);
  let forceAfter = afterToo.length > 0 && waitIds.length > 0;
  const after = ctx.spec.after.map((step) => {
    const tasks = byAfter.get(step.name) ?? [];
    const pending = tasks.filter((t) => (t.state === 'queued' || t.state === 'stashed') && !removing.has(t.id));
    const cur = currentTask(tasks);
    // An after step that itself failed (not merely skipped because a unit failed) runs again.
    if (cur && !isActive(cur) && cur.result && cur.result.kind !== 'success' && cur.result.kind !== 'dependency-failed') forceAfter = true;
    return { step: step.name, replaceIds: pending.map((t) => t.id), waitIds };
  });
  const group = status.groups[ctx.group];
  const resumeGroup = group?.status === 'Paused';
  const activeController = controllers.find(isActive);
  return { units, active, removeIds, after, forceAfter, resumeGroup, foreignInGroup, movedAway, controller: { active: activeController?.id ?? null } };
}

function queueReason(p: UnitProbe): string {
  if (p.index === 'missing') return 'not on the host yet';
  const done = p.ok + p.skipped;
  const parts = [`${done}/${p.total} done`];
  if (p.error > 0) parts.push(`${p.error} error(s) to retry`);
  if (p.index === 'differs') parts.push('SQL or configs changed since the last submission');
  return parts.join(', ');
}

/** Whether setup must run on the host's server, from the local setup.sql and the host's setup record. */
export function setupDecision(origin: Origin, record: InspectOutput['setup']): { action: 'none' | 'current' | 'run'; reason: string } {
  if (origin.setupSha === null) return { action: 'none', reason: 'no setup in the spec' };
  if (!record) return { action: 'run', reason: 'never ran on this target' };
  if (record.setup_sha256 !== origin.setupSha) return { action: 'run', reason: 'the setup SQL changed' };
  if (origin.forceSetup) return { action: 'run', reason: '--setup' };
  return { action: 'current', reason: `ran ${record.ran_at}` };
}

// ---------------------------------------------------------------- ship

export interface ShipOptions {
  plan: Plan;
  /** The host's units now, in manifest order (what its rsync carries). */
  units: readonly string[];
  /** Every unit goes to the host only for a one-host sweep (then deletions of units that left the grid reach it too). */
  allUnits: boolean;
  password: string | undefined;
  fresh: boolean;
  forceSetupFlag: boolean;
  /** Run the setup SQL on this host's server (once per target: other hosts of the target get its record). */
  runSetup: boolean;
  log: (line: string) => void;
}

export interface ShipResult {
  prepared: PrepareOutput;
  sync: SyncSummary;
  syncMs: number;
  setup: SetupOutcome | null;
  setupMs: number;
}

/** prepare -> rsync -> setup on one host, in its session (queueOnHost follows, once every host got this far). */
export async function shipToHost(ctx: SweepContext, a: HostAudit, session: RemoteSession, o: ShipOptions): Promise<ShipResult> {
  const { h } = a;
  const host = h.host;
  const prepareInput: PrepareInput = {
    sweepDir: h.sweepDir,
    group: ctx.group,
    pueue: a.pueueRef,
    removeIds: o.plan.removeIds,
    files: helperFiles(ctx),
    writePassword: o.password !== undefined,
    fresh: o.fresh,
  };
  const prepared = parseNodeResult<PrepareOutput>(
    host,
    'prepare',
    await session.run(nodeStep('prepare', prepareInput, o.password !== undefined ? { SWEEP_CLICKHOUSE_PASSWORD: o.password } : {}), { step: 'prepare', timeoutMs: 120_000 }),
  );

  // ---- rsync (the session stays open meanwhile): this host's units only
  const s0 = performance.now();
  o.log(`rsync ${ctx.outDir}/ -> ${host}:${h.sweepDir}/ (${o.units.length} unit(s)) ...`);
  const filterDir = o.allUnits ? undefined : mkdtempSync(join(tmpdir(), 'sweep-push-'));
  let sync: SyncSummary;
  try {
    let filters: readonly string[] = PUSH_FILTERS;
    if (filterDir) {
      const list = join(filterDir, 'include');
      writeFileSync(list, `${unitIncludes(o.units).join('\n')}\n`);
      filters = [...PUSH_FILTERS.filter((f) => !f.startsWith('--include=/units') && !f.startsWith('--include=/sql') && f !== '--exclude=*'), `--include-from=${list}`, '--exclude=*'];
    }
    sync = await h.transport.push(ctx.outDir, h.sweepDir, { step: 'rsync', timeoutMs: 60 * 60_000, filters, delete: true });
  } finally {
    if (filterDir) rmSync(filterDir, { recursive: true, force: true });
  }
  const syncMs = performance.now() - s0;
  o.log(`${host}: rsync: ${sync.files} file(s) sent, ${sync.bytes} bytes, ${Math.round(sync.ms)} ms`);

  // ---- setup, on the host's server, from the host, before anything is queued
  let setup: SetupOutcome | null = null;
  const st0 = performance.now();
  if (o.runSetup) {
    o.log(`${host}: setup: running ${ctx.spec.setup ?? 'setup.sql'} on ${a.ch.display} ...`);
    setup = await runSetupOnHost(session, host, { sweepDir: h.sweepDir, url: a.ch.url, force: o.forceSetupFlag });
    o.log(`${host}: setup: ${setup.statements} statement(s) in ${(setup.elapsed_ms / 1000).toFixed(1)} s`);
  }
  return { prepared, sync, syncMs, setup, setupMs: performance.now() - st0 };
}

export interface QueueOptions {
  plan: Plan;
  parallel: ParallelPlan;
  /** The group's parallelism now (null: no group yet). */
  groupParallel: number | null;
  withSystemd: boolean;
  fresh: boolean;
  workerFlags: readonly string[];
  /** --units-at-once for the workers (max_threads auto), when the spec's remote.parallel does not say it. */
  unitsAtOnce: number | null;
  indexShas: ReadonlyMap<string, string>;
  /** The setup record of this host's target, when the setup ran (or had run) from another host of the same target. */
  setupRecord: SetupRecord | null;
  log: (line: string) => void;
}

/** The host's pueue tasks: group, `pueue add` per unit, after steps, the autoscale controller. */
export async function queueOnHost(ctx: SweepContext, a: HostAudit, session: RemoteSession, o: QueueOptions): Promise<{ queued: QueueOutput; queueMs: number }> {
  const { h } = a;
  const host = h.host;
  if (o.setupRecord) {
    // Another host of this target ran the setup: its record, here too, so this host's workers run under the same generation.
    const files = [{ path: `setup/${targetKey(o.setupRecord.target)}.json`, content: `${JSON.stringify(o.setupRecord)}\n` }];
    const input: PrepareInput = { sweepDir: h.sweepDir, group: ctx.group, pueue: a.pueueRef, removeIds: [], files, writePassword: false, fresh: false };
    parseNodeResult<PrepareOutput>(host, 'setup', await session.run(nodeStep('prepare', input), { step: 'setup', timeoutMs: 60_000 }));
  }
  const q0 = performance.now();
  const p = o.parallel;
  const flags = [...o.workerFlags, ...(o.unitsAtOnce !== null ? ['--units-at-once', String(o.unitsAtOnce)] : [])];
  const node = a.node.path;
  const queueInput: QueueInput = {
    sweepDir: h.sweepDir,
    group: ctx.group,
    // An autoscaled group keeps the parallelism its controller chose, brought within [min, max].
    parallel: !p.auto ? p.max : o.groupParallel === null ? null : o.groupParallel === 0 || o.groupParallel > p.max ? p.max : o.groupParallel < p.min ? p.min : null,
    startParallel: p.start,
    groupExists: o.groupParallel !== null,
    startGroup: o.plan.resumeGroup,
    node,
    pueue: a.pueueRef,
    withSystemd: o.withSystemd,
    origin: { ...a.origin, forceSetup: false },
    units: o.plan.units.flatMap((u) =>
      u.action === 'queue'
        ? [
            {
              unit: u.unit,
              label: unitLabel(ctx.name, u.unit),
              command: unitCommand({ node, sweepDir: h.sweepDir, unit: u.unit, url: a.ch.url, memoryMax: o.withSystemd ? ctx.remote.memory_max : undefined, flags }),
              // The audit could not judge a unit whose index on the host was missing or old: judge it again after
              // the rsync, unless there is nothing to judge (no results file yet: the first submission), or the
              // user asked for more than the done-rule (--rerun, --fresh, --only).
              recheckIndexSha:
                u.probe.index === 'same' || (u.probe.index === 'missing' && u.probe.bytes === 0) || o.workerFlags.length > 0 || o.fresh ? null : (o.indexShas.get(u.unit) as string),
            },
          ]
        : [],
    ),
    after: o.plan.after.map((s) => ({
      step: s.step,
      label: afterLabel(ctx.name, s.step),
      command: afterCommand({ node, sweepDir: h.sweepDir, step: s.step, url: a.ch.url, user: ctx.spec.clickhouse.user, database: ctx.spec.clickhouse.database, timeoutS: ctx.spec.worker.query_timeout_s }),
      replaceIds: s.replaceIds,
      waitIds: s.waitIds,
    })),
    forceAfter: o.plan.forceAfter,
    autoscale:
      p.auto && o.plan.controller.active === null
        ? {
            group: autoscaleGroup(ctx.group),
            label: autoscaleLabel(ctx.name),
            command: controllerCommand(ctx, a, p),
            activeUnits: o.plan.active.length,
          }
        : null,
    stopControllers: !p.auto && o.plan.controller.active !== null ? [o.plan.controller.active] : [],
  };
  o.log(`${host}: queueing ${queueInput.units.length} unit(s) in pueue group ${ctx.group} ...`);
  const queued = parseNodeResult<QueueOutput>(host, 'queue', await session.run(nodeStep('queue', queueInput), { step: 'queue', timeoutMs: 60_000 + queueInput.units.length * 5_000 }));
  if (queued.group.error) throw new RemoteError(host, 'queue', `could not create or size pueue group ${ctx.group}: ${queued.group.error}`);
  return { queued, queueMs: performance.now() - q0 };
}

/** Only generate's own output crosses: never results/ (the host's are the truth) nor .sweep/ (private files). */
export const PUSH_FILTERS: readonly string[] = [
  '--include=/manifest.json',
  '--include=/spec.json',
  '--include=/setup.sql',
  `--include=/${WORKER_BUNDLE}`,
  '--include=/units/***',
  '--include=/sql/***',
  '--exclude=*',
];

/** rsync include patterns for some units' index and SQL (unit ids are file-name-safe: no glob characters). */
export function unitIncludes(units: readonly string[]): string[] {
  return ['/units/', ...units.map((u) => `/units/${u}.json`), '/sql/', ...units.map((u) => `/sql/${u}/***`)];
}

/**
 * Run the setup on the host with the worker bundle just shipped (`sweep
 * setup-target`, the code `sweep run` uses), from the host, so it reaches the
 * server exactly as the workers will. The password, when stored, is read
 * from the sweep's private file by the shell (never on a command line).
 */
async function runSetupOnHost(session: RemoteSession, host: string, o: { sweepDir: string; url: string; force: boolean }): Promise<SetupOutcome> {
  const argv = [posix.join(o.sweepDir, WORKER_BUNDLE), 'setup-target', '--dir', o.sweepDir, '--clickhouse-url', o.url, '--json', ...(o.force ? ['--force'] : [])];
  const body = [`[ -n "$SWEEP_NODE" ] || { echo 'sweep: no node found by discovery' >&2; return 90; }`, `${readPassword(o.sweepDir)}"$SWEEP_NODE" ${shJoin(argv)}`].join('\n');
  const r = await session.run(`(${body})`, { step: 'setup', timeoutMs: 6 * 60 * 60_000 });
  if (r.code !== 0) {
    const msg = tail(r.stderr, 8).replace(/^sweep: /gm, '') || `exit ${r.code}`;
    throw new RemoteError(host, 'setup', msg, r.code === 2 ? 'SETUP_FAILED' : 'REMOTE_FAILED');
  }
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as SetupOutcome;
  } catch {
    throw new RemoteError(host, 'setup', `expected a JSON summary from setup-target, found: ${r.stdout.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------- task commands

/**
 * The shell command of a unit task (pueue runs it with `sh -c`). The password
 * is read from the sweep's private 0600 file into the worker's environment
 * by the shell itself (`read` is a builtin: no process, no argv), so it is
 * never in the command line, pueue's state file or its logs.
 */
export function unitCommand(o: { node: string; sweepDir: string; unit: string; url: string; memoryMax?: string | undefined; flags?: readonly string[] }): string {
  const worker = [o.node, posix.join(o.sweepDir, WORKER_BUNDLE), 'run-unit', '--dir', o.sweepDir, '--unit', o.unit, '--clickhouse-url', o.url, ...(o.flags ?? [])];
  const argv = o.memoryMax ? ['systemd-run', '--user', '--scope', '--quiet', '-p', `MemoryMax=${o.memoryMax}`, '-p', 'MemorySwapMax=0', '--', ...worker] : worker;
  return `${readPassword(o.sweepDir)}exec ${shJoin(argv)}`;
}

export function afterCommand(o: { node: string; sweepDir: string; step: string; url: string; user: string; database: string; timeoutS: number }): string {
  const argv = [
    o.node,
    posix.join(o.sweepDir, PRIVATE_DIR, 'run-sql.mjs'),
    '--url',
    o.url,
    '--user',
    o.user,
    '--database',
    o.database,
    '--timeout-s',
    String(o.timeoutS),
    '--name',
    o.step,
    '--file',
    posix.join(o.sweepDir, PRIVATE_DIR, 'after', `${o.step}.sql`),
  ];
  return `${readPassword(o.sweepDir)}exec ${shJoin(argv)}`;
}

/** The autoscale controller of a host (src/autoscale/controller.ts), from the worker bundle just shipped. */
export function controllerCommand(ctx: Pick<SweepContext, 'name' | 'group' | 'spec' | 'remote'>, a: Pick<HostAudit, 'h' | 'node' | 'pueueRef' | 'ch'>, p: ParallelPlan): string {
  const t = ctx.remote.autoscale;
  const argv = [
    a.node.path,
    posix.join(a.h.sweepDir, WORKER_BUNDLE),
    'autoscale',
    '--dir',
    a.h.sweepDir,
    '--sweep',
    ctx.name,
    '--group',
    ctx.group,
    '--min',
    String(p.min),
    '--max',
    String(p.max),
    '--interval-s',
    String(t.interval_s),
    '--cpu-high',
    String(t.cpu_high),
    '--cpu-low',
    String(t.cpu_low),
    '--mem-high',
    String(t.mem_high),
    '--mem-low',
    String(t.mem_low),
    '--pueue',
    a.pueueRef.bin,
    ...(a.pueueRef.config ? ['--pueue-config', a.pueueRef.config] : []),
    '--clickhouse-url',
    a.ch.url,
    '--user',
    ctx.spec.clickhouse.user,
    '--database',
    ctx.spec.clickhouse.database,
  ];
  return `${readPassword(a.h.sweepDir)}exec ${shJoin(argv)}`;
}

function readPassword(sweepDir: string): string {
  const file = shQuote(posix.join(sweepDir, PRIVATE_DIR, PASSWORD_FILE));
  return `if [ -r ${file} ]; then IFS= read -r CLICKHOUSE_PASSWORD < ${file}; export CLICKHOUSE_PASSWORD; fi; `;
}

function helperFiles(ctx: SweepContext): PrepareInput['files'] {
  if (ctx.spec.after.length === 0) return [];
  const runSql = `${remoteModules().runSql}\nprocess.exitCode = await runSql(process.argv.slice(2));\n`;
  return [{ path: 'run-sql.mjs', content: runSql }, ...ctx.spec.after.map((a) => ({ path: `after/${a.name}.sql`, content: `${a.sql}\n` }))];
}

/** The host's unit indexes' sha256, for the audit (read once, shared by every host). */
export function readIndexShas(ctx: SweepContext, sha: (outDir: string, unit: string) => string): Map<string, string> {
  return new Map(ctx.units.map((u) => [u.id, sha(ctx.outDir, u.id)]));
}

/** A unit index's configs (for --only). */
export function readUnitIndex(outDir: string, unit: string): { configs: Array<{ id: string; params: Record<string, string | number> }> } {
  return JSON.parse(readFileSync(join(outDir, 'units', `${unit}.json`), 'utf8')) as { configs: Array<{ id: string; params: Record<string, string | number> }> };
}
