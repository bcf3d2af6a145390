/**
 * `sweep stop`: end a sweep's work on its host in one session, gracefully:
 *
 *   queued tasks of the sweep (by label)  removed (after steps too)
 *   running tasks                         SIGTERM: the worker takes no new config, KILLs its
 *                                         queries on the server and writes what finished
 *   still running after the grace period  killed (pueue kill)
 *   the sweep's queries on the server     KILL QUERY by query id prefix, then wait until
 *                                         system.processes holds none of them
 *
 * The pueue group is left as it is (not paused), so `submit-all` afterwards
 * resumes: it queues the units that are not complete. Never takes the sweep
 * dir's lock (it must be able to end a `sweep run --pueue` that holds it).
 * For a spec without `remote:` it stops what `sweep run --pueue` queued in
 * this machine's daemon, and signals an in-process `sweep run` holding the
 * sweep dir (its SIGTERM handler stops its units the same way).
 */
import { join } from 'node:path';
import { discoveryStep, nodeStep, parseDiscovery, parseNodeResult } from '../host/remote-script.js';
import type { StopInput, StopOutput } from '../host/remote-side.js';
import type { RemoteSettings } from '../spec/schema.js';
import { RemoteError, type Transport } from '../transport/transport.js';
import { liveHolder } from '../worker/lock.js';
import { clickhouseTarget, loadSweepContext, type SweepContext } from './context.js';

export interface StopOptions {
  specPath: string;
  cwd?: string;
  outDir?: string;
  remote?: RemoteSettings;
  transport?: Transport;
  /** Seconds running workers get after SIGTERM before they are killed (default 30). */
  graceS?: number;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface StopReport {
  sweep: string;
  host: string;
  dir: string;
  removed: StopOutput['removed'];
  signalled: StopOutput['signalled'];
  killed: StopOutput['killed'];
  /** ms from SIGTERM until every signalled worker had ended; null when none was running or some had to be killed. */
  ended_ms: number | null;
  /** The sweep's queries on the server: how many KILL QUERY matched, how many were left when it stopped waiting. */
  queries: StopOutput['queries'];
  /** An in-process `sweep run` of this sweep on this machine, sent SIGTERM. */
  local_run: { pid: number; command: string } | null;
  errors: string[];
  connections: number;
  total_ms: number;
}

export async function stopSweep(opts: StopOptions): Promise<StopReport> {
  const ctx = await loadSweepContext({
    specPath: opts.specPath,
    cwd: opts.cwd,
    outDir: opts.outDir,
    transport: opts.transport,
    remote: opts.remote,
    allowStale: true,
    localFallback: true,
  });
  return stopInContext(ctx, opts);
}

export async function stopInContext(ctx: SweepContext, opts: Pick<StopOptions, 'graceS' | 'env' | 'log'> = {}): Promise<StopReport> {
  const t0 = performance.now();
  const log = opts.log ?? (() => undefined);
  const env = opts.env ?? process.env;
  const { transport } = ctx;
  const host = transport.host;
  const graceMs = Math.round((opts.graceS ?? 30) * 1000);
  // An in-process `sweep run` here holds the sweep dir's lock: its own signal handler stops its units.
  const local_run = transport.kind === 'local' ? signalLocalRun(ctx.outDir, log) : null;
  let url: string | undefined;
  try {
    url = clickhouseTarget(ctx, env, host).url;
  } catch {
    url = undefined; // no server known (an embedded run): nothing to kill on one
  }
  const session = transport.openSession();
  try {
    const d = parseDiscovery((await session.run(discoveryStep(), { step: 'connect', timeoutMs: 45_000 })).stdout);
    if (!d.node || !d.pueue) {
      throw new RemoteError(host, 'stop', `${!d.node ? 'node >= 20' : 'pueue v4'} not found on the host (found: ${d.seen.join('; ') || 'nothing'})`);
    }
    const input: StopInput = {
      sweep: ctx.name,
      sweepDir: ctx.sweepDir,
      pueue: { bin: d.pueue.path, config: ctx.remote.pueue_config ?? null },
      graceMs,
      clickhouse: url ? { url, user: ctx.spec.clickhouse.user, database: ctx.spec.clickhouse.database } : null,
    };
    log(`stopping sweep ${ctx.name} on ${host}: queued tasks removed, running ones sent SIGTERM (grace ${graceMs / 1000} s) ...`);
    const password = env['CLICKHOUSE_PASSWORD'];
    const out = parseNodeResult<StopOutput>(
      host,
      'stop',
      await session.run(nodeStep('stop', input, password !== undefined ? { SWEEP_CLICKHOUSE_PASSWORD: password } : {}), { step: 'stop', timeoutMs: graceMs + 90_000 }),
    );
    return {
      sweep: ctx.name,
      host,
      dir: ctx.sweepDir,
      removed: out.removed,
      signalled: out.signalled,
      killed: out.killed,
      ended_ms: out.ended_ms,
      queries: out.queries,
      local_run,
      errors: out.errors,
      connections: transport.stats.connections,
      total_ms: Math.round(performance.now() - t0),
    };
  } finally {
    await session.close();
  }
}

function signalLocalRun(outDir: string, log: (line: string) => void): StopReport['local_run'] {
  const holder = liveHolder(join(outDir, '.sweep', 'lock'));
  if (!holder?.command?.startsWith('sweep run') || holder.pid === process.pid) return null;
  try {
    process.kill(holder.pid, 'SIGTERM');
    log(`sent SIGTERM to ${holder.command} (pid ${holder.pid})`);
    return { pid: holder.pid, command: holder.command };
  } catch {
    return null;
  }
}
