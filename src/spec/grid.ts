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
import { rankOfParts, sampleCut, spreadLimit } from '../grid/sample.js';
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

type Locate = NonNullable<ExpandOptions['locate']>;

/**
 * The phases: axes (link groups move together) -> one pass over every
 * combination, dropping what `exclude` and `where` remove and building the rest
 * (or, with `sample`, only ranking them) -> the sample's configs -> sorted
 * units -> `--limit`.
 */
export function expandGrid(spec: Spec, label = 'spec', opts: ExpandOptions = {}): Grid {
  const locate = opts.locate ?? (() => label);
  const resolved = opts.resolved ?? resolveInline(spec, locate);
  if (spec.where !== undefined && !opts.where) throw new Error('expandGrid: the spec has a where: expression; pass it compiled (compileWhere)');
  checkExcludeValues(spec, resolved, label);
  const cursor = new Cursor(spec, resolved, locate);
  const isExcluded = excludeTest(spec, resolved, cursor);
  const holds = opts.where ? whereTest(opts.where, resolved, cursor, locate) : undefined;
  const builder = new UnitBuilder(cursor, resolved, spec.unit, label);

  const sample = spec.sample;
  const ranked = sample ? new RankedCombinations() : undefined;
  let survivors = 0;
  let nExcluded = 0;
  let nWhere = 0;
  for (let c = 0; c < cursor.combinations; c++) {
    if (c > 0) cursor.next();
    if (isExcluded && isExcluded()) {
      nExcluded++;
      continue;
    }
    if (holds && !holds()) {
      nWhere++;
      continue;
    }
    if (ranked && sample) ranked.add(c, rankOfParts(cursor.idParts(), '__', sample.seed));
    else builder.add(cursor.id());
    survivors++;
  }

  const warnings: string[] = [];
  let nSample = 0;
  if (ranked && sample) {
    if (sample.n > survivors) {
      warnings.push(
        `${locate(['sample', 'n'])}: sample.n: ${sample.n.toLocaleString('en-US')} is more than the ${survivors.toLocaleString('en-US')} configs left after exclude and where: keeping all of them`,
      );
    }
    for (const c of ranked.lowest(sample.n, (k) => (cursor.seek(k), cursor.id()))) {
      cursor.seek(c);
      builder.add(cursor.id());
    }
    nSample = Math.max(0, survivors - sample.n);
  }

  let configCount = survivors - nSample;
  if (configCount === 0) {
    if (nWhere === 0) throw new UserError('GRID_EMPTY', `${label}: exclude: expected a grid with at least one config, found every combination excluded`);
    throw new UserError(
      'GRID_EMPTY',
      `${locate(['where'])}: where: expected a grid with at least one config, found every combination removed (${nWhere.toLocaleString('en-US')} by where${nExcluded > 0 ? `, ${nExcluded.toLocaleString('en-US')} by exclude` : ''})`,
    );
  }
  let units = builder.sortedUnits();
  let limited: Grid['limited'];
  if (opts.limit !== undefined && opts.limit < configCount) {
    units = limitUnits(units, opts.limit);
    limited = { n: opts.limit, of: configCount };
    configCount = opts.limit;
  }
  const paramNames = resolved.map((p) => p.name);
  const stats: GridStats = {
    params: Object.fromEntries(resolved.map((p) => [p.name, p.values.length])),
    combinations: cursor.combinations,
    removed: { exclude: nExcluded, where: nWhere, sample: nSample, limit: limited ? limited.of - limited.n : 0 },
  };
  return { paramNames, unitNames: [...spec.unit], restNames: paramNames.filter((n) => !spec.unit.includes(n)), units, configCount, stats, limited, warnings };
}

/**
 * One combination of the grid at a time: an index per axis (a link group is
 * one axis, every other param its own), last axis fastest, with each value's
 * `name-value` id fragment encoded once rather than once per config.
 */
