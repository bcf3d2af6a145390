/**
 * Grid expansion: every combination of param values (linked params taken
 * pairwise, the rest crossed), minus `exclude` rules, kept where `where:`
 * holds, then `sample:` and `--limit`, grouped into units. Ids are checked
 * here: two configs with one id, or ids that differ only in letter case (they
 * would overwrite each other on a case-insensitive filesystem such as a Mac's),
 * are errors.
 *
 * Cost: `where` is evaluated once per distinct combination of the params it
 * names (memoised), not once per config; `sample` ranks ids in one pass and
 * builds only the configs it keeps.
 */
import { UserError } from '../errors.js';
import { resolveInline, type ResolvedParam } from '../grid/resolve.js';
import { rankOf, sampleCut, spreadLimit } from '../grid/sample.js';
import type { CompiledWhere } from '../grid/where.js';
import { WhereError } from '../grid/where.js';
import type { ParamValue, Params } from '../results/record.js';
import { ALL_UNIT, encodeId, MAX_ID_BYTES } from './ids.js';
import type { Spec } from './schema.js';

export interface Config {
  id: string;
  unit: string;
  params: Params;
}

export interface Unit {
  id: string;
  params: Params;
  /** Sorted by id. */
  configs: Config[];
}

/** How the grid came to its size, for `generate --dry-run` and the summary. */
export interface GridStats {
  /** Values per param. */
  params: Record<string, number>;
  /** Combinations after linking (the cross product of the unlinked params and the link groups). */
  combinations: number;
  /** Removed by `exclude`, then `where`, then `sample`, then `--limit`. */
  removed: { exclude: number; where: number; sample: number; limit: number };
}

export interface Grid {
  paramNames: string[];
  unitNames: string[];
  restNames: string[];
  /** Sorted by id. */
  units: Unit[];
  configCount: number;
  stats: GridStats;
  /** Set when `--limit` cut the grid: a smoke run of `n` configs out of `of`. */
  limited: { n: number; of: number } | undefined;
  /** Things that work but probably not as meant (a sample larger than the grid). */
  warnings: string[];
}

export interface ExpandOptions {
  /** Each param's values, in spec order (resolveParams); default: resolveInline (lists, ranges, epochs only). */
  resolved?: ResolvedParam[];
  /** The compiled `where:` (required when the spec has one). */
  where?: CompiledWhere | undefined;
  /** `file:line:col` of a key path, for errors. */
  locate?: (path: ReadonlyArray<string | number>) => string;
  /** `--limit N`: keep N configs spread over the units. */
  limit?: number | undefined;
}

/** Enumerating more combinations than this (before where and sample) would take minutes and gigabytes. */
export const MAX_COMBINATIONS = 20_000_000;

