/**
 * `sweep submit-all`: ship a generated sweep to its host and queue one pueue
 * task per unfinished unit. One session (ssh) and one rsync, in this order:
 *
 *   discover   node >= 20 and pueue v4 on the host
 *   inspect    pueue daemon answers; ClickHouse answers from the host; a trial
 *              systemd-run when memory_max is set; pueue status; each unit's
 *              results file against its index (the audit)
 *   -- dry run stops here and reports the plan --
 *   prepare    sweep dir, private files (password 0600, after-step runner),
 *              remove this sweep's finished tasks
 *   rsync      SQL tree, unit indexes, manifest, spec copy, worker.mjs
 *              (results/ and .sweep/ on the host are never touched)
 *   queue      group create/size, `pueue add` per unit, after steps, resume
 *
 * Idempotent by construction: a unit is queued only when no task with its
 * label is queued/running/paused/stashed and its results file does not hold an
 * ok/skipped record for every config with the current SQL hash. The audit
 * compares the host's copy of each unit index with the local one by sha256;
 * units whose copy differs (first submission, regenerated SQL) are checked
 * again after the rsync, in the same session, before they are queued.
 */
import type { RemoteSettings } from '../spec/schema.js';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { UserError } from '../errors.js';
import { WORKER_BUNDLE, workerBundlePath } from '../generate/worker-bundle.js';
import { writeFileAtomicSync } from '../fs/atomic.js';
import { discoveryStep, MIN_NODE_MAJOR, nodeStep, parseDiscovery, parseNodeResult, remoteModules, type Discovery } from '../host/remote-script.js';
import {
  isComplete,
  PASSWORD_FILE,
  PRIVATE_DIR,
  type InspectInput,
  type InspectOutput,
  type PrepareInput,
  type PrepareOutput,
  type QueueInput,
  type QueueOutput,
  type UnitProbe,
} from '../host/remote-side.js';
import { afterLabel, currentTask, tasksByLabel, unitLabel } from '../pueue/labels.js';
import { describeState, isActive, parseStatus, type StatusView, type TaskView } from '../pueue/status.js';
import { shJoin, shQuote } from '../transport/shell-quote.js';
import { RemoteError, type RemoteSession, type SyncSummary, type Transport } from '../transport/transport.js';
import { TOOL_VERSION } from '../version.js';
import { loadSweepContext, unitIndexSha, type SweepContext } from './context.js';

export interface SubmitOptions {
  specPath: string;
  /** Remote settings instead of the spec's (`sweep run` through a local pueue daemon). */
  remote?: RemoteSettings;
  cwd?: string;
  outDir?: string;
  dryRun?: boolean;
  /** Where CLICKHOUSE_URL and CLICKHOUSE_PASSWORD come from (default process.env). */
  env?: NodeJS.ProcessEnv;
  transport?: Transport;
  /** Progress, one human line at a time (stderr). */
  log?: (line: string) => void;
}

export type UnitPlan =
  | { unit: string; action: 'queue'; reason: string; probe: UnitProbe; previous?: string }
  | { unit: string; action: 'active'; state: string }
  | { unit: string; action: 'complete'; probe: UnitProbe };

export interface SubmitReport {
  sweep: string;
  /** The spec as given on the command line. */
  spec: string;
  host: string;
  dir: string;
  group: string;
  dryRun: boolean;
  preflight: {
    node: { path: string; version: string };
    pueue: { path: string; version: string };
    clickhouse: { url: string; version: string };
    /** null when memory_max is not set. */
    memoryCap: { memoryMax: string; enforced: boolean; message: string } | null;
    stateFile: { path: string | null; bytes: number | null };
    password: 'sent' | 'stored-earlier' | 'none';
  };
  plan: {
    queue: Array<{ unit: string; reason: string; previous?: string }>;
    active: Array<{ unit: string; state: string }>;
    complete: string[];
    /** Finished tasks of this sweep removed before queueing. */
    remove: number;
    after: Array<{ step: string; replace: number; waitFor: number }>;
    resumeGroup: boolean;
  };
  sync: SyncSummary | null;
  queued: Array<{ unit: string; label: string; id: number }>;
  failed: Array<{ unit: string; label: string; message: string }>;
  /** Units found complete after the sync (their index changed; checked again before queueing). */
  completeAfterSync: string[];
  after: Array<{ step: string; label: string; id?: number; message?: string }>;
  /** Finished tasks of this sweep actually removed. */
  removed: number;
  groupResumed: boolean;
  warnings: string[];
  /** The local record of this submission (`<out>/submissions.ndjson`). */
  record: string | null;
  connections: number;
  timings: { total_ms: number; preflight_ms: number; sync_ms: number; queue_ms: number; add_ms: number[] };
}

