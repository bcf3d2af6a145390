/**
 * A sweep's results as `export` and `report` read them: the spec (for the
 * params, their placeholder types and the `report:` block), the manifest's
 * units, and the merged results that `sweep collect` and `sweep run` write:
 * `<out>/results.ndjson` (exactly one validated record per config that has
 * one, in manifest order) with `<out>/shapes.ndjson` (their column types).
 *
 * The merged file rather than the per-unit files, because it is the sweep's
 * result set as collect validated it (duplicates resolved, stale and foreign
 * records left out, for `sweep run` only the records of the current target),
 * and reading it needs no second validation: at 300,000 configs that is a
 * third of a report's time. What is missing is counted against the manifest;
 * per-unit files newer than the merge are pointed out, never silently used.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { ManifestUnit } from '../format/manifest.js';
import { defaultOutDir } from '../generate/generate.js';
import { compileTemplate } from '../generate/template.js';
import { placeholderNames, resolvedAfterGenerate } from '../grid/resolve.js';
import { readManifestHead } from '../remote/context.js';
import { readShapes } from '../results/merge.js';
import { forEachLine } from '../results/ndjson.js';
import type { AnyRecord, ParamValue, ShapeLine } from '../results/record.js';
import { countStatus, type StatusCounts } from './status-counts.js';
import { loadSpec, type LoadedSpec } from '../spec/load.js';
import type { Spec } from '../spec/schema.js';

export interface ParamInfo {
  name: string;
  /** The ClickHouse type its values have in exports (from the template's placeholders). */
  type: string;
  /** The spec's values, in spec order. */
  values: ParamValue[];
}

export interface SweepInfo {
  loaded: LoadedSpec;
  spec: Spec;
  name: string;
  outDir: string;
  units: ManifestUnit[];
  configs: number;
  params: ParamInfo[];
  /** `<out>/results.ndjson`. */
  results: string;
  /** Things the reader should know (a template that could not be read, results newer than the merge, ...). */
  notes: string[];
}

export interface OpenOptions {
  specPath: string;
  cwd?: string | undefined;
  outDir?: string | undefined;
}

export async function openSweep(opts: OpenOptions): Promise<SweepInfo> {
  const cwd = opts.cwd ?? process.cwd();
  const loaded = await loadSpec(opts.specPath, cwd);
  const { spec } = loaded;
  const outDir = opts.outDir ? resolve(cwd, opts.outDir) : defaultOutDir(spec, cwd);
  const head = readManifestHead(outDir, opts.specPath);
  const results = join(outDir, 'results.ndjson');
  if (!existsSync(results)) {
    throw new UserError(
      'RESULTS_MISSING',
      `${results}: expected the merged results, found no such file: 'sweep collect ${opts.specPath}' (a remote sweep) or 'sweep run ${opts.specPath}' writes it`,
    );
  }
  const notes: string[] = [];
  const newer = unitFilesNewerThan(outDir, head.units, statSync(results).mtimeMs);
  if (newer > 0) {
    notes.push(`${newer} unit results file(s) changed after results.ndjson was merged: what follows is the last merge; 'sweep collect' (or 'sweep run') merges the newer records`);
  }
  const slotTypes = await placeholderTypes(loaded, notes);
  // Ranges, epochs (their labels) and values from outside (frozen by generate) as the sweep has them.
  const params: ParamInfo[] = resolvedAfterGenerate(spec, outDir).map(({ name, values }) => ({
    name,
    type: paramType(slotTypes.get(name), values),
    values,
  }));
  return { loaded, spec, name: spec.name, outDir, units: head.units, configs: head.units.reduce((n, u) => n + u.configs, 0), params, results, notes };
}

function unitFilesNewerThan(outDir: string, units: readonly ManifestUnit[], mtimeMs: number): number {
  let n = 0;
  for (const u of units) {
    try {
      if (statSync(join(outDir, 'results', `${u.id}.ndjson`)).mtimeMs > mtimeMs + 1) n++;
    } catch {
      // no file for this unit: nothing newer
    }
  }
  return n;
}

