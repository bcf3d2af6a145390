/**
 * A sweep's results as `export` and `report` read them: the spec (for the
 * params, their placeholder types and the `report:` block), the units of the
 * manifest, and each unit's results file validated against the unit's index
 * exactly as collect does (src/results/validate.ts), one unit at a time so a
 * 300,000-config sweep never sits in memory as records.
 *
 * The per-unit files are read rather than the merged results.ndjson so that
 * both commands always see the current results, on a sweep still running or
 * never collected completely; what is missing is counted, not guessed.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ManifestUnit } from '../format/manifest.js';
import { defaultOutDir } from '../generate/generate.js';
import { compileTemplate } from '../generate/template.js';
import { readManifestHead } from '../remote/context.js';
import { readNdjson } from '../results/ndjson.js';
import { readIndex, readShapes } from '../results/merge.js';
import type { ParamValue, ShapeLine } from '../results/record.js';
import { addCounts, emptyCounts, validateUnit, type UnitCounts, type UnitValidation } from '../results/validate.js';
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
  /** Things the reader should know (a template that could not be read, ...). */
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
  const notes: string[] = [];
  const slotTypes = await placeholderTypes(loaded, notes);
  const params: ParamInfo[] = Object.entries(spec.params).map(([name, values]) => ({
    name,
    type: paramType(slotTypes.get(name), values),
    values,
  }));
  return { loaded, spec, name: spec.name, outDir, units: head.units, configs: head.units.reduce((n, u) => n + u.configs, 0), params, notes };
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
    for (const slot of compileTemplate(text, path, Object.keys(loaded.spec.params)).slots) {
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

export interface UnitResults {
  unit: ManifestUnit;
  validation: UnitValidation;
  /** The unit's shapes by id (results/shapes/<unit>.ndjson). */
  shapes: Map<string, ShapeLine>;
}

export interface ReadSummary {
  totals: UnitCounts;
  /** Up to 5 config ids with no record. */
  missing_sample: string[];
  /** Units whose results file holds lines that are not clean records (torn, bad, foreign). */
  units_with_notes: number;
}

/** Visit every unit's validated results, in manifest order, one unit in memory at a time. */
export async function forEachUnitResults(sweep: SweepInfo, visit: (u: UnitResults) => void | Promise<void>): Promise<ReadSummary> {
  const resultsDir = join(sweep.outDir, 'results');
  const totals = emptyCounts();
  const missing_sample: string[] = [];
  let units_with_notes = 0;
  for (const unit of sweep.units) {
    const index = readIndex(sweep.outDir, unit.id);
    const validation = validateUnit(sweep.name, unit.id, index.configs, await readNdjson(join(resultsDir, `${unit.id}.ndjson`)), undefined);
    addCounts(totals, validation.counts);
    for (const id of validation.missing) if (missing_sample.length < 5) missing_sample.push(id);
    if (validation.notes.length > 0) units_with_notes++;
    await visit({ unit, validation, shapes: readShapes(resultsDir, unit.id) });
  }
  return { totals, missing_sample, units_with_notes };
}

/** One line saying what is not there, or undefined for a complete sweep. */
export function partialNote(read: ReadSummary): string | undefined {
  const t = read.totals;
  const parts: string[] = [];
  if (t.missing > 0) parts.push(`${t.missing} of ${t.configs} configs have no record yet (not run, or not collected: 'sweep collect' or 'sweep run' brings them), e.g. ${read.missing_sample.slice(0, 3).join(', ')}`);
  if (t.error > 0) parts.push(`${t.error} configs ended in error (no rows)`);
  if (t.torn + t.bad > 0) parts.push(`${t.torn + t.bad} unreadable line(s) left out`);
  return parts.length > 0 ? `partial sweep: ${parts.join('; ')}` : undefined;
}
