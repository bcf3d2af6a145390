/**
 * Grid expansion: every combination of param values, minus `exclude` rules,
 * grouped into units. Ids are checked here: two configs with one id, or ids that
 * differ only in letter case (they would overwrite each other on a
 * case-insensitive filesystem such as a Mac's), are errors.
 */
import { UserError } from '../errors.js';
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

export interface Grid {
  paramNames: string[];
  unitNames: string[];
  restNames: string[];
  /** Sorted by id. */
  units: Unit[];
  configCount: number;
}

export function expandGrid(spec: Spec, label = 'spec'): Grid {
  const paramNames = Object.keys(spec.params);
  const unitNames = [...spec.unit];
  const restNames = paramNames.filter((n) => !unitNames.includes(n));
  checkExcludeValues(spec, label);

  const units = new Map<string, Unit>();
  // folded id -> the config that has it (its params as written, for messages)
  const byFoldedId = new Map<string, Config>();
  let configCount = 0;
  const lists = paramNames.map((n) => spec.params[n] as ParamValue[]);
  // Each value's `name-value` id fragment, encoded once rather than once per config.
  const fragments = paramNames.map((n, i) => (lists[i] as ParamValue[]).map((v) => encodeId({ [n]: v }, [n])));
  const unitPos = unitNames.map((n) => paramNames.indexOf(n));
  const idPos = [...unitPos, ...restNames.map((n) => paramNames.indexOf(n))];
  const current: ParamValue[] = new Array<ParamValue>(paramNames.length);
  const chosen: number[] = new Array<number>(paramNames.length).fill(0);

  const visit = (depth: number): void => {
    if (depth === paramNames.length) {
      const params: Params = {};
      for (let i = 0; i < paramNames.length; i++) params[paramNames[i] as string] = current[i] as ParamValue;
      if (isExcluded(params, spec.exclude)) return;
      const unitId = unitNames.length === 0 ? ALL_UNIT : unitPos.map((p) => fragments[p]?.[chosen[p] as number]).join('__');
      const id = idPos.map((p) => fragments[p]?.[chosen[p] as number]).join('__');
      if (Buffer.byteLength(id) > MAX_ID_BYTES) {
        throw new UserError('ID_TOO_LONG', `${label}: params: config id ${id.slice(0, 60)}... is ${Buffer.byteLength(id)} bytes; expected at most ${MAX_ID_BYTES} (it is a file name): shorten the param names or values`);
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
      configCount++;
      return;
    }
    const values = lists[depth] as ParamValue[];
    for (let j = 0; j < values.length; j++) {
      current[depth] = values[j] as ParamValue;
      chosen[depth] = j;
      visit(depth + 1);
    }
  };
  visit(0);

  if (configCount === 0) {
    throw new UserError('GRID_EMPTY', `${label}: exclude: expected a grid with at least one config, found every combination excluded`);
  }
  const sortedUnits = [...units.values()].sort((a, b) => compareIds(a.id, b.id));
  for (const u of sortedUnits) u.configs.sort((a, b) => compareIds(a.id, b.id));
  return { paramNames, unitNames, restNames, units: sortedUnits, configCount };
}

/** Byte order (ids are ASCII), the order the worker's merge and collect rely on. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isExcluded(params: Params, rules: ReadonlyArray<Record<string, ParamValue>>): boolean {
  for (const rule of rules) {
    let all = true;
    for (const key in rule) {
      if (String(params[key]) !== String(rule[key])) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

/** A rule value that is not in the grid is almost always a typo: say so instead of excluding nothing. */
function checkExcludeValues(spec: Spec, label: string): void {
  spec.exclude.forEach((rule, i) => {
    for (const [key, value] of Object.entries(rule)) {
      const values = spec.params[key] ?? [];
      if (!values.some((v) => String(v) === String(value))) {
        throw new UserError(
          'SPEC_INVALID',
          `${label}: exclude[${i}].${key}: expected one of the values of params.${key} (${values.map((v) => JSON.stringify(v)).join(', ')}), found ${JSON.stringify(value)}`,
        );
      }
    }
  });
}