/** The declared types of each param's placeholders; empty (with a note) when the template cannot be read. */
async function placeholderTypes(loaded: LoadedSpec, notes: string[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  const path = resolve(loaded.dir, loaded.spec.template);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    notes.push(`the template ${path} could not be read: param types are inferred from their values`);
    return out;
  }
  try {
    for (const slot of compileTemplate(text, path, placeholderNames(loaded.spec)).slots) {
      const set = out.get(slot.name) ?? new Set<string>();
      set.add(slot.type);
      out.set(slot.name, set);
    }
  } catch (err) {
    notes.push(`the template ${path} no longer compiles (${(err as Error).message}): param types are inferred from their values`);
  }
  return out;
}

/**
 * A param's export type: its placeholder type, as a column type (Identifier and
 * FixedString values are text); String when the template uses it with several
 * types; inferred from the values when there is no template.
 */
function paramType(slots: Set<string> | undefined, values: readonly ParamValue[]): string {
  if (slots && slots.size > 0) {
    const types = new Set([...slots].map((t) => (t === 'Identifier' || t.startsWith('FixedString(') ? 'String' : t)));
    return types.size === 1 ? ([...types][0] as string) : 'String';
  }
  if (values.every((v) => typeof v === 'number' && Number.isSafeInteger(v))) return 'Int64';
  if (values.every((v) => typeof v === 'number')) return 'Float64';
  return 'String';
}

/**
 * The shapes the merged records name: `<out>/shapes.ndjson`, and for a merge
 * written before that file existed, the per-unit shape files.
 */
export function readMergedShapes(sweep: SweepInfo): Map<string, ShapeLine> {
  const out = new Map<string, ShapeLine>();
  const merged = join(sweep.outDir, 'shapes.ndjson');
  if (existsSync(merged)) {
    for (const line of readFileSync(merged, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const s = JSON.parse(line) as ShapeLine;
      out.set(s.shape, s);
    }
    return out;
  }
  for (const u of sweep.units) for (const [id, s] of readShapes(join(sweep.outDir, 'results'), u.id)) out.set(id, s);
  return out;
}


export interface ReadSummary {
  totals: { configs: number; ok: number; skipped: number; error: number; missing: number };
  /** Per manifest unit, in order. */
  units: Array<{ unit: string; configs: number; ok: number; skipped: number; error: number; missing: number }>;
}

/** Counts per unit against the manifest. */
export function summarize(sweep: SweepInfo, perUnit: ReadonlyMap<string, StatusCounts>): ReadSummary {
  const totals = { configs: sweep.configs, ok: 0, skipped: 0, error: 0, missing: 0 };
  const units = sweep.units.map((u) => {
    const c = perUnit.get(u.id) ?? { ok: 0, skipped: 0, error: 0 };
    const missing = Math.max(0, u.configs - c.ok - c.skipped - c.error);
    totals.ok += c.ok;
    totals.skipped += c.skipped;
    totals.error += c.error;
    totals.missing += missing;
    return { unit: u.id, configs: u.configs, ...c, missing };
  });
  return { totals, units };
}

/** Visit every merged record in file (manifest) order, in bounded memory. */
export async function forEachRecord(sweep: SweepInfo, visit: (r: AnyRecord) => void): Promise<ReadSummary> {
  const perUnit = new Map<string, StatusCounts>();
  await forEachLine(sweep.results, (buf, start, end) => {
    const r = JSON.parse(buf.toString('utf8', start, end)) as AnyRecord;
    countStatus(perUnit, r);
    visit(r);
  });
  return summarize(sweep, perUnit);
}

/** One line saying what is not there, or undefined for a complete sweep. */
export function partialNote(read: ReadSummary): string | undefined {
  const t = read.totals;
  const parts: string[] = [];
  if (t.missing > 0) {
    const units = read.units.filter((u) => u.missing > 0);
    parts.push(
      `${t.missing} of ${t.configs} configs have no record (not run yet, or not collected), in ${units.length} unit(s): ${units
        .slice(0, 3)
        .map((u) => u.unit)
        .join(', ')}${units.length > 3 ? ', ...' : ''}`,
    );
  }
  if (t.error > 0) parts.push(`${t.error} configs ended in error (no rows)`);
  return parts.length > 0 ? `partial sweep: ${parts.join('; ')}` : undefined;
}
