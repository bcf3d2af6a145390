/**
 * The spec's `setup` SQL: run once per sweep per target, recorded in the sweep
 * dir, never while a unit of the sweep is queued or running.
 *
 *   <sweep dir>/setup.sql                         what generate copied from the spec's setup file
 *   <sweep dir>/.sweep/setup/<target key>.json    what ran on that target: sha256 of the SQL, when,
 *                                                 and the generation id records carry in `setup`
 *
 * A record written under another setup generation is stale (the data it read
 * was rebuilt since), so setup running again makes every config of that target
 * run again. A worker refuses to start (exit 2) when the sweep has setup SQL and
 * its target has no record for that exact SQL: without it every config would
 * fail with UNKNOWN_TABLE, or worse, read a half-built table and record `skipped`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { splitStatements, type Engine } from '../engine/index.js';
import { UserError } from '../errors.js';
import { writeFileAtomicSync } from '../fs/atomic.js';
import { liveHolder } from '../worker/lock.js';

export const SETUP_SQL = 'setup.sql';

export interface SetupRecord {
  v: 1;
  target: string;
  setup_sha256: string;
  /** Carried by every record written under it (`setup` in the record). */
  generation: string;
  ran_at: string;
  statements: number;
  elapsed_ms: number;
  /** e.g. `http 18.16.1`. */
  engine: string;
}

/** A short file-name-safe key for a target: 16 hex digits of its sha256. */
export function targetKey(target: string): string {
  return createHash('sha256').update(target).digest('hex').slice(0, 16);
}

export function setupRecordPath(sweepDir: string, target: string): string {
  return join(sweepDir, '.sweep', 'setup', `${targetKey(target)}.json`);
}

/** The sweep's setup SQL as generate copied it, or undefined when the spec has none. */
export function setupSqlOf(sweepDir: string): { text: string; sha256: string } | undefined {
  const path = join(sweepDir, SETUP_SQL);
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  return { text, sha256: createHash('sha256').update(text).digest('hex') };
}

export function readSetupRecord(sweepDir: string, target: string): SetupRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(setupRecordPath(sweepDir, target), 'utf8')) as Partial<SetupRecord>;
    if (r.v === 1 && r.target === target && typeof r.setup_sha256 === 'string' && typeof r.generation === 'string') return r as SetupRecord;
  } catch {
    // missing or unreadable: setup has not (completely) run here
  }
  return undefined;
}

/**
 * The setup generation records of this target must carry: null when the sweep
 * has no setup. Throws UserError SETUP_NOT_RUN (exit 2) when the sweep has
 * setup SQL that has not run on `target`, or ran in an older version.
 */
export function currentSetupGeneration(sweepDir: string, target: string): string | null {
  const sql = setupSqlOf(sweepDir);
  if (!sql) return null;
  const record = readSetupRecord(sweepDir, target);
  if (record?.setup_sha256 === sql.sha256) return record.generation;
  const why = record ? `its setup ran there at ${record.ran_at} with other SQL (the setup file changed since)` : 'its setup has not run there';
  throw new UserError(
    'SETUP_NOT_RUN',
    `${join(sweepDir, SETUP_SQL)}: expected the sweep's setup to have run on ${target}, found that ${why}; ` +
      `'sweep run' or 'sweep submit-all' runs it (once per target) before any unit`,
  );
}

export type SetupAction = 'none' | 'run' | 'current';

export interface SetupPlan {
  /** `none`: the sweep has no setup; `current`: it ran with this SQL on this target; `run`: it must run. */
  action: SetupAction;
  /** Why it runs: `never ran here`, `SQL changed`, `--setup`. */
  reason: string;
  record?: SetupRecord;
  statements?: string[];
  sha256?: string;
}

/** What setup would do on `target`; `force` is `--setup`. Pure reads; throws only on SQL that does not split. */
export function planSetup(sweepDir: string, target: string, force: boolean): SetupPlan {
  const sql = setupSqlOf(sweepDir);
  if (!sql) return { action: 'none', reason: 'no setup in the spec' };
  const record = readSetupRecord(sweepDir, target);
  const statements = splitStatements(sql.text);
  const base = { statements, sha256: sql.sha256, ...(record ? { record } : {}) };
  if (!record) return { action: 'run', reason: 'never ran on this target', ...base };
  if (record.setup_sha256 !== sql.sha256) return { action: 'run', reason: 'the setup SQL changed', ...base };
  if (force) return { action: 'run', reason: '--setup', ...base };
  return { action: 'current', reason: `ran ${record.ran_at}`, ...base };
}

