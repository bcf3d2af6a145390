/**
 * From a spec's `params:` to each param's list of values: lists as written,
 * ranges and epochs computed (inline, no I/O), files, CSV columns and SQL read
 * or taken from the frozen values of an earlier `generate` (values.json), and
 * the `where:` expression compiled. Every problem is a UserError naming the
 * spec's file, line and key.
 */
import { UserError } from '../errors.js';
import type { ParamValue } from '../results/record.js';
import type { LoadedSpec } from '../spec/load.js';
import { paramFormOf, type ExternalValues, type ParamFormKey, type Spec } from '../spec/schema.js';
import { EPOCH_FIELDS, epochPeriods } from './epochs.js';
import { readExternalValues, SourceEngine, type ExternalContext } from './external.js';
import { diffValues, readFrozen, sameSource, VALUES_FILE, type FrozenParam, type FrozenValues } from './frozen.js';
import { numRangeValues, stepRangeValues } from './range.js';
import { compileWhere, WhereError, type CompiledWhere } from './where.js';

export interface ResolvedParam {
  name: string;
  form: 'list' | ParamFormKey;
  /** What ids and the manifest's `params` carry: the value, or an epoch's label (2019, 2019Q2). */
  values: ParamValue[];
  /** Date epochs: each period's first and last day (or second), parallel to `values`. */
  fields?: { start: ParamValue[]; end: ParamValue[] };
  /** Date epochs whose bounds carry a time (DateTime, not Date). */
  withTime?: boolean;
}

/** What happened to a param's outside values on this run, for the summary. */
export interface ValuesNote {
  param: string;
  /** read: first time; frozen: reused from values.json; refreshed: read again (--refresh-values); source-changed: the spec names another source. */
  action: 'read' | 'frozen' | 'refreshed' | 'source-changed';
  values: number;
  from: string;
  resolved_at: string;
  added?: ParamValue[];
  removed?: ParamValue[];
}

export interface ResolvedGrid {
  params: ResolvedParam[];
  where: CompiledWhere | undefined;
  /** What values.json should hold after this run; undefined when no param comes from outside. */
  frozen: FrozenValues | undefined;
  notes: ValuesNote[];
}

export interface ResolveOptions {
  /** The sweep dir (frozen values, the embedded engine's data). */
  outDir: string;
  env?: NodeJS.ProcessEnv;
  clickhouseUrl?: string | undefined;
  /** Read outside values again even when frozen ones exist. */
  refreshValues?: boolean;
}

type Locate = (path: ReadonlyArray<string | number>) => string;

function failAt(locate: Locate, name: string) {
  return (key: string, message: string): never => {
    throw new UserError('SPEC_INVALID', `${locate(['params', name, key])}: params.${name}.${key}: ${message}`);
  };
}

/** The names a template may use: every param, and `p.start`/`p.end` of each date epoch param. */
export function placeholderNames(spec: Spec): string[] {
  const names = Object.keys(spec.params);
  const epochs = names.filter((n) => paramFormOf(spec.params[n] as Spec['params'][string]) === 'every');
  return [...names, ...epochs.flatMap((n) => EPOCH_FIELDS.map((f) => `${n}.${f}`))];
}

/**
 * Each param's values as the generated sweep in `outDir` has them, for readers
 * of its results (export, report): lists, ranges and epochs computed again,
 * values from outside taken from the frozen values.json (an empty list when
 * there is none: the manifest's configs still carry every value).
 */
export function resolvedAfterGenerate(spec: Spec, outDir: string): ResolvedParam[] {
  const frozen = readFrozen(outDir);
  return Object.keys(spec.params).map((name) => {
    const inline = resolveInlineParam(spec, name, () => 'spec');
    if (inline) return inline;
    const p = spec.params[name] as Spec['params'][string];
    return { name, form: paramFormOf(p), values: frozen?.params[name]?.values ?? [] };
  });
}

/** The params that need no I/O (lists, ranges, epochs); outside sources are refused (they need resolveParams). */
export function resolveInline(spec: Spec, locate: Locate = () => 'spec'): ResolvedParam[] {
  return Object.keys(spec.params).map((name) => {
    const resolved = resolveInlineParam(spec, name, locate);
    if (!resolved) throw new Error(`params.${name} reads values from outside: resolve it with resolveParams`);
    return resolved;
  });
}

