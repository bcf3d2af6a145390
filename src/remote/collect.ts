/**
 * `sweep collect`: one rsync per host, every host at once, brings its
 * results/*.ndjson into its own local dir (<out>/hosts/<host>/results/), so
 * two hosts' files of one unit never overwrite each other. Then every unit is
 * validated against the local manifest (src/results/validate.ts) from the
 * files of every host it was placed on (placement.json; a unit that moved
 * has records on two hosts and keeps one per config by the worker's own
 * rule), its records counting only for those hosts' targets; the kept
 * records are written to <out>/results.ndjson and their rows to
 * <out>/rows.ndjson (merge.ts).
 *
 * Safe on a running sweep: rsync copies each file to a temp name and renames
 * it, so a local file is always a whole snapshot; a line being appended at
 * that moment shows up as a torn tail, reported and left out, and the next
 * collect picks the record up. The pull never deletes local files. A host
 * that does not answer is a row saying why; its last copy is used.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { posix } from 'node:path';
import { defaultReportPath } from '../report/report.js';
import { mergeResults, type MergeReport } from '../results/merge.js';
import { RemoteError, type SyncSummary } from '../transport/transport.js';
import { acquireSweepLock } from '../worker/lock.js';
import { loadSweepContext, type HostContext, type SweepContext } from './context.js';
import { whyOf } from './fanout.js';
import { hostWeights, readPlacement, unitsByHost } from './placement.js';

export interface CollectOptions {
  specPath: string;
  cwd?: string;
  outDir?: string;
  /** Skip the rsync and validate what is already in <out>/hosts/*\/results (offline). */
  noSync?: boolean;
  log?: (line: string) => void;
}

export interface HostCollect {
  host: string;
  /** The sweep dir on the host. */
  dir: string;
  /** Where its results were copied. */
  local: string;
  /** The rsync worked (or was not asked for: --no-sync, a host with no unit). */
  reachable: boolean;
  why: string | null;
  sync: SyncSummary | null;
  /** The target its records must carry (from placement.json; null when not known: any one target counts). */
  target: string | null;
}

export interface CollectReport extends MergeReport {
  sweep: string;
  out: string;
  hosts: HostCollect[];
  /** Where `sweep report` (or `collect --report`) writes the HTML report. */
  report: string;
  warnings: string[];
  connections: number;
}

export async function collect(opts: CollectOptions): Promise<CollectReport> {
  const log = opts.log ?? (() => undefined);
  const ctx = await loadSweepContext({ specPath: opts.specPath, cwd: opts.cwd, outDir: opts.outDir, allowStale: true, localFallback: true });
  // Writes results.ndjson and rows.ndjson: one writer per sweep dir at a time.
  const lock = await acquireSweepLock(ctx.outDir, `sweep collect ${opts.specPath}`);
  try {
    return await collectLocked(ctx, opts, log);
  } finally {
    await lock.release();
  }
}

