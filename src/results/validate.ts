/**
 * Collect's proof of completeness: one unit's results file checked against the
 * configs the manifest expects. Every line is accounted for (a record kept, a
 * duplicate, a record of changed SQL, a record of a config not in the unit, a
 * bad line, a torn tail); every expected config ends ok, skipped, error or
 * missing. Pure: the caller reads the file (src/results/ndjson.ts).
 *
 * Which record speaks for a config with several (a retried error, a config
 * run twice): the latest ok/skipped one if there is any, else the latest
 * error, "latest" meaning last in the file, which is append-only and written
 * under the unit lock, so file order is write order. This is the worker's own
 * rule (an ok/skipped record with the current SQL hash means done), so collect
 * and the worker's skip-done can never disagree about a config.
 */
import { headOf, type NdjsonLine } from './ndjson.js';
import type { AnyRecord, Params, RecordError, TerminalStatus } from './record.js';

export interface ExpectedConfig {
  id: string;
  sql_sha256: string;
  params: Params;
}

export interface UnitCounts {
  configs: number;
  ok: number;
  skipped: number;
  error: number;
  /** Configs with no record for their current SQL. */
  missing: number;
  /** Configs with more than one record for their current SQL (the latest is kept). */
  duplicate: number;
  /** An incomplete last line: a write cut short (kill -9), or a file caught mid-append. */
  torn: number;
  /** Complete lines that are not JSON or not a result record. */
  bad: number;
  /**
   * Records that do not count for the current run: their sql_sha256 differs from
   * the manifest (the SQL changed since they ran), or they were written for
   * another target or setup generation than the one asked for.
   */
  stale: number;
  /** Records of config ids this unit does not have. */
  unknown: number;
  /** Records that name another sweep or unit. */
  foreign: number;
}

export interface UnitValidation {
  unit: string;
  counts: UnitCounts;
  /** The record kept for each config that has one, in the manifest's config order. */
  kept: AnyRecord[];
  /** `target|setup` of the kept records, with counts (v1 records: `(v1)`), so a caller can see a mix. */
  origins: Map<string, number>;
  /** Config ids with no record, in manifest order. */
  missing: string[];
  /** Kept records with status error. */
  errors: Array<{ config: string; error: RecordError | undefined }>;
  /** A few human lines about lines that were not kept (bad, torn, foreign, unknown), with line numbers. */
  notes: string[];
}

const MAX_NOTES = 5;

export function emptyCounts(): UnitCounts {
  return { configs: 0, ok: 0, skipped: 0, error: 0, missing: 0, duplicate: 0, torn: 0, bad: 0, stale: 0, unknown: 0, foreign: 0 };
}

export function addCounts(into: UnitCounts, c: UnitCounts): void {
  for (const k of Object.keys(into) as Array<keyof UnitCounts>) into[k] += c[k];
}

/**
 * Which records count: exactly one target and setup generation (what `sweep
 * run` wrote with), or any of some targets (collect: the targets of the hosts
 * a unit was placed on; whether each target's records share one setup
 * generation is merge.ts's check, across the whole sweep).
 */
export type CurrentOrigin = { target: string; setup: string | null } | { targets: readonly string[] };

/** A line of a results file, with the host it came from when a unit's records come from several (collect of a moved unit). */
export type SourcedLine = NdjsonLine & { source?: string };

/** `target|setup` of a record, for counting which origins a sweep's records come from. */
export function originOf(r: AnyRecord): string {
  return r.v === 2 ? `${r.target}|${r.setup ?? '-'}` : '(v1)';
}