const STATE_WARN_BYTES = 50 * 1024 * 1024;

export async function submitAll(opts: SubmitOptions): Promise<SubmitReport> {
  const t0 = performance.now();
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const ctx = await loadSweepContext({ specPath: opts.specPath, cwd: opts.cwd, outDir: opts.outDir, transport: opts.transport, remote: opts.remote });
  const { transport } = ctx;
  const host = transport.host;
  const dryRun = opts.dryRun === true;
  const warnings: string[] = [];

  const ch = clickhouseTarget(ctx, env, host);
  const password = env['CLICKHOUSE_PASSWORD'];
  if (password !== undefined && /[\n\0]/.test(password)) {
    throw new UserError('PASSWORD_INVALID', 'CLICKHOUSE_PASSWORD: expected a single line, found a newline or NUL byte');
  }
  const bundleNote = checkWorkerBundle(ctx.outDir, dryRun);
  if (bundleNote) warnings.push(bundleNote);
  const indexShas = new Map(ctx.units.map((u) => [u.id, unitIndexSha(ctx.outDir, u.id)]));

  const session = transport.openSession();
  try {
    // ---- preflight + audit
    log(`connecting to ${host} ...`);
    const found = await discover(session, host);
    const node = found.node;
    const pueueBin = found.pueue;
    const pueueRef = { bin: pueueBin.path, config: ctx.remote.pueue_config ?? null };
    const inspectInput: InspectInput = {
      sweep: ctx.name,
      group: ctx.group,
      sweepDir: ctx.sweepDir,
      node: node.path,
      pueue: pueueRef,
      units: ctx.units.map((u) => ({ id: u.id, indexSha256: indexShas.get(u.id) as string })),
      clickhouse: { url: ch.url, user: ctx.spec.clickhouse.user, database: ctx.spec.clickhouse.database },
      ...(ctx.remote.memory_max ? { memoryMax: ctx.remote.memory_max } : {}),
    };
    const inspected = parseNodeResult<InspectOutput>(
      host,
      'preflight',
      await session.run(nodeStep('inspect', inspectInput, password !== undefined ? { SWEEP_CLICKHOUSE_PASSWORD: password } : {}), {
        step: 'preflight',
        timeoutMs: 60_000 + ctx.units.length * 50,
      }),
    );
    const status = checkPreflight(inspected, { host, found, pueueConfig: pueueRef.config, chUrl: ch.display });
    const chVersion = inspected.clickhouse?.ok ? inspected.clickhouse.version : '?';
    log(`preflight ok: node ${node.version} (${node.path}), pueue ${pueueBin.version} (${pueueBin.path}), ClickHouse ${chVersion} at ${ch.display}`);

    let memoryCap: SubmitReport['preflight']['memoryCap'] = null;
    if (ctx.remote.memory_max) {
      const enforced = inspected.systemd?.ok === true;
      memoryCap = { memoryMax: ctx.remote.memory_max, enforced, message: inspected.systemd?.message ?? '' };
      if (!enforced) {
        warnings.push(
          `remote.memory_max ${ctx.remote.memory_max} is NOT enforced on ${host}: a trial 'systemd-run --user --scope' failed (${inspected.systemd?.message ?? 'unknown'}); units run without a memory cap`,
        );
      }
    }
    const stateBytes = inspected.stateFile.path !== null ? inspected.stateFile.bytes : null;
    const stateWarning = stateFileWarning(inspected.stateFile);
    if (stateWarning) warnings.push(stateWarning);

    const plan = planSubmission(ctx, status, inspected);
    for (const a of plan.active) if (a.state === 'Stashed') warnings.push(`unit ${a.unit} has a stashed task: it runs only after 'pueue enqueue' (left as it is)`);
    if (plan.foreignInGroup > 0) {
      warnings.push(`pueue group ${ctx.group} also holds ${plan.foreignInGroup} task(s) that are not this sweep's: give each sweep its own group (remote.group)`);
    }
    const passwordMode = password !== undefined ? 'sent' : inspected.passwordFile ? 'stored-earlier' : 'none';
    const report: SubmitReport = {
      sweep: ctx.name,
      spec: opts.specPath,
      host,
      dir: ctx.sweepDir,
      group: ctx.group,
      dryRun,
      preflight: {
        node,
        pueue: pueueBin,
        clickhouse: { url: ch.display, version: chVersion },
        memoryCap,
        stateFile: { path: inspected.stateFile.path, bytes: stateBytes },
        password: passwordMode,
      },
      plan: {
        queue: plan.units.flatMap((u) => (u.action === 'queue' ? [{ unit: u.unit, reason: u.reason, ...(u.previous ? { previous: u.previous } : {}) }] : [])),
        active: plan.active,
        complete: plan.units.flatMap((u) => (u.action === 'complete' ? [u.unit] : [])),
        remove: plan.removeIds.length,
        after: plan.after.map((a) => ({ step: a.step, replace: a.replaceIds.length, waitFor: a.waitIds.length })),
        resumeGroup: plan.resumeGroup,
      },
      sync: null,
      queued: [],
      failed: [],
      completeAfterSync: [],
      after: [],
      removed: 0,
      groupResumed: false,
      warnings,
      record: null,
      connections: 0,
      timings: { total_ms: 0, preflight_ms: performance.now() - t0, sync_ms: 0, queue_ms: 0, add_ms: [] },
    };
    log(
      `audit: ${report.plan.queue.length} unit(s) to queue, ${plan.active.length} already queued or running, ${report.plan.complete.length} complete` +
        (plan.removeIds.length > 0 ? `; ${plan.removeIds.length} finished task(s) of this sweep to remove` : ''),
    );
    if (dryRun) return finish(report, transport, t0);

    // ---- prepare
    const withSystemd = memoryCap?.enforced === true;
    const prepareInput: PrepareInput = {
      sweepDir: ctx.sweepDir,
      group: ctx.group,
      pueue: pueueRef,
      removeIds: plan.removeIds,
      files: helperFiles(ctx),
      writePassword: password !== undefined,
    };
    const prepared = parseNodeResult<PrepareOutput>(
      host,
      'prepare',
      await session.run(nodeStep('prepare', prepareInput, password !== undefined ? { SWEEP_CLICKHOUSE_PASSWORD: password } : {}), {
        step: 'prepare',
        timeoutMs: 120_000,
      }),
    );
    if (prepared.removeError) warnings.push(`could not remove this sweep's finished tasks (${prepared.removeError}); continuing`);
    report.removed = prepared.removed;

    // ---- rsync (the session stays open meanwhile)
    const s0 = performance.now();
    log(`rsync ${ctx.outDir}/ -> ${host}:${ctx.sweepDir}/ ...`);
    report.sync = await transport.push(ctx.outDir, ctx.sweepDir, { step: 'rsync', timeoutMs: 60 * 60_000, filters: PUSH_FILTERS, delete: true });
    report.timings.sync_ms = performance.now() - s0;
    warnings.push(...report.sync.warnings);
    log(`rsync: ${report.sync.files} file(s) sent, ${report.sync.bytes} bytes, ${Math.round(report.sync.ms)} ms`);

    // ---- queue
    const q0 = performance.now();
    const queueInput: QueueInput = {
      sweepDir: ctx.sweepDir,
      group: ctx.group,
      parallel: ctx.remote.parallel,
      groupExists: status.groups[ctx.group] !== undefined,
      startGroup: plan.resumeGroup,
      node: node.path,
      pueue: pueueRef,
      withSystemd,
      units: plan.units.flatMap((u) =>
        u.action === 'queue'
          ? [
              {
                unit: u.unit,
                label: unitLabel(ctx.name, u.unit),
                command: unitCommand({ node: node.path, sweepDir: ctx.sweepDir, unit: u.unit, url: ch.url, memoryMax: withSystemd ? ctx.remote.memory_max : undefined }),
                // The audit could not judge a unit whose index on the host was missing or old: judge it again after
                // the rsync, unless there is nothing to judge (no results file yet: the first submission).
                recheckIndexSha: u.probe.index === 'same' || (u.probe.index === 'missing' && u.probe.bytes === 0) ? null : (indexShas.get(u.unit) as string),
              },
            ]
          : [],
      ),
      after: plan.after.map((a) => ({
        step: a.step,
        label: afterLabel(ctx.name, a.step),
        command: afterCommand({ node: node.path, sweepDir: ctx.sweepDir, step: a.step, url: ch.url, user: ctx.spec.clickhouse.user, database: ctx.spec.clickhouse.database, timeoutS: ctx.spec.worker.query_timeout_s }),
        replaceIds: a.replaceIds,
        waitIds: a.waitIds,
      })),
      forceAfter: plan.forceAfter,
    };
    log(`queueing ${queueInput.units.length} unit(s) in pueue group ${ctx.group} ...`);
    const queued = parseNodeResult<QueueOutput>(
      host,
      'queue',
      await session.run(nodeStep('queue', queueInput), { step: 'queue', timeoutMs: 60_000 + queueInput.units.length * 5_000 }),
    );
    report.timings.queue_ms = performance.now() - q0;
    report.timings.add_ms = queued.addMs;
    if (queued.group.error) throw new RemoteError(host, 'queue', `could not create or size pueue group ${ctx.group}: ${queued.group.error}`);
    report.queued = queued.added;
    report.failed = queued.failed;
    report.completeAfterSync = queued.complete;
    report.after = queued.after;
    report.groupResumed = queued.started;
    report.record = writeRecord(ctx, report);
    return finish(report, transport, t0);
  } finally {
    await session.close();
  }
}

