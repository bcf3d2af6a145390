/**
 * `sweep collect`: one rsync brings the host's results/*.ndjson into
 * <out>/results/, then every unit is validated against the local manifest
 * (src/results/validate.ts), and the kept records are written to
 * <out>/results.ndjson and their rows to <out>/rows.ndjson (merge.ts).
 *
 * Safe on a running sweep: rsync copies each file to a temp name and renames
 * it, so a local file is always a whole snapshot; a line being appended at
 * that moment shows up as a torn tail, reported and left out, and the next
 * collect picks the record up. The pull never deletes local files.
 */
import { mkdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { defaultReportPath } from '../report/report.js';
import { mergeResults, type MergeReport } from '../results/merge.js';
import { RemoteError, type SyncSummary, type Transport } from '../transport/transport.js';
import { acquireSweepLock } from '../worker/lock.js';
import { loadSweepContext, type SweepContext } from './context.js';

export interface CollectOptions {
  specPath: string;
  cwd?: string;
  outDir?: string;
  transport?: Transport;
  /** Skip the rsync and validate what is already in <out>/results (offline). */
  noSync?: boolean;
  log?: (line: string) => void;
}

export interface CollectReport extends MergeReport {
  sweep: string;
  host: string;
  dir: string;
  out: string;
  /** Where `sweep report` (or `collect --report`) writes the HTML report. */
  report: string;
  sync: SyncSummary | null;
  warnings: string[];
  connections: number;
}

export async function collect(opts: CollectOptions): Promise<CollectReport> {
  const log = opts.log ?? (() => undefined);
  const ctx = await loadSweepContext({ specPath: opts.specPath, cwd: opts.cwd, outDir: opts.outDir, transport: opts.transport, allowStale: true, localFallback: true });
  // Writes results.ndjson and rows.ndjson: one writer per sweep dir at a time.
  const lock = await acquireSweepLock(ctx.outDir, `sweep collect ${opts.specPath}`);
  try {
    return await collectLocked(ctx, opts, log);
  } finally {
    await lock.release();
  }
}

async function collectLocked(ctx: SweepContext, opts: CollectOptions, log: (line: string) => void): Promise<CollectReport> {
  const { transport } = ctx;
  const localResults = join(ctx.outDir, 'results');
  mkdirSync(localResults, { recursive: true });
  const warnings: string[] = [];
  let sync: SyncSummary | null = null;
  if (!opts.noSync) {
    log(`rsync ${transport.host}:${ctx.sweepDir}/results/ -> ${localResults}/ ...`);
    try {
      sync = await transport.pull(posix.join(ctx.sweepDir, 'results'), localResults, {
        step: 'collect',
        timeoutMs: 60 * 60_000,
        // results/shapes/<unit>.ndjson carry the column types (record v2); .previous/ and .superseded/ stay on the host.
        filters: ['--include=/shapes/', '--include=*.ndjson', '--exclude=*'],
      });
    } catch (err) {
      if (err instanceof RemoteError && /No such file or directory/.test(err.message)) {
        throw new RemoteError(transport.host, 'collect', `${ctx.sweepDir}/results does not exist on the host: was the sweep submitted? (sweep submit-all ${opts.specPath})`, 'NOT_SUBMITTED');
      }
      throw err;
    }
    warnings.push(...sync.warnings);
    log(`rsync: ${sync.files} file(s) updated, ${sync.bytes} bytes`);
  }

  const merged = await mergeResults({ sweep: ctx.name, outDir: ctx.outDir, units: ctx.units, resultsDir: localResults });
  const { extra_files, files } = merged;
  if (extra_files.length > 0) warnings.push(`${extra_files.length} results file(s) for units not in the manifest (left out): ${extra_files.slice(0, 3).join(', ')}${extra_files.length > 3 ? ', ...' : ''}`);
  if (merged.origins.length > 1) {
    warnings.push(
      `the records come from ${merged.origins.length} targets or setup generations (${merged.origins.map((o) => `${o.origin}: ${o.records}`).join('; ')}): a sweep's results must all come from one; ` +
        `'sweep submit-all' runs the others again on the current target`,
    );
  }
  if (files.row_key_collisions > 0) warnings.push(`${files.row_key_collisions} row column(s) named like a param but with another value were written as row_<name> in rows.ndjson`);
  return {
    sweep: ctx.name,
    host: transport.host,
    dir: ctx.sweepDir,
    out: ctx.outDir,
    report: defaultReportPath(ctx.outDir),
    sync,
    ...merged,
    warnings,
    connections: transport.stats.connections,
  };
}