async function collectLocked(ctx: SweepContext, opts: CollectOptions, log: (line: string) => void): Promise<CollectReport> {
  const warnings: string[] = [];
  const placementFile = readPlacement(ctx.outDir);
  const placed = unitsByHost(ctx, hostWeights(ctx, new Map()));
  // Hosts no unit was ever placed on have nothing to pull (and maybe no sweep dir).
  const everUsed = new Set([...placed.history.values()].flat());
  const hosts: HostCollect[] = await Promise.all(
    ctx.hosts.map(async (h): Promise<HostCollect> => {
      const row: HostCollect = { host: h.host, dir: h.sweepDir, local: h.localResults, reachable: true, why: null, sync: null, target: placementFile?.hosts[h.host]?.target ?? null };
      mkdirSync(h.localResults, { recursive: true });
      if (opts.noSync || (ctx.hosts.length > 1 && !everUsed.has(h.host))) return row;
      try {
        row.sync = await pull(ctx, h, opts.specPath, log);
      } catch (err) {
        // One host: its failure is the command's (exit 2). Several: a row saying why; its last copy is used.
        if (ctx.hosts.length === 1) throw err;
        row.reachable = false;
        row.why = whyOf(err as Error, h.host).split('\n')[0] ?? String(err);
      }
      return row;
    }),
  );
  for (const h of hosts) {
    if (h.sync) warnings.push(...h.sync.warnings.map((w) => (ctx.hosts.length > 1 ? `${h.host}: ${w}` : w)));
    if (!h.reachable) warnings.push(`host ${h.host} did not answer (${h.why ?? ''}): its results are the copy from an earlier collect (${h.local})`);
  }

  const byHost = new Map(ctx.hosts.map((h) => [h.host, h]));
  const merged = await mergeResults({
    sweep: ctx.name,
    outDir: ctx.outDir,
    units: ctx.units,
    // Oldest placement first: a moved unit's newer records come last, as the worker's rule expects of file order.
    sources: (unit) => (placed.history.get(unit) ?? []).flatMap((host) => (byHost.has(host) ? [{ host, dir: (byHost.get(host) as HostContext).localResults }] : [])),
    accept: (unit) => {
      const targets = (placed.history.get(unit) ?? []).map((host) => placementFile?.hosts[host]?.target ?? null);
      // A host whose target is not known (submitted by an older sweep, or never reached): any target, one per host.
      return targets.length > 0 && targets.every((t) => t !== null) ? { targets: targets as string[] } : undefined;
    },
    hosts: ctx.hosts.length,
  });
  const { extra_files, files } = merged;
  if (extra_files.length > 0) warnings.push(`${extra_files.length} results file(s) for units not in the manifest (left out): ${extra_files.slice(0, 3).join(', ')}${extra_files.length > 3 ? ', ...' : ''}`);
  if (merged.mixed_origins) {
    warnings.push(
      `the records come from ${merged.origins.length} targets or setup generations (${merged.origins.map((o) => `${o.origin}: ${o.records}`).join('; ')}): ` +
        `${ctx.hosts.length > 1 ? "each host's records must all come from its one target" : "a sweep's results must all come from one"}; ` +
        `'sweep submit-all' runs the others again on the current target`,
    );
  }
  if (merged.totals.stale > 0 && ctx.hosts.length > 1) warnings.push(`${merged.totals.stale} record(s) were written for another target than their host's now (or for SQL that changed): they run again on 'sweep submit-all'`);
  if (files.row_key_collisions > 0) warnings.push(`${files.row_key_collisions} row column(s) named like a param but with another value were written as row_<name> in rows.ndjson`);
  return {
    sweep: ctx.name,
    out: ctx.outDir,
    hosts,
    report: defaultReportPath(ctx.outDir),
    ...merged,
    warnings,
    connections: ctx.hosts.reduce((n, h) => n + h.transport.stats.connections, 0),
  };
}

async function pull(ctx: SweepContext, h: HostContext, specPath: string, log: (line: string) => void): Promise<SyncSummary | null> {
  // A local host whose sweep dir is this output dir is read in place.
  if (h.localResults === posix.join(h.sweepDir, 'results') && existsSync(h.localResults)) return null;
  log(`rsync ${h.host}:${h.sweepDir}/results/ -> ${h.localResults}/ ...`);
  try {
    const sync = await h.transport.pull(posix.join(h.sweepDir, 'results'), h.localResults, {
      step: 'collect',
      timeoutMs: 60 * 60_000,
      // results/shapes/<unit>.ndjson carry the column types (record v2); .previous/ and .superseded/ stay on the host.
      filters: ['--include=/shapes/', '--include=*.ndjson', '--exclude=*'],
    });
    log(`${h.host}: rsync: ${sync.files} file(s) updated, ${sync.bytes} bytes`);
    return sync;
  } catch (err) {
    if (err instanceof RemoteError && /No such file or directory/.test(err.message)) {
      throw new RemoteError(h.host, 'collect', `${h.sweepDir}/results does not exist on the host: was the sweep submitted? (sweep submit-all ${specPath})`, 'NOT_SUBMITTED');
    }
    throw err;
  }
}
