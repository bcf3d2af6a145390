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
  type Origin,
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
import { RemoteError, tail, type RemoteSession, type SyncSummary, type Transport } from '../transport/transport.js';
import { TOOL_VERSION } from '../version.js';
import type { UnitIndex } from '../format/manifest.js';
import type { SetupOutcome } from '../setup/setup.js';
import { acquireSweepLock } from '../worker/lock.js';
import { isSelected, parseOnly, type ConfigSelection } from '../worker/select.js';
import type { RerunMode } from '../worker/todo.js';
import { clickhouseTarget, loadSweepContext, originOf, unitIndexSha, type SweepContext } from './context.js';

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
  /** --fresh: move the host's results aside and run every config again. */
  fresh?: boolean;
  /** --rerun: what runs again besides configs without a current record. */
  rerun?: RerunMode;
  /** --only values: only units with matching configs are queued, and their workers run only those. */
  only?: readonly string[];
  /** --setup: run the setup again on the host's server even though it is current. */
  setup?: boolean;
  /** The caller (sweep run --pueue) holds the sweep dir's lock already. */
  lockHeld?: boolean;
}

export type UnitPlan =
  | { unit: string; action: 'queue'; reason: string; probe: UnitProbe; previous?: string }
  | { unit: string; action: 'active'; state: string }
  | { unit: string; action: 'complete'; probe: UnitProbe }
  | { unit: string; action: 'not-selected' };

