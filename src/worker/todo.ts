/**
 * Skip-done: which of a unit's configs still need a run, by a linear merge of
 * two id-sorted lists (the unit's configs, the latest record per config), never
 * one lookup per config (the shell tier's grep per file was O(N*M)).
 *
 * Also decides which record lines are superseded, so the worker can compact the
 * file to exactly one terminal record per config: older duplicates, `error`
 * records about to be retried, records written for SQL that has changed since.
 */
import type { RecordHead } from '../results/ndjson.js';
import type { Params } from '../results/record.js';

export interface UnitConfig {
  id: string;
  params: Params;
  sql_sha256: string;
}

export interface TodoPlan {
  /** Configs to run, in id order. */
  todo: UnitConfig[];
  /** Configs whose current record stands (terminal for this run). */
  done: { ok: number; skipped: number; error: number };
  /** Why configs that have a record are in `todo` anyway. */
  rerun: RerunReasons;
  /** Offsets of record lines to drop when compacting (superseded or rerun). */
  drop: number[];
  /** Records for configs not in the unit (left the grid): kept, counted. */
  orphans: number;
}

/** Counts of configs run again, by reason (the summary names each). */
export interface RerunReasons {
  /** `error` records retried. */
  error: number;
  /** The SQL changed since the record was written. */
  changed: number;
  /** The record was written for another target (or is a v1 record, which names none). */
  target: number;
  /** The target's setup ran again (or for the first time) since the record was written. */
  setup: number;
  /** ok or skipped records run again because the user asked (--rerun skipped|all). */
  requested: number;
}

/** What `--rerun` asks for: `none` keeps errors (--no-retry-errors), `errors` is the default. */
export type RerunMode = 'none' | 'errors' | 'skipped' | 'all';

export interface PlanOptions {
  /** The target this run writes for (src/engine/target.ts). */
  target: string;
  /** The setup generation in force on it, null when the sweep has no setup. */
  setup: string | null;
  rerun: RerunMode;
  /** Only configs for which this holds are run (--only); the others' records stand as they are. */
  selected?: (c: UnitConfig) => boolean;
}

export function emptyReasons(): RerunReasons {
  return { error: 0, changed: 0, target: 0, setup: 0, requested: 0 };
}

/** Byte order for ASCII ids (the ids of src/spec/ids.ts are ASCII). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isSortedById(items: ReadonlyArray<{ id: string }>): boolean {
  for (let i = 1; i < items.length; i++) if (compareIds((items[i - 1] as { id: string }).id, (items[i] as { id: string }).id) >= 0) return false;
  return true;
}

/**
 * The latest record per config (file order decides: later lines are newer),
 * sorted by config id, plus the offsets of the older duplicates.
 */
export function latestByConfig(heads: readonly RecordHead[]): { latest: RecordHead[]; superseded: number[] } {
  // Stable sort: among equal ids the file order is kept, so the last one is the newest.
  // Records are appended roughly in id order, which TimSort handles in near-linear time.
  const sorted = heads.slice().sort((a, b) => compareIds(a.config, b.config));
  const latest: RecordHead[] = [];
  const superseded: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const h = sorted[i] as RecordHead;
    const next = sorted[i + 1];
    if (next && next.config === h.config) superseded.push(h.offset);
    else latest.push(h);
  }
  return { latest, superseded };
}

/**
 * Merge the unit's configs (sorted by id, unique) with the file's record heads.
 * A config is done when its latest record is `ok` or `skipped` (or `error`
 * with rerun `none`) AND was written for the SQL it has now, on this target,
 * under this setup generation. Configs outside `selected` are never run; their
 * records count as they stand.
 */
export function planTodo(configs: readonly UnitConfig[], heads: readonly RecordHead[], opts: PlanOptions): TodoPlan {
  const { latest, superseded } = latestByConfig(heads);
  const plan: TodoPlan = { todo: [], done: { ok: 0, skipped: 0, error: 0 }, rerun: emptyReasons(), drop: superseded, orphans: 0 };
  const isSelected = opts.selected ?? (() => true);
  let i = 0;
  let j = 0;
  while (i < configs.length) {
    const c = configs[i] as UnitConfig;
    const r = latest[j];
    const order = r ? compareIds(c.id, r.config) : -1;
    if (order > 0) {
      // A record for a config the unit no longer has.
      plan.orphans++;
      j++;
      continue;
    }
    i++;
    const record = order === 0 ? r : undefined;
    if (record) j++;
    const selected = isSelected(c);
    if (!record) {
      if (selected) plan.todo.push(c);
      continue;
    }
    const stale: keyof RerunReasons | undefined =
      record.sql_sha256 !== c.sql_sha256 ? 'changed' : record.target !== opts.target ? 'target' : record.setup !== opts.setup ? 'setup' : undefined;
    if (!selected) {
      // Left as it is: counted only when it would count as done for this run.
      if (!stale) plan.done[record.status]++;
      continue;
    }
    const asked =
      stale ??
      (record.status === 'error' && opts.rerun !== 'none'
        ? 'error'
        : (record.status === 'skipped' && (opts.rerun === 'skipped' || opts.rerun === 'all')) || (record.status === 'ok' && opts.rerun === 'all')
          ? 'requested'
          : undefined);
    if (asked) {
      plan.rerun[asked]++;
      plan.drop.push(record.offset);
      plan.todo.push(c);
    } else {
      plan.done[record.status]++;
    }
  }
  plan.orphans += latest.length - j;
  return plan;
}