class Cursor {
  readonly combinations: number;
  /** The axis each param moves with. */
  private readonly axisOf: number[];
  private readonly sizes: number[];
  private readonly strides: number[];
  private readonly idx: number[];
  readonly fragments: string[][];
  /** Params in id order: the unit params, then the rest in spec order. */
  readonly idPos: number[];
  readonly unitPos: number[];
  private readonly parts: string[];

  constructor(spec: Spec, resolved: readonly ResolvedParam[], locate: Locate) {
    const groupOf = new Map<string, number>();
    spec.link.forEach((group, g) => group.forEach((n) => groupOf.set(n, g)));
    const axisOfGroup = new Map<number, number>();
    this.axisOf = [];
    this.sizes = [];
    resolved.forEach((p, i) => {
      const g = groupOf.get(p.name);
      if (g !== undefined && axisOfGroup.has(g)) {
        this.axisOf[i] = axisOfGroup.get(g) as number;
        return;
      }
      if (g !== undefined) {
        checkLinkLengths(spec.link[g] as string[], resolved, g, locate);
        axisOfGroup.set(g, this.sizes.length);
      }
      this.axisOf[i] = this.sizes.push(p.values.length) - 1;
    });
    this.combinations = this.sizes.reduce((a, b) => a * b, 1);
    if (this.combinations > MAX_COMBINATIONS) {
      throw new UserError(
        'GRID_TOO_LARGE',
        `${locate(['params'])}: params: expected at most ${MAX_COMBINATIONS.toLocaleString('en-US')} combinations before where and sample, found ${this.combinations.toLocaleString('en-US')} (${resolved.map((p) => `${p.name} ${p.values.length}`).join(' x ')}): link params that go together, or use coarser ranges`,
      );
    }
    this.strides = new Array<number>(this.sizes.length);
    for (let a = this.sizes.length - 1, stride = 1; a >= 0; a--) {
      this.strides[a] = stride;
      stride *= this.sizes[a] as number;
    }
    this.idx = new Array<number>(this.sizes.length).fill(0);
    this.fragments = resolved.map((p) => p.values.map((v) => encodeId({ [p.name]: v }, [p.name])));
    const names = resolved.map((p) => p.name);
    this.unitPos = spec.unit.map((n) => names.indexOf(n));
    this.idPos = [...this.unitPos, ...names.flatMap((n, i) => (spec.unit.includes(n) ? [] : [i]))];
    this.parts = new Array<string>(this.idPos.length);
  }

  /** The next combination (an odometer). */
  next(): void {
    for (let a = this.sizes.length - 1; a >= 0; a--) {
      if ((this.idx[a] = (this.idx[a] as number) + 1) < (this.sizes[a] as number)) return;
      this.idx[a] = 0;
    }
  }

  /** Jump to combination number c. */
  seek(c: number): void {
    let rest = c;
    for (let a = 0; a < this.sizes.length; a++) {
      const stride = this.strides[a] as number;
      this.idx[a] = Math.floor(rest / stride);
      rest -= (this.idx[a] as number) * stride;
    }
  }

  /** Which of its values param p has in this combination. */
  valueIndex(p: number): number {
    return this.idx[this.axisOf[p] as number] as number;
  }

  /** The config id's fragments (reused array: read it before moving on). */
  idParts(): string[] {
    for (let k = 0; k < this.idPos.length; k++) {
      const p = this.idPos[k] as number;
      this.parts[k] = (this.fragments[p] as string[])[this.valueIndex(p)] as string;
    }
    return this.parts;
  }

  id(): string {
    return this.join(this.idPos);
  }

  unitId(): string {
    return this.unitPos.length === 0 ? ALL_UNIT : this.join(this.unitPos);
  }

  private join(positions: readonly number[]): string {
    let out = '';
    for (let k = 0; k < positions.length; k++) {
      const p = positions[k] as number;
      out += (k > 0 ? '__' : '') + ((this.fragments[p] as string[])[this.valueIndex(p)] as string);
    }
    return out;
  }
}

