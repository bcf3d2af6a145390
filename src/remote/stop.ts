/**
 * `sweep stop`: end a sweep's work on every host at once, one session each, gracefully:
 *
 *   queued tasks of the sweep (by label)  removed (after steps too)
 *   running tasks                         SIGTERM: the worker takes no new config, KILLs its
 *                                         queries on the server and writes what finished
 *   still running after the grace period  killed (pueue kill)
 *   the sweep's queries on the server     KILL QUERY by query id prefix, then wait until
 *                                         system.processes holds none of them
 *   the host's autoscale controller       SIGTERM like a unit (its label is the sweep's)
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
import { RemoteError } from '../transport/transport.js';
import { liveHolder } from '../worker/lock.js';
import { clickhouseTarget, loadSweepContext, type SweepContext } from './context.js';
import { onEveryHost } from './fanout.js';

export interface StopOptions {
  specPath: string;
  cwd?: string;
  outDir?: string;
  remote?: RemoteSettings;
  /** Seconds running workers get after SIGTERM before they are killed (default 30). */
  graceS?: number;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

type Task = StopOutput['removed'][number] & { host: string };

export interface HostStop {
  host: string;
  dir: string;
  reachable: boolean;
  why: string | null;
  removed: StopOutput['removed'];
  signalled: StopOutput['signalled'];
  killed: StopOutput['killed'];
  ended_ms: number | null;
  queries: StopOutput['queries'];
  errors: string[];
}

export interface StopReport {
  sweep: string;
  /** One row per host (every host of the sweep is stopped at once). */
  hosts: HostStop[];
  /** Every host's tasks together, each naming its host. */
  removed: Task[];
  signalled: Task[];
  killed: Task[];
  /** ms from SIGTERM until every signalled worker had ended (the slowest host); null when none was running or some had to be killed. */
  ended_ms: number | null;
  /** The sweep's queries on the servers: how many KILL QUERY matched, how many were left when it stopped waiting (summed over hosts). */
  queries: StopOutput['queries'];
  /** An in-process `sweep run` of this sweep on this machine, sent SIGTERM. */
  local_run: { pid: number; command: string } | null;
  /** Errors, and hosts that did not answer, each naming its host. */
  errors: string[];
  connections: number;
  total_ms: number;
}

export async function stopSweep(opts: StopOptions): Promise<StopReport> {
  const ctx = await loadSweepContext({
    specPath: opts.specPath,
    cwd: opts.cwd,
    outDir: opts.outDir,
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
  const graceMs = Math.round((opts.graceS ?? 30) * 1000);
  // An in-process `sweep run` here holds the sweep dir's lock: its own signal handler stops its units.
  const local_run = ctx.hosts.some((h) => h.transport.kind === 'local') ? signalLocalRun(ctx.outDir, log) : null;
  const password = env['CLICKHOUSE_PASSWORD'];
  log(`stopping sweep ${ctx.name} on ${ctx.hosts.map((h) => h.host).join(', ')}: queued tasks removed, running ones sent SIGTERM (grace ${graceMs / 1000} s) ...`);
  const outcomes = await onEveryHost(ctx.hosts, () => graceMs + 150_000, 'stop', async (h, session) => {
    let url: string | undefined;
    try {
      url = clickhouseTarget(ctx, env, h).url;
    } catch {
      url = undefined; // no server known (an embedded run): nothing to kill on one
    }
    const d = parseDiscovery((await session.run(discoveryStep(), { step: 'connect', timeoutMs: 45_000 })).stdout);
    if (!d.node || !d.pueue) {
      throw new RemoteError(h.host, 'stop', `${!d.node ? 'node >= 20' : 'pueue v4'} not found on the host (found: ${d.seen.join('; ') || 'nothing'})`);
    }
    const input: StopInput = {
      sweep: ctx.name,
      sweepDir: h.sweepDir,
      pueue: { bin: d.pueue.path, config: h.pueueConfig },
      graceMs,
      clickhouse: url ? { url, user: ctx.spec.clickhouse.user, database: ctx.spec.clickhouse.database } : null,
    };
    return parseNodeResult<StopOutput>(
      h.host,
      'stop',
      await session.run(nodeStep('stop', input, password !== undefined ? { SWEEP_CLICKHOUSE_PASSWORD: password } : {}), { step: 'stop', timeoutMs: graceMs + 90_000 }),
    );
  });
  // One host: its failure is the command's, as before (exit 2 naming it).
  const only = outcomes[0];
  if (outcomes.length === 1 && only && !only.ok) throw only.error;
  const hosts: HostStop[] = outcomes.map((o) =>
    o.ok
      ? { host: o.host.host, dir: o.host.sweepDir, reachable: true, why: null, ...o.value }
      : { host: o.host.host, dir: o.host.sweepDir, reachable: false, why: o.why, removed: [], signalled: [], killed: [], ended_ms: null, queries: null, errors: [] },
  );
  const tag = (h: HostStop, list: StopOutput['removed']): Task[] => list.map((t) => ({ ...t, host: h.host }));
  const ended = hosts.filter((h) => h.signalled.length > 0);
  const q = hosts.flatMap((h) => (h.queries ? [h.queries] : []));
  return {
    sweep: ctx.name,
    hosts,
    removed: hosts.flatMap((h) => tag(h, h.removed)),
    signalled: hosts.flatMap((h) => tag(h, h.signalled)),
    killed: hosts.flatMap((h) => tag(h, h.killed)),
    ended_ms: ended.length > 0 && ended.every((h) => h.ended_ms !== null) ? Math.max(...ended.map((h) => h.ended_ms as number)) : null,
    queries:
      q.length === 0
        ? null
        : {
            killed: q.reduce((n, x) => n + Math.max(0, x.killed), 0),
            remaining: q.some((x) => x.remaining < 0) ? -1 : q.reduce((n, x) => n + x.remaining, 0),
            waited_ms: Math.max(...q.map((x) => x.waited_ms)),
            ...(q.some((x) => x.error) ? { error: q.flatMap((x) => (x.error ? [x.error] : [])).join('; ') } : {}),
          },
    local_run,
    errors: [
      ...hosts.flatMap((h) => h.errors.map((e) => (hosts.length > 1 ? `${h.host}: ${e}` : e))),
      ...hosts.filter((h) => !h.reachable).map((h) => `${h.host}: did not answer (${h.why ?? ''}); its units were not stopped`),
    ],
    connections: ctx.hosts.reduce((n, h) => n + h.transport.stats.connections, 0),
    total_ms: Math.round(performance.now() - t0),
  };
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