function finish(report: SubmitReport, transport: Transport, t0: number): SubmitReport {
  report.connections = transport.stats.connections;
  report.timings.total_ms = performance.now() - t0;
  return report;
}

/** Only generate's own output crosses: never results/ (the host's are the truth) nor .sweep/ (private files). */
export const PUSH_FILTERS: readonly string[] = [
  '--include=/manifest.json',
  '--include=/spec.json',
  `--include=/${WORKER_BUNDLE}`,
  '--include=/units/***',
  '--include=/sql/***',
  '--exclude=*',
];

// ---------------------------------------------------------------- preflight

async function discover(session: RemoteSession, host: string): Promise<{ node: { path: string; version: string }; pueue: { path: string; version: string }; raw: Discovery }> {
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
  return { node: d.node, pueue: d.pueue, raw: d };
}

function checkPreflight(
  inspected: InspectOutput,
  o: { host: string; found: { pueue: { path: string }; raw: Discovery }; pueueConfig: string | null; chUrl: string },
): StatusView {
  if (!inspected.daemon.ok) {
    const cfg = o.pueueConfig ? ` -c ${shQuote(o.pueueConfig)}` : '';
    const pueued = o.found.raw.pueued ?? 'pueued';
    throw new RemoteError(
      o.host,
      'preflight',
      `the pueue daemon does not answer ('pueue${cfg} status' said: ${inspected.daemon.message.split('\n').slice(0, 3).join(' / ')}).\n` +
        `  sweep never starts it for you. Start it on ${o.host}, e.g.: ${pueued}${cfg} -d   (or: systemctl --user start pueued)`,
      'PUEUE_DAEMON_DOWN',
    );
  }
  let status: StatusView;
  try {
    status = parseStatus(inspected.daemon.status);
  } catch (err) {
    throw new RemoteError(o.host, 'preflight', `unexpected 'pueue status --json' output: ${(err as Error).message}`, 'PUEUE_FORMAT');
  }
  if (inspected.clickhouse && !inspected.clickhouse.ok) {
    throw new RemoteError(o.host, 'preflight', `ClickHouse at ${o.chUrl} does not answer from ${o.host}: ${inspected.clickhouse.message}`, 'CLICKHOUSE_UNREACHABLE');
  }
  return status;
}