/** Builds the configs of the cursor's combinations into units, checking their ids. */
class UnitBuilder {
  private readonly units = new Map<string, Unit>();
  private readonly byFoldedId = new Map<string, Params>();
  /**
   * Ids are fragments joined in one order, so two configs' ids can only be equal
   * (or equal but for case) if some param has two values whose fragments are:
   * the per-config check (a map of every id) runs only then.
   */
  private readonly mayCollide: boolean;
  /** Fragments are ASCII (ids.ts encodes everything else), so the longest id is known up front. */
  private readonly mayBeTooLong: boolean;
  private readonly values: ParamValue[][];
  private readonly fields: Array<{ start: ParamValue[]; end: ParamValue[]; startKey: string; endKey: string } | undefined>;
  private readonly names: string[];

  constructor(
    private readonly cursor: Cursor,
    resolved: readonly ResolvedParam[],
    private readonly unitNames: readonly string[],
    private readonly label: string,
  ) {
    const f = cursor.fragments;
    this.mayCollide = f.some((list) => new Set(list.map((x) => x.toLowerCase())).size < list.length);
    this.mayBeTooLong = cursor.idPos.reduce((n, p) => n + Math.max(...(f[p] as string[]).map((x) => x.length)) + 2, -2) > MAX_ID_BYTES;
    this.values = resolved.map((p) => p.values);
    this.fields = resolved.map((p) => (p.fields ? { ...p.fields, startKey: `${p.name}.start`, endKey: `${p.name}.end` } : undefined));
    this.names = resolved.map((p) => p.name);
  }

  add(id: string): void {
    const { cursor, label } = this;
    if (this.mayBeTooLong && Buffer.byteLength(id) > MAX_ID_BYTES) {
      throw new UserError('ID_TOO_LONG', `${label}: params: config id ${id.slice(0, 60)}... is ${Buffer.byteLength(id)} bytes; expected at most ${MAX_ID_BYTES} (it is a file name): shorten the param names or values`);
    }
    const params: Params = {};
    for (let p = 0; p < this.names.length; p++) {
      const i = cursor.valueIndex(p);
      params[this.names[p] as string] = (this.values[p] as ParamValue[])[i] as ParamValue;
      const field = this.fields[p];
      if (field) {
        params[field.startKey] = field.start[i] as ParamValue;
        params[field.endKey] = field.end[i] as ParamValue;
      }
    }
    if (this.mayCollide) this.checkId(id, params);
    const unitId = cursor.unitId();
    let unit = this.units.get(unitId);
    if (!unit) {
      const unitParams: Params = {};
      for (const n of this.unitNames) unitParams[n] = params[n] as ParamValue;
      unit = { id: unitId, params: unitParams, configs: [] };
      this.units.set(unitId, unit);
    }
    unit.configs.push({ id, unit: unitId, params });
  }

  private checkId(id: string, params: Params): void {
    const folded = id.toLowerCase();
    const clash = this.byFoldedId.get(folded);
    if (clash) {
      const clashId = encodeId(clash, this.cursor.idPos.map((p) => this.names[p] as string));
      const how = clashId === id ? `the same id ${id}` : `ids that differ only in letter case (${clashId} and ${id}), which collide on case-insensitive filesystems`;
      throw new UserError(
        'ID_COLLISION',
        `${this.label}: params: configs ${JSON.stringify(clash)} and ${JSON.stringify(params)} map to ${how}; expected every config to have its own id: remove the duplicate value`,
      );
    }
    this.byFoldedId.set(folded, params);
  }

  /** Units and their configs sorted by id. */
  sortedUnits(): Unit[] {
    const units = [...this.units.values()].sort((a, b) => compareIds(a.id, b.id));
    for (const u of units) u.configs.sort((a, b) => compareIds(a.id, b.id));
    return units;
  }
}

/** `sample`'s candidates: each surviving combination's number and rank, then the n lowest. */
class RankedCombinations {
  private ranks: Float64Array = new Float64Array(1024);
  private combos: Float64Array = new Float64Array(1024);
  private count = 0;

  add(combination: number, rank: number): void {
    if (this.count === this.ranks.length) {
      this.ranks = grow(this.ranks);
      this.combos = grow(this.combos);
    }
    this.ranks[this.count] = rank;
    this.combos[this.count] = combination;
    this.count++;
  }