export function expandGrid(spec: Spec, label = 'spec', opts: ExpandOptions = {}): Grid {
  const locate = opts.locate ?? (() => label);
  const resolved = opts.resolved ?? resolveInline(spec, locate);
  if (spec.where !== undefined && !opts.where) throw new Error('expandGrid: the spec has a where: expression; pass it compiled (compileWhere)');
  const paramNames = resolved.map((p) => p.name);
  const unitNames = [...spec.unit];
  const restNames = paramNames.filter((n) => !unitNames.includes(n));
  const P = resolved.length;
  checkExcludeValues(spec, resolved, label);

  // Axes: each link group is one axis (its params move together), every other param its own.
  const axisOf = new Array<number>(P);
  const axisSizes: number[] = [];
  const groupOf = new Map<string, number>();
  spec.link.forEach((group, g) => group.forEach((n) => groupOf.set(n, g)));
  const axisOfGroup = new Map<number, number>();
  resolved.forEach((p, i) => {
    const g = groupOf.get(p.name);
    if (g === undefined) {
      axisOf[i] = axisSizes.push(p.values.length) - 1;
    } else if (axisOfGroup.has(g)) {
      axisOf[i] = axisOfGroup.get(g) as number;
    } else {
      checkLinkLengths(spec.link[g] as string[], resolved, g, locate);
      axisOfGroup.set(g, axisSizes.length);
      axisOf[i] = axisSizes.push(p.values.length) - 1;
    }
  });
  const A = axisSizes.length;
  const combinations = axisSizes.reduce((a, b) => a * b, 1);
  if (combinations > MAX_COMBINATIONS) {
    throw new UserError(
      'GRID_TOO_LARGE',
      `${locate(['params'])}: params: expected at most ${MAX_COMBINATIONS.toLocaleString('en-US')} combinations before where and sample, found ${combinations.toLocaleString('en-US')} (${resolved.map((p) => `${p.name} ${p.values.length}`).join(' x ')}): link params that go together, or use coarser ranges`,
    );
  }

  const values = resolved.map((p) => p.values);
  const starts = resolved.map((p) => p.fields?.start);
  const ends = resolved.map((p) => p.fields?.end);
  const startKeys = paramNames.map((n) => `${n}.start`);
  const endKeys = paramNames.map((n) => `${n}.end`);
  // Each value's `name-value` id fragment, encoded once rather than once per config.
  const fragments = resolved.map((p) => p.values.map((v) => encodeId({ [p.name]: v }, [p.name])));
  const unitPos = unitNames.map((n) => paramNames.indexOf(n));
  const idPos = [...unitPos, ...restNames.map((n) => paramNames.indexOf(n))];
  const idx = new Array<number>(A).fill(0);
  const valueIndex = (p: number): number => idx[axisOf[p] as number] as number;
  const idOf = (): string => {
    let id = '';
    for (let k = 0; k < idPos.length; k++) {
      const p = idPos[k] as number;
      id += (k > 0 ? '__' : '') + ((fragments[p] as string[])[valueIndex(p)] as string);
    }
    return id;
  };

  const excluded = compileExclude(spec, resolved);
  const isExcluded = (): boolean => {
    for (const rule of excluded) {
      let all = true;
      for (const [p, mask] of rule) {
        if (mask[valueIndex(p)] !== 1) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  };
  const holds = opts.where ? whereTest(opts.where, resolved, valueIndex, locate) : undefined;

  const units = new Map<string, Unit>();
  const byFoldedId = new Map<string, Config>();
  const materialize = (id: string): void => {
    if (Buffer.byteLength(id) > MAX_ID_BYTES) {
      throw new UserError('ID_TOO_LONG', `${label}: params: config id ${id.slice(0, 60)}... is ${Buffer.byteLength(id)} bytes; expected at most ${MAX_ID_BYTES} (it is a file name): shorten the param names or values`);
    }
    const params: Params = {};
    for (let p = 0; p < P; p++) {
      const i = valueIndex(p);
      params[paramNames[p] as string] = (values[p] as ParamValue[])[i] as ParamValue;
      const s = starts[p];
      if (s) {
        params[startKeys[p] as string] = s[i] as ParamValue;
        params[endKeys[p] as string] = (ends[p] as ParamValue[])[i] as ParamValue;
      }
    }
    const folded = id.toLowerCase();
    const clash = byFoldedId.get(folded);
    if (clash) {
      const how = clash.id === id ? `the same id ${id}` : `ids that differ only in letter case (${clash.id} and ${id}), which collide on case-insensitive filesystems`;
      throw new UserError(
        'ID_COLLISION',
        `${label}: params: configs ${JSON.stringify(clash.params)} and ${JSON.stringify(params)} map to ${how}; expected every config to have its own id: remove the duplicate value`,
      );
    }
    let unitId = ALL_UNIT;
    if (unitPos.length > 0) {
      unitId = '';
      for (let k = 0; k < unitPos.length; k++) {
        const p = unitPos[k] as number;
        unitId += (k > 0 ? '__' : '') + ((fragments[p] as string[])[valueIndex(p)] as string);
      }
    }
    let unit = units.get(unitId);
    if (!unit) {
      const unitParams: Params = {};
      for (const n of unitNames) unitParams[n] = params[n] as ParamValue;
      unit = { id: unitId, params: unitParams, configs: [] };
      units.set(unitId, unit);
    }
    const config = { id, unit: unitId, params };
    byFoldedId.set(folded, config);
    unit.configs.push(config);
  };

  // One pass over every combination. With `sample`, it only ranks the survivors
  // (their linear index and rank); the kept ones are built afterwards.
  const sample = spec.sample;
  let ranks: Float64Array | undefined = sample ? new Float64Array(1024) : undefined;
  let linear: Float64Array | undefined = sample ? new Float64Array(1024) : undefined;
  let survivors = 0;
  let nExcluded = 0;
  let nWhere = 0;
  const strides = new Array<number>(A);
  for (let a = A - 1, s = 1; a >= 0; a--) {
    strides[a] = s;
    s *= axisSizes[a] as number;
  }
  for (let c = 0; c < combinations; c++) {
    // the axes' indices of combination c, last axis fastest (spec order)
    let rest = c;
    for (let a = 0; a < A; a++) {
      const stride = strides[a] as number;
      idx[a] = Math.floor(rest / stride);
      rest -= (idx[a] as number) * stride;
    }
    if (excluded.length > 0 && isExcluded()) {
      nExcluded++;
      continue;
    }
    if (holds && !holds()) {
      nWhere++;
      continue;
    }
    if (ranks && linear && sample) {
      if (survivors === ranks.length) {
        ranks = grow(ranks);
        linear = grow(linear);
      }
      ranks[survivors] = rankOf(idOf(), sample.seed);
      linear[survivors] = c;
    } else {
      materialize(idOf());
    }
    survivors++;
  }

  const warnings: string[] = [];
  let nSample = 0;
  if (sample && ranks && linear) {
    const at = (k: number): void => {
      let rest = (linear as Float64Array)[k] as number;
      for (let a = 0; a < A; a++) {
        const stride = strides[a] as number;
        idx[a] = Math.floor(rest / stride);
        rest -= (idx[a] as number) * stride;
      }
    };
    if (sample.n >= survivors) {
      if (sample.n > survivors) {
        warnings.push(
          `${locate(['sample', 'n'])}: sample.n: ${sample.n.toLocaleString('en-US')} is more than the ${survivors.toLocaleString('en-US')} configs left after exclude and where: keeping all of them`,
        );
      }
      for (let k = 0; k < survivors; k++) {
        at(k);
        materialize(idOf());
      }
    } else {
      const cut = sampleCut(ranks.subarray(0, survivors), sample.n);
      const ties: Array<{ id: string; k: number }> = [];
      for (let k = 0; k < survivors; k++) {
        const r = ranks[k] as number;
        if (r > cut.rank) continue;
        at(k);
        if (r < cut.rank) materialize(idOf());
        else ties.push({ id: idOf(), k });
      }
      // A 53-bit hash tie at the cut: the lower ids win, so the subset does not depend on enumeration order.
      ties.sort((a, b) => compareIds(a.id, b.id));
      for (const tie of ties.slice(0, sample.n - cut.below)) {
        at(tie.k);
        materialize(tie.id);
      }
      nSample = survivors - sample.n;
    }
  }

  let configCount = survivors - nSample;
  if (configCount === 0) {
    if (nWhere === 0) throw new UserError('GRID_EMPTY', `${label}: exclude: expected a grid with at least one config, found every combination excluded`);
    throw new UserError(
      'GRID_EMPTY',
      `${locate(['where'])}: where: expected a grid with at least one config, found every combination removed (${nWhere.toLocaleString('en-US')} by where${nExcluded > 0 ? `, ${nExcluded.toLocaleString('en-US')} by exclude` : ''})`,
    );
  }
  let sortedUnits = [...units.values()].sort((a, b) => compareIds(a.id, b.id));
  for (const u of sortedUnits) u.configs.sort((a, b) => compareIds(a.id, b.id));

  let limited: Grid['limited'];
  let nLimit = 0;
  if (opts.limit !== undefined && opts.limit < configCount) {
    const keep = spreadLimit(
      sortedUnits.map((u) => u.configs.length),
      opts.limit,
    );
    sortedUnits = sortedUnits
      .map((u, i) => ({ ...u, configs: (keep[i] as number[]).map((k) => u.configs[k] as Config) }))
      .filter((u) => u.configs.length > 0);
    limited = { n: opts.limit, of: configCount };
    nLimit = configCount - opts.limit;
    configCount = opts.limit;
  }
  const stats: GridStats = {
    params: Object.fromEntries(resolved.map((p) => [p.name, p.values.length])),
    combinations,
    removed: { exclude: nExcluded, where: nWhere, sample: nSample, limit: nLimit },
  };
  return { paramNames, unitNames, restNames, units: sortedUnits, configCount, stats, limited, warnings };
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

/** Byte order (ids are ASCII), the order the worker's merge and collect rely on. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkLinkLengths(group: readonly string[], resolved: readonly ResolvedParam[], g: number, locate: NonNullable<ExpandOptions['locate']>): void {
  const sizes = group.map((n) => ({ n, size: resolved.find((p) => p.name === n)?.values.length ?? 0 }));
  const first = sizes[0]?.size;
  if (sizes.some((s) => s.size !== first)) {
    throw new UserError(
      'SPEC_INVALID',
      `${locate(['link', g])}: link[${g}]: expected params of one length (they are taken pairwise), found ${sizes.map((s) => `${s.n} ${s.size} value${s.size === 1 ? '' : 's'}`).join(', ')}`,
    );
  }
}

/** Each exclude rule as (param index, which of its values match) pairs. */
function compileExclude(spec: Spec, resolved: readonly ResolvedParam[]): Array<Array<[number, Uint8Array]>> {
  return spec.exclude.map((rule) =>
    Object.entries(rule).map(([key, value]): [number, Uint8Array] => {
      const p = resolved.findIndex((r) => r.name === key);
      const values = (resolved[p] as ResolvedParam).values;
      const mask = new Uint8Array(values.length);
      values.forEach((v, i) => {
        if (String(v) === String(value)) mask[i] = 1;
      });
      return [p, mask];
    }),
  );
}

/**
 * `where` as a test of the current combination, memoised on the value indices
 * of the params it names: a constraint on two params of 50 values each is
 * evaluated 2,500 times whatever the grid's size.
 */
function whereTest(
  where: CompiledWhere,
  resolved: readonly ResolvedParam[],
  valueIndex: (p: number) => number,
  locate: NonNullable<ExpandOptions['locate']>,
): () => boolean {
  const reads = where.names.map((name) => {
    const dot = name.indexOf('.');
    const param = dot < 0 ? name : name.slice(0, dot);
    const p = resolved.findIndex((r) => r.name === param);
    const r = resolved[p] as ResolvedParam;
    const list = dot < 0 ? r.values : name.endsWith('.start') ? (r.fields?.start ?? []) : (r.fields?.end ?? []);
    return { name, p, list };
  });
  const used = [...new Set(reads.map((r) => r.p))];
  const mstride = new Map<number, number>();
  let space = 1;
  for (const p of used) {
    mstride.set(p, space);
    space *= (resolved[p] as ResolvedParam).values.length;
  }
  // 0 unknown, 1 true, 2 false
  const table = space <= 1 << 24 ? new Uint8Array(space) : undefined;
  const map = table ? undefined : new Map<number, boolean>();
  return () => {
    let key = 0;
    for (const p of used) key += valueIndex(p) * (mstride.get(p) as number);
    const known = table ? table[key] : map?.has(key) ? (map.get(key) ? 1 : 2) : 0;
    if (known === 1) return true;
    if (known === 2) return false;
    const scope = new Map<string, ParamValue>();
    for (const r of reads) scope.set(r.name, r.list[valueIndex(r.p)] as ParamValue);
    let ok: boolean;
    try {
      ok = where.test(scope);
    } catch (err) {
      if (!(err instanceof WhereError)) throw err;
      throw new UserError('SPEC_INVALID', `${locate(['where'])}: where: ${err.message} (for ${JSON.stringify(Object.fromEntries(scope))})`);
    }
    if (table) table[key] = ok ? 1 : 2;
    else map?.set(key, ok);
    return ok;
  };
}

/** A rule value that is not in the grid is almost always a typo: say so instead of excluding nothing. */
function checkExcludeValues(spec: Spec, resolved: readonly ResolvedParam[], label: string): void {
  spec.exclude.forEach((rule, i) => {
    for (const [key, value] of Object.entries(rule)) {
      const values = resolved.find((p) => p.name === key)?.values ?? [];
      if (!values.some((v) => String(v) === String(value))) {
        const shown = values.length > 12 ? `${values.slice(0, 12).map((v) => JSON.stringify(v)).join(', ')}, ... (${values.length})` : values.map((v) => JSON.stringify(v)).join(', ');
        throw new UserError('SPEC_INVALID', `${label}: exclude[${i}].${key}: expected one of the values of params.${key} (${shown}), found ${JSON.stringify(value)}`);
      }
    }
  });
}