/** A warning when pueue's state file is past 50 MB: every add, start and finish rewrites it whole. */
export function stateFileWarning(f: InspectOutput['stateFile']): string | undefined {
  if (f.path === null || f.bytes <= STATE_WARN_BYTES) return undefined;
  return `pueue's state file ${f.path} is ${(f.bytes / 1024 / 1024).toFixed(0)} MB: every pueue add rewrites it whole (measured: 1.3 s per add at 94 MB against 0.1 s on a clean state); remove old finished tasks ('pueue clean -g GROUP' for groups you own)`;
}

interface ClickHouseTarget {
  url: string;
  /** Without credentials, for messages. */
  display: string;
}

/** The URL the remote worker will use: env CLICKHOUSE_URL, else the spec's. No password in it: it would land in pueue's state file. */
function clickhouseTarget(ctx: SweepContext, env: NodeJS.ProcessEnv, host: string): ClickHouseTarget {
  const fromEnv = env['CLICKHOUSE_URL'];
  const url = fromEnv || ctx.spec.clickhouse.url;
  const source = fromEnv ? 'CLICKHOUSE_URL' : 'clickhouse.url';
  if (!url) {
    throw new UserError(
      'SPEC_INVALID',
      `${ctx.loaded.path}: clickhouse.url: expected the ClickHouse HTTP URL as seen from ${host} (e.g. http://localhost:8123), found nothing; the remote worker needs a server (or set CLICKHOUSE_URL)`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError('SPEC_INVALID', `${source}: expected an http(s):// URL, found ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UserError('SPEC_INVALID', `${source}: expected an http(s):// URL, found ${JSON.stringify(parsed.protocol)}`);
  }
  if (parsed.password) {
    throw new UserError('SPEC_INVALID', `${source}: expected a URL without a password (it would be stored in pueue's state file on ${host}), found one; put the password in CLICKHOUSE_PASSWORD`);
  }
  const display = new URL(url);
  display.username = '';
  return { url, display: display.toString().replace(/\/$/, '') };
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

// ---------------------------------------------------------------- plan

interface Plan {
  units: UnitPlan[];
  active: Array<{ unit: string; state: string }>;
  removeIds: number[];
  after: Array<{ step: string; replaceIds: number[]; waitIds: number[] }>;
  forceAfter: boolean;
  resumeGroup: boolean;
  foreignInGroup: number;
}

/** Pure: what to queue, skip, remove and chain, from the audit. */
export function planSubmission(ctx: Pick<SweepContext, 'name' | 'group' | 'units' | 'spec'>, status: StatusView, inspected: Pick<InspectOutput, 'units'>): Plan {
  const { units: byUnit, after: byAfter } = tasksByLabel(ctx.name, status.tasks);
  const ours = new Set<TaskView>([...[...byUnit.values()].flat(), ...[...byAfter.values()].flat()]);
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
    const probe = inspected.units[u.id] ?? { index: 'missing', total: 0, ok: 0, skipped: 0, error: 0, remaining: 0, torn: false, bad: 0, bytes: 0 };
    if (isComplete(probe)) {
      units.push({ unit: u.id, action: 'complete', probe });
      continue;
    }
    const previous = cur ? describeState(cur) : undefined;
    units.push({ unit: u.id, action: 'queue', reason: queueReason(probe), probe, ...(previous ? { previous } : {}) });
  }
  // Finished tasks of this sweep (by label), except those a waiting task depends on: pueue refuses to remove them.
  const needed = new Set(status.tasks.filter(isActive).flatMap((t) => t.dependencies));
  const removeIds = [...ours].filter((t) => !isActive(t) && !needed.has(t.id)).map((t) => t.id);
  const foreignInGroup = status.tasks.filter((t) => t.group === ctx.group && !ours.has(t)).length;
  const waitIds = [...byUnit.values()]
    .flat()
    .filter((t) => isActive(t) && t.state !== 'stashed')
    .map((t) => t.id);
  let forceAfter = false;
  const after = ctx.spec.after.map((step) => {
    const tasks = byAfter.get(step.name) ?? [];
    const pending = tasks.filter((t) => t.state === 'queued' || t.state === 'stashed');
    const cur = currentTask(tasks);
    // An after step that itself failed (not merely skipped because a unit failed) runs again.
    if (cur && !isActive(cur) && cur.result && cur.result.kind !== 'success' && cur.result.kind !== 'dependency-failed') forceAfter = true;
    return { step: step.name, replaceIds: pending.map((t) => t.id), waitIds };
  });
  const group = status.groups[ctx.group];
  const resumeGroup = group?.status === 'Paused';
  return { units, active, removeIds, after, forceAfter, resumeGroup, foreignInGroup };
}

function queueReason(p: UnitProbe): string {
  if (p.index === 'missing') return 'not on the host yet';
  const done = p.ok + p.skipped;
  const parts = [`${done}/${p.total} done`];
  if (p.error > 0) parts.push(`${p.error} error(s) to retry`);
  if (p.index === 'differs') parts.push('SQL or configs changed since the last submission');
  return parts.join(', ');
}

// ---------------------------------------------------------------- task commands

/**
 * The shell command of a unit task (pueue runs it with `sh -c`). The password
 * is read from the sweep's private 0600 file into the worker's environment
 * by the shell itself (`read` is a builtin: no process, no argv), so it is
 * never in the command line, pueue's state file or its logs.
 */
export function unitCommand(o: { node: string; sweepDir: string; unit: string; url: string; memoryMax?: string | undefined }): string {
  const worker = [o.node, posix.join(o.sweepDir, WORKER_BUNDLE), 'run-unit', '--dir', o.sweepDir, '--unit', o.unit, '--clickhouse-url', o.url];
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

function readPassword(sweepDir: string): string {
  const file = shQuote(posix.join(sweepDir, PRIVATE_DIR, PASSWORD_FILE));
  return `if [ -r ${file} ]; then IFS= read -r CLICKHOUSE_PASSWORD < ${file}; export CLICKHOUSE_PASSWORD; fi; `;
}

function helperFiles(ctx: SweepContext): PrepareInput['files'] {
  if (ctx.spec.after.length === 0) return [];
  const runSql = `${remoteModules().runSql}\nprocess.exitCode = await runSql(process.argv.slice(2));\n`;
  return [{ path: 'run-sql.mjs', content: runSql }, ...ctx.spec.after.map((a) => ({ path: `after/${a.name}.sql`, content: `${a.sql}\n` }))];
}

// ---------------------------------------------------------------- record

/** One line per submission in <out>/submissions.ndjson: for the user; status and collect never read ids from it. */
function writeRecord(ctx: SweepContext, report: SubmitReport): string {
  const path = join(ctx.outDir, 'submissions.ndjson');
  const line = {
    time: new Date().toISOString(),
    tool_version: TOOL_VERSION,
    host: report.host,
    dir: report.dir,
    group: report.group,
    tasks: report.queued,
    after: report.after,
    skipped: { active: report.plan.active.length, complete: report.plan.complete.length + report.completeAfterSync.length },
    failed: report.failed.map((f) => f.unit),
  };
  appendFileSync(path, `${JSON.stringify(line)}\n`);
  return path;
}