  /** The combinations of the n lowest ranks (all of them when n is larger); a tie at the cut goes to the lower ids. */
  lowest(n: number, idOf: (combination: number) => string): number[] {
    if (n >= this.count) return Array.from(this.combos.subarray(0, this.count));
    const cut = sampleCut(this.ranks.subarray(0, this.count), n);
    const kept: number[] = [];
    const ties: Array<{ id: string; c: number }> = [];
    for (let k = 0; k < this.count; k++) {
      const r = this.ranks[k] as number;
      if (r < cut.rank) kept.push(this.combos[k] as number);
      else if (r === cut.rank) ties.push({ id: idOf(this.combos[k] as number), c: this.combos[k] as number });
    }
    // A 53-bit hash tie at the cut (rare): the lower ids win, so the subset does not depend on enumeration order.
    ties.sort((a, b) => compareIds(a.id, b.id));
    for (const t of ties.slice(0, n - cut.below)) kept.push(t.c);
    return kept;
  }
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

/** `--limit`: the configs spreadLimit picks, units left empty dropped. */
function limitUnits(units: readonly Unit[], n: number): Unit[] {
  const keep = spreadLimit(
    units.map((u) => u.configs.length),
    n,
  );
  return units.map((u, i) => ({ ...u, configs: (keep[i] as number[]).map((k) => u.configs[k] as Config) })).filter((u) => u.configs.length > 0);
}

/** Byte order (ids are ASCII), the order the worker's merge and collect rely on. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkLinkLengths(group: readonly string[], resolved: readonly ResolvedParam[], g: number, locate: Locate): void {
  const sizes = group.map((n) => ({ n, size: resolved.find((p) => p.name === n)?.values.length ?? 0 }));
  const first = sizes[0]?.size;
  if (sizes.some((s) => s.size !== first)) {
    throw new UserError(
      'SPEC_INVALID',
      `${locate(['link', g])}: link[${g}]: expected params of one length (they are taken pairwise), found ${sizes.map((s) => `${s.n} ${s.size} value${s.size === 1 ? '' : 's'}`).join(', ')}`,
    );
  }
}

/** `exclude` as a test of the cursor's combination: each rule as (param, which of its values match) pairs. */
function excludeTest(spec: Spec, resolved: readonly ResolvedParam[], cursor: Cursor): (() => boolean) | undefined {
  if (spec.exclude.length === 0) return undefined;
  const rules = spec.exclude.map((rule) =>
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
  return () => rules.some((rule) => rule.every(([p, mask]) => mask[cursor.valueIndex(p)] === 1));
}

/**
 * `where` as a test of the current combination, memoised on the value indices
 * of the params it names: a constraint on two params of 50 values each is
 * evaluated 2,500 times whatever the grid's size.
 */
function whereTest(where: CompiledWhere, resolved: readonly ResolvedParam[], cursor: Cursor, locate: Locate): () => boolean {
  const valueIndex = (p: number): number => cursor.valueIndex(p);
  const reads = where.names.map((name) => {
    const dot = name.indexOf('.');
    const param = dot < 0 ? name : name.slice(0, dot);
    const p = resolved.findIndex((r) => r.name === param);
    const r = resolved[p] as ResolvedParam;
    const list = dot < 0 ? r.values : name.endsWith('.start') ? (r.fields?.start ?? []) : (r.fields?.end ?? []);
    return { name, p, list };
  });
  const used = [...new Set(reads.map((r) => r.p))];
  const strides: number[] = [];
  let space = 1;
  for (const p of used) {
    strides.push(space);
    space *= (resolved[p] as ResolvedParam).values.length;
  }
  // 0 unknown, 1 true, 2 false
  const table = space <= 1 << 24 ? new Uint8Array(space) : undefined;
  const map = table ? undefined : new Map<number, boolean>();
  return () => {
    let key = 0;
    for (let k = 0; k < used.length; k++) key += valueIndex(used[k] as number) * (strides[k] as number);
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