/** Units whose lock file names a live holder (a worker running now), from `<sweep dir>/results/*.lock`. */
export function liveUnits(sweepDir: string): string[] {
  const dir = join(sweepDir, 'results');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lock'))
    .filter((f) => liveHolder(join(dir, f)) !== undefined)
    .map((f) => f.slice(0, -'.lock'.length))
    .sort();
}

export interface RunSetupOptions {
  sweepDir: string;
  target: string;
  engine: Engine;
  /** e.g. `http 18.16.1`, recorded. */
  engineLabel: string;
  /** `--setup`: run it again even though it is current. */
  force: boolean;
  /** Units the caller knows to be queued or running elsewhere (pueue tasks by label). */
  activeUnits?: readonly string[];
  /** For messages: how the user names the setup file. */
  label?: string;
  signal?: AbortSignal;
}

export interface SetupOutcome {
  action: SetupAction;
  reason: string;
  statements: number;
  elapsed_ms: number;
  generation: string | null;
}

/**
 * Run the setup if it must run (planSetup), refusing (UserError
 * SETUP_WHILE_RUNNING, exit 2) while any unit of the sweep is queued or
 * running. The old record is moved aside before the first statement, so a
 * setup that fails half-way leaves the target marked "not set up" and every
 * worker refuses it, rather than reading a half-built table.
 */
export async function runSetup(o: RunSetupOptions): Promise<SetupOutcome> {
  const plan = planSetup(o.sweepDir, o.target, o.force);
  const current = plan.action === 'current' ? (plan.record?.generation ?? null) : null;
  if (plan.action !== 'run') return { action: plan.action, reason: plan.reason, statements: 0, elapsed_ms: 0, generation: current };
  const busy = [...new Set([...(o.activeUnits ?? []), ...liveUnits(o.sweepDir)])].sort();
  if (busy.length > 0) {
    throw new UserError(
      'SETUP_WHILE_RUNNING',
      `setup must run (${plan.reason}) but ${busy.length} unit(s) of this sweep are queued or running: ${busy.slice(0, 5).join(', ')}${busy.length > 5 ? ', ...' : ''}; ` +
        `it rebuilds the data they read, so it never runs under them: wait for them or 'sweep stop' the sweep, then run again`,
    );
  }
  const path = setupRecordPath(o.sweepDir, o.target);
  mkdirSync(join(o.sweepDir, '.sweep', 'setup', 'previous'), { recursive: true, mode: 0o700 });
  if (existsSync(path)) renameSync(path, join(o.sweepDir, '.sweep', 'setup', 'previous', `${targetKey(o.target)}.${Date.now()}.json`));
  const statements = plan.statements ?? [];
  const t0 = performance.now();
  for (let i = 0; i < statements.length; i++) {
    try {
      await o.engine.exec(statements[i] as string, o.signal ? { signal: o.signal } : {});
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new UserError(
        'SETUP_FAILED',
        `${o.label ?? join(o.sweepDir, SETUP_SQL)}: setup statement ${i + 1} of ${statements.length} failed on ${o.target}: ${msg.split('\n')[0]}; no unit runs until the setup succeeds`,
      );
    }
  }
  const elapsed = performance.now() - t0;
  const ranAt = new Date().toISOString();
  const record: SetupRecord = {
    v: 1,
    target: o.target,
    setup_sha256: plan.sha256 as string,
    generation: `${(plan.sha256 as string).slice(0, 12)}-${ranAt.replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(2).toString('hex')}`,
    ran_at: ranAt,
    statements: statements.length,
    elapsed_ms: Math.round(elapsed),
    engine: o.engineLabel,
  };
  writeFileAtomicSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return { action: 'run', reason: plan.reason, statements: statements.length, elapsed_ms: Math.round(elapsed), generation: record.generation };
}