function resolveInlineParam(spec: Spec, name: string, locate: Locate): ResolvedParam | undefined {
  const p = spec.params[name] as Spec['params'][string];
  const form = paramFormOf(p);
  const fail = failAt(locate, name);
  if (Array.isArray(p)) return { name, form, values: p };
  if ('step' in p) return { name, form, values: stepRangeValues(p, fail) };
  if ('num' in p) return { name, form, values: numRangeValues(p, fail) };
  if ('every' in p) {
    const { periods, withTime } = epochPeriods(p, fail);
    return {
      name,
      form,
      values: periods.map((x) => x.label),
      fields: { start: periods.map((x) => x.start), end: periods.map((x) => x.end) },
      withTime,
    };
  }
  return undefined;
}

export async function resolveParams(loaded: LoadedSpec, opts: ResolveOptions): Promise<ResolvedGrid> {
  const { spec, locate } = loaded;
  const names = Object.keys(spec.params);
  // A bad expression is reported before any file is read or query run.
  let where: CompiledWhere | undefined;
  if (spec.where !== undefined) {
    const epochs = names.filter((n) => paramFormOf(spec.params[n] as Spec['params'][string]) === 'every');
    try {
      where = await compileWhere(spec.where, names, epochs);
    } catch (err) {
      if (!(err instanceof WhereError)) throw err;
      throw new UserError('SPEC_INVALID', `${locate(['where'])}: where: ${err.message}`);
    }
  }
  const before = readFrozen(opts.outDir);
  const previous = opts.refreshValues ? undefined : before;
  const ctx: ExternalContext = { spec, specDir: loaded.dir, outDir: opts.outDir, env: opts.env ?? process.env, clickhouseUrl: opts.clickhouseUrl };
  const engines = new SourceEngine(ctx);
  const params: ResolvedParam[] = [];
  const frozen: Record<string, FrozenParam> = {};
  const notes: ValuesNote[] = [];
  try {
    for (const name of names) {
      const inline = resolveInlineParam(spec, name, locate);
      if (inline) {
        params.push(inline);
        continue;
      }
      const source = spec.params[name] as ExternalValues;
      const form = paramFormOf(source);
      const kept = previous?.params[name];
      if (kept && sameSource(kept.source, source)) {
        frozen[name] = kept;
        params.push({ name, form, values: kept.values });
        notes.push({ param: name, action: 'frozen', values: kept.values.length, from: kept.from, resolved_at: kept.resolved_at });
        continue;
      }
      const read = await readExternalValues(source, ctx, engines, failAt(locate, name));
      const entry: FrozenParam = { source, values: read.values, from: read.from, resolved_at: new Date().toISOString() };
      frozen[name] = entry;
      params.push({ name, form, values: read.values });
      const old = before?.params[name];
      if (!old) notes.push({ param: name, action: 'read', values: read.values.length, from: read.from, resolved_at: entry.resolved_at });
      else {
        const action = sameSource(old.source, source) ? 'refreshed' : 'source-changed';
        notes.push({ param: name, action, values: read.values.length, from: read.from, resolved_at: entry.resolved_at, ...diffValues(old.values, read.values) });
      }
    }
  } finally {
    await engines.close();
  }
  return { params, where, frozen: Object.keys(frozen).length > 0 ? { v: 1, sweep: spec.name, params: frozen } : undefined, notes };
}

/** One line per param read from outside: what was read, reused or changed. */
export function describeValuesNote(n: ValuesNote, outLabel: string, dryRun = false): string {
  const count = `${n.values} value${n.values === 1 ? '' : 's'}`;
  switch (n.action) {
    case 'read':
      return `params.${n.param}: ${count} read from ${n.from}, ${dryRun ? 'would be frozen' : 'frozen'} in ${outLabel}/${VALUES_FILE}${dryRun ? ' (--dry-run writes nothing)' : ''}`;
    case 'frozen':
      return `params.${n.param}: ${count} frozen in ${outLabel}/${VALUES_FILE} since ${n.resolved_at} (from ${n.from}) kept; --refresh-values reads them again`;
    case 'refreshed':
    case 'source-changed': {
      const what = n.action === 'refreshed' ? 're-read' : 'its source changed in the spec: read';
      const changes = [
        n.added && n.added.length > 0 ? `+${n.added.length} (${preview(n.added)})` : '',
        n.removed && n.removed.length > 0 ? `-${n.removed.length} (${preview(n.removed)})` : '',
      ].filter(Boolean);
      return `params.${n.param}: ${what} from ${n.from}: ${count}, ${changes.length > 0 ? changes.join(' ') : 'unchanged'}`;
    }
  }
}

function preview(values: readonly ParamValue[]): string {
  const shown = values.slice(0, 5).map(String).join(', ');
  return values.length > 5 ? `${shown}, ...` : shown;
}