export interface SubmitReport {
  sweep: string;
  /** The spec as given on the command line. */
  spec: string;
  host: string;
  dir: string;
  group: string;
  dry_run: boolean;
  /** Where the workers' records will say they ran (src/engine/target.ts). */
  target: string;
  preflight: {
    node: { path: string; version: string };
    pueue: { path: string; version: string };
    clickhouse: { url: string; version: string };
    /** null when memory_max is not set. */
    memory_cap: { memory_max: string; enforced: boolean; message: string } | null;
    state_file: { path: string | null; bytes: number | null };
    password: 'sent' | 'stored-earlier' | 'none';
  };
  /** The setup on the host's server: `none` (no setup), `current` (ran with this SQL), `run` (runs / would run, and why). */
  setup: { action: 'none' | 'current' | 'run'; reason: string; statements: number; elapsed_ms: number | null };
  plan: {
    queue: Array<{ unit: string; reason: string; previous?: string }>;
    active: Array<{ unit: string; state: string }>;
    complete: string[];
    not_selected: number;
    /** Finished tasks of this sweep removed before queueing. */
    remove: number;
    after: Array<{ step: string; replace: number; wait_for: number }>;
    resume_group: boolean;
  };
  /** With --fresh: where the host's results went. */
  moved_aside: string | null;
  sync: SyncSummary | null;
  queued: Array<{ unit: string; label: string; id: number }>;
  failed: Array<{ unit: string; label: string; message: string }>;
  /** Units found complete after the sync (their index changed; checked again before queueing). */
  complete_after_sync: string[];
  after: Array<{ step: string; label: string; id?: number; message?: string }>;
  /** Finished tasks of this sweep actually removed. */
  removed: number;
  group_resumed: boolean;
  warnings: string[];
  /** The local record of this submission (`<out>/submissions.ndjson`). */
  record: string | null;
  connections: number;
  timings: { total_ms: number; preflight_ms: number; setup_ms: number; sync_ms: number; queue_ms: number; add_ms: number[] };
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
  const rerun = opts.rerun ?? 'errors';
  const selection = parseOnly(opts.only ?? [], Object.keys(ctx.spec.params));
  const selectedUnits = selection ? unitsWithSelected(ctx, selection) : undefined;
  // A dry run writes nothing here: it needs no lock. Everything else is one writer at a time.
  const lock = dryRun || opts.lockHeld ? undefined : await acquireSweepLock(ctx.outDir, `sweep submit-all ${opts.specPath}`);
  try {
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
      const origin = originOf(ctx, ch.url, found.raw.hostname, opts.setup === true);
      const inspectInput: InspectInput = {
        sweep: ctx.name,
        group: ctx.group,
        sweepDir: ctx.sweepDir,
        node: node.path,
        pueue: pueueRef,
        units: ctx.units.map((u) => ({ id: u.id, indexSha256: indexShas.get(u.id) as string })),
        origin,
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

      let memoryCap: SubmitReport['preflight']['memory_cap'] = null;
      if (ctx.remote.memory_max) {
        const enforced = inspected.systemd?.ok === true;
        memoryCap = { memory_max: ctx.remote.memory_max, enforced, message: inspected.systemd?.message ?? '' };
        if (!enforced) {
          warnings.push(
            `remote.memory_max ${ctx.remote.memory_max} is NOT enforced on ${host}: a trial 'systemd-run --user --scope' failed (${inspected.systemd?.message ?? 'unknown'}); units run without a memory cap`,
          );
        }
      }
      const stateBytes = inspected.stateFile.path !== null ? inspected.stateFile.bytes : null;
      const stateWarning = stateFileWarning(inspected.stateFile);
      if (stateWarning) warnings.push(stateWarning);

      const plan = planSubmission(ctx, status, inspected, { rerun, fresh: opts.fresh === true, selectedUnits });
      for (const a of plan.active) if (a.state === 'Stashed') warnings.push(`unit ${a.unit} has a stashed task: it runs only after 'pueue enqueue' (left as it is)`);
      if (plan.foreignInGroup > 0) {
        warnings.push(`pueue group ${ctx.group} also holds ${plan.foreignInGroup} task(s) that are not this sweep's: give each sweep its own group (remote.group)`);
      }
      const setup = setupDecision(origin, inspected.setup);
      // Setup rebuilds the data units read, --fresh moves their results: never under a queued or running unit.
      const busy = [...new Set([...plan.active.map((a) => a.unit), ...inspected.liveUnits])].sort();
      const why = setup.action === 'run' ? `setup must run (${setup.reason})` : opts.fresh ? '--fresh moves the results aside' : undefined;
      if (why && busy.length > 0) {
        const message = `${why}, but ${busy.length} unit(s) of this sweep are queued or running on ${host}: ${busy.slice(0, 5).join(', ')}${busy.length > 5 ? ', ...' : ''}; wait for them or 'sweep stop ${opts.specPath}' first`;
        if (!dryRun) throw new UserError('SWEEP_ACTIVE', message);
        warnings.push(`a real submission would refuse: ${message}`);
      }
      const passwordMode = password !== undefined ? 'sent' : inspected.passwordFile ? 'stored-earlier' : 'none';
      const report: SubmitReport = {
        sweep: ctx.name,
        spec: opts.specPath,
        host,
        dir: ctx.sweepDir,
        group: ctx.group,
        dry_run: dryRun,
        target: origin.target,
        preflight: {
          node,
          pueue: pueueBin,
          clickhouse: { url: ch.display, version: chVersion },
          memory_cap: memoryCap,
          state_file: { path: inspected.stateFile.path, bytes: stateBytes },
          password: passwordMode,
        },
        setup: { action: setup.action, reason: setup.reason, statements: 0, elapsed_ms: null },
        plan: {
          queue: plan.units.flatMap((u) => (u.action === 'queue' ? [{ unit: u.unit, reason: u.reason, ...(u.previous ? { previous: u.previous } : {}) }] : [])),
          active: plan.active,
          complete: plan.units.flatMap((u) => (u.action === 'complete' ? [u.unit] : [])),
          not_selected: plan.units.filter((u) => u.action === 'not-selected').length,
          remove: plan.removeIds.length,
          after: plan.after.map((a) => ({ step: a.step, replace: a.replaceIds.length, wait_for: a.waitIds.length })),
          resume_group: plan.resumeGroup,
        },
        moved_aside: null,
        sync: null,
        queued: [],
        failed: [],
        complete_after_sync: [],
        after: [],
        removed: 0,
        group_resumed: false,
        warnings,
        record: null,
        connections: 0,
        timings: { total_ms: 0, preflight_ms: round(performance.now() - t0), setup_ms: 0, sync_ms: 0, queue_ms: 0, add_ms: [] },
      };
      log(
        `audit: ${report.plan.queue.length} unit(s) to queue, ${plan.active.length} already queued or running, ${report.plan.complete.length} complete` +
          (plan.removeIds.length > 0 ? `; ${plan.removeIds.length} finished task(s) of this sweep to remove` : '') +
          (setup.action === 'run' ? `; setup ${dryRun ? 'would run' : 'runs'} (${setup.reason})` : ''),
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
        fresh: opts.fresh === true,
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
      report.moved_aside = prepared.movedAside?.dir ?? null;
      if (prepared.movedAside) log(`--fresh: ${prepared.movedAside.entries} result file(s) moved aside to ${host}:${prepared.movedAside.dir}`);

      // ---- rsync (the session stays open meanwhile)
      const s0 = performance.now();
      log(`rsync ${ctx.outDir}/ -> ${host}:${ctx.sweepDir}/ ...`);
      report.sync = await transport.push(ctx.outDir, ctx.sweepDir, { step: 'rsync', timeoutMs: 60 * 60_000, filters: PUSH_FILTERS, delete: true });
      report.timings.sync_ms = round(performance.now() - s0);
      warnings.push(...report.sync.warnings);
      log(`rsync: ${report.sync.files} file(s) sent, ${report.sync.bytes} bytes, ${Math.round(report.sync.ms)} ms`);

      // ---- setup, on the host's server, from the host, before anything is queued
      if (setup.action === 'run') {
        const st0 = performance.now();
        log(`setup: running ${ctx.spec.setup ?? 'setup.sql'} on ${ch.display} from ${host} (${setup.reason}) ...`);
        const outcome = await runSetupOnHost(session, host, { sweepDir: ctx.sweepDir, url: ch.url, force: opts.setup === true });
        report.setup = { action: outcome.action, reason: outcome.reason, statements: outcome.statements, elapsed_ms: outcome.elapsed_ms };
        report.timings.setup_ms = round(performance.now() - st0);
        log(`setup: ${outcome.statements} statement(s) in ${(outcome.elapsed_ms / 1000).toFixed(1)} s`);
      }

      // ---- queue
      const q0 = performance.now();
      const workerFlags = [...(rerun !== 'errors' ? ['--rerun', rerun] : []), ...(selection ? selection.flags.flatMap((f) => ['--only', f]) : [])];
      const queueInput: QueueInput = {
        sweepDir: ctx.sweepDir,
        group: ctx.group,
        parallel: ctx.remote.parallel,
        groupExists: status.groups[ctx.group] !== undefined,
        startGroup: plan.resumeGroup,
        node: node.path,
        pueue: pueueRef,
        withSystemd,
        origin: { ...origin, forceSetup: false },
        units: plan.units.flatMap((u) =>
          u.action === 'queue'
            ? [
                {
                  unit: u.unit,
                  label: unitLabel(ctx.name, u.unit),
                  command: unitCommand({ node: node.path, sweepDir: ctx.sweepDir, unit: u.unit, url: ch.url, memoryMax: withSystemd ? ctx.remote.memory_max : undefined, flags: workerFlags }),
                  // The audit could not judge a unit whose index on the host was missing or old: judge it again after
                  // the rsync, unless there is nothing to judge (no results file yet: the first submission), or the
                  // user asked for more than the done-rule (--rerun, --fresh, --only).
                  recheckIndexSha:
                    u.probe.index === 'same' || (u.probe.index === 'missing' && u.probe.bytes === 0) || workerFlags.length > 0 || opts.fresh ? null : (indexShas.get(u.unit) as string),
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
      report.timings.queue_ms = round(performance.now() - q0);
      report.timings.add_ms = queued.addMs.map(round);
      if (queued.group.error) throw new RemoteError(host, 'queue', `could not create or size pueue group ${ctx.group}: ${queued.group.error}`);
      report.queued = queued.added;
      report.failed = queued.failed;
      report.complete_after_sync = queued.complete;
      report.after = queued.after;
      report.group_resumed = queued.started;
      report.record = writeRecord(ctx, report, ch.url);
      return finish(report, transport, t0);
    } finally {
      await session.close();
    }
  } finally {
    await lock?.release();
  }
}

function round(ms: number): number {
  return Math.round(ms);
}

/** Units holding at least one config that --only selects (from the local unit indexes). */
function unitsWithSelected(ctx: SweepContext, selection: ConfigSelection): Set<string> {
  const out = new Set<string>();
  for (const u of ctx.units) {
    const index = JSON.parse(readFileSync(join(ctx.outDir, 'units', `${u.id}.json`), 'utf8')) as UnitIndex;
    if (index.configs.some((c) => isSelected(selection, c.params))) out.add(u.id);
  }
  if (out.size === 0) throw new UserError('FLAG_INVALID', `--only ${selection.flags.join(' --only ')}: expected it to select some configs, found none in the sweep`);
  return out;
}

/** Whether setup must run on the host's server, from the local setup.sql and the host's setup record. */
function setupDecision(origin: Origin, record: InspectOutput['setup']): { action: 'none' | 'current' | 'run'; reason: string } {
  if (origin.setupSha === null) return { action: 'none', reason: 'no setup in the spec' };
  if (!record) return { action: 'run', reason: 'never ran on this target' };
  if (record.setup_sha256 !== origin.setupSha) return { action: 'run', reason: 'the setup SQL changed' };
  if (origin.forceSetup) return { action: 'run', reason: '--setup' };
  return { action: 'current', reason: `ran ${record.ran_at}` };
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

function finish(report: SubmitReport, transport: Transport, t0: number): SubmitReport {
  report.connections = transport.stats.connections;
  report.timings.total_ms = round(performance.now() - t0);
  return report;
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
export interface PlanOptions {
  rerun: RerunMode;
  /** --fresh: every unit runs again. */
  fresh: boolean;
  /** --only: units holding a selected config (others are left alone). */
  selectedUnits?: ReadonlySet<string> | undefined;
}

/** Pure: what to queue, skip, remove and chain, from the audit. */
export function planSubmission(
  ctx: Pick<SweepContext, 'name' | 'group' | 'units' | 'spec'>,
  status: StatusView,
  inspected: Pick<InspectOutput, 'units'>,
  opts: PlanOptions = { rerun: 'errors', fresh: false },
): Plan {
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
function writeRecord(ctx: SweepContext, report: SubmitReport, url: string): string {
  const path = join(ctx.outDir, 'submissions.ndjson');
  const line = {
    time: new Date().toISOString(),
    tool_version: TOOL_VERSION,
    host: report.host,
    dir: report.dir,
    group: report.group,
    // No password in it: clickhouseTarget refuses one. status and stop read it back for a run --pueue.
    clickhouse_url: url,
    target: report.target,
    setup: report.setup.action,
    tasks: report.queued,
    after: report.after,
    skipped: { active: report.plan.active.length, complete: report.plan.complete.length + report.complete_after_sync.length },
    failed: report.failed.map((f) => f.unit),
  };
  appendFileSync(path, `${JSON.stringify(line)}\n`);
  return path;
}