export function validateUnit(
  sweep: string,
  unit: string,
  expected: readonly ExpectedConfig[],
  lines: readonly SourcedLine[],
  current?: CurrentOrigin,
): UnitValidation {
  const counts = emptyCounts();
  counts.configs = expected.length;
  const notes: string[] = [];
  const note = (text: string): void => {
    if (notes.length < MAX_NOTES) notes.push(text);
  };
  const want = new Map<string, ExpectedConfig>();
  for (const c of expected) want.set(c.id, c);
  const candidates = new Map<string, AnyRecord[]>();

  for (const line of lines) {
    const at = line.source !== undefined ? `${line.source}: line ${line.lineNo}` : `line ${line.lineNo}`;
    if (line.kind === 'torn') {
      counts.torn++;
      note(`${at}: incomplete last line (${line.length} bytes, no newline): a write cut short or still in progress`);
      continue;
    }
    if (line.kind === 'bad') {
      counts.bad++;
      note(`${at}: not JSON (${line.reason})`);
      continue;
    }
    const why = recordProblem(line.value);
    if (why) {
      counts.bad++;
      note(`${at}: not a result record (${why})`);
      continue;
    }
    const record = line.value as AnyRecord;
    if (record.sweep !== sweep || record.unit !== unit) {
      counts.foreign++;
      note(`${at}: record of sweep ${JSON.stringify(record.sweep)} unit ${JSON.stringify(record.unit)}, expected ${JSON.stringify(sweep)} ${JSON.stringify(unit)}`);
      continue;
    }
    const cfg = want.get(record.config);
    if (!cfg) {
      counts.unknown++;
      note(`${at}: config ${JSON.stringify(record.config)} is not in this unit's manifest (did it leave the grid?)`);
      continue;
    }
    if (record.sql_sha256 !== cfg.sql_sha256) {
      counts.stale++;
      continue;
    }
    if (current && 'target' in current && (record.v !== 2 || record.target !== current.target || record.setup !== current.setup)) {
      counts.stale++;
      const why = record.v !== 2 ? 'a v1 record (no target)' : record.target !== current.target ? `written for ${record.target}` : 'written under another setup generation';
      note(`${at}: ${why}, not ${current.target}: runs again`);
      continue;
    }
    if (current && 'targets' in current && (record.v !== 2 || !current.targets.includes(record.target))) {
      counts.stale++;
      const why = record.v !== 2 ? 'a v1 record (no target)' : `written for ${record.target}`;
      note(`${at}: ${why}, not the target of a host this unit was placed on (${current.targets.join(', ') || 'none known'}): runs again`);
      continue;
    }
    const list = candidates.get(record.config);
    if (list) list.push(record);
    else candidates.set(record.config, [record]);
  }

  const kept: AnyRecord[] = [];
  const origins = new Map<string, number>();
  const missing: string[] = [];
  const errors: UnitValidation['errors'] = [];
  for (const c of expected) {
    const list = candidates.get(c.id);
    if (!list || list.length === 0) {
      counts.missing++;
      missing.push(c.id);
      continue;
    }
    if (list.length > 1) counts.duplicate++;
    const chosen = pickLatest(list);
    kept.push(chosen);
    const origin = originOf(chosen);
    origins.set(origin, (origins.get(origin) ?? 0) + 1);
    counts[chosen.status]++;
    if (chosen.status === 'error') errors.push({ config: c.id, error: chosen.error });
  }
  return { unit, counts, kept, origins, missing, errors, notes };
}

/** The latest ok/skipped record, else the latest error (records in file order). */
export function pickLatest<R extends AnyRecord>(records: readonly R[]): R {
  let done: R | undefined;
  let last: R | undefined;
  for (const r of records) {
    last = r;
    if (r.status === 'ok' || r.status === 'skipped') done = r;
  }
  const chosen = done ?? last;
  if (!chosen) throw new Error('pickLatest: no records');
  return chosen;
}

const STATUSES: ReadonlySet<TerminalStatus> = new Set(['ok', 'skipped', 'error']);

/** Why a parsed line is not a usable result record, or undefined when it is one. */
export function recordProblem(value: unknown): string | undefined {
  const head = headOf(value);
  if (typeof head === 'string') return head;
  const r = value as Record<string, unknown>;
  if (typeof r['sweep'] !== 'string') return 'expected a "sweep" string';
  if (typeof r['unit'] !== 'string') return 'expected a "unit" string';
  if (!STATUSES.has(head.status)) return `unknown status ${JSON.stringify(head.status)}`;
  if (!Array.isArray(r['rows'])) return 'expected "rows" to be a list';
  if (r['params'] === null || typeof r['params'] !== 'object' || Array.isArray(r['params'])) return 'expected "params" to be a mapping';
  return undefined;
}
