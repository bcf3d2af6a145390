/**
 * What the worker reads from a sweep directory written by `sweep generate`:
 * `spec.json` (connection and worker settings), `units/<unit>.json` (the unit's
 * configs, sorted by id, with their SQL hashes; never the whole manifest) and
 * the SQL files under `sql/<unit>/`. Bad input is a UserError naming the path,
 * what was expected and what was found.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { UnitIndex } from '../format/manifest.js';
import type { Spec } from '../spec/schema.js';
import { compareIds, isSortedById, type UnitConfig } from './todo.js';

export interface UnitDir {
  dir: string;
  unit: string;
  spec: Spec;
  sweep: string;
  /** Sorted by id, unique. */
  configs: UnitConfig[];
  sqlDir: string;
  resultsDir: string;
  resultsPath: string;
  lockPath: string;
}

/** Unit ids are file names made by src/spec/ids.ts: no separators, no dot-dot. */
const UNIT_ID = /^[A-Za-z0-9.+_~-]+$/;

export function loadUnitDir(dirArg: string, unit: string, cwd = process.cwd()): UnitDir {
  const dir = resolve(cwd, dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError('DIR_MISSING', `--dir ${dirArg}: expected a sweep directory written by 'sweep generate', found ${existsSync(dir) ? 'a file' : 'no such directory'} (${dir})`);
  }
  if (!UNIT_ID.test(unit) || unit === '.' || unit === '..') {
    throw new UserError('UNIT_INVALID', `--unit ${JSON.stringify(unit)}: expected a unit id as generate writes them (letters, digits, . + _ ~ -), found other characters`);
  }
  const specPath = join(dir, 'spec.json');
  const spec = readJson<Spec>(specPath, 'the validated spec copy that generate writes');
  if (typeof spec.name !== 'string' || typeof spec.worker !== 'object' || typeof spec.clickhouse !== 'object') {
    throw new UserError('DIR_INVALID', `${specPath}: expected the spec copy written by generate (name, clickhouse, worker), found an object without them`);
  }
  const indexPath = join(dir, 'units', `${unit}.json`);
  if (!existsSync(indexPath)) {
    const known = existsSync(join(dir, 'units')) ? readdirSync(join(dir, 'units')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)) : [];
    const hint = known.length > 0 ? `units here: ${known.slice(0, 5).join(', ')}${known.length > 5 ? `, ... (${known.length})` : ''}` : 'no units here (was generate run?)';
    throw new UserError('UNIT_MISSING', `--unit ${unit}: expected ${indexPath}, found no such file; ${hint}`);
  }
  const index = readJson<UnitIndex>(indexPath, "a unit index written by 'sweep generate'");
  if (index.v !== 1 || !Array.isArray(index.configs) || index.unit !== unit) {
    throw new UserError('DIR_INVALID', `${indexPath}: expected a v1 unit index for unit ${unit}, found ${JSON.stringify({ v: index.v, unit: index.unit })}`);
  }
  let configs: UnitConfig[] = index.configs;
  for (const c of configs) {
    if (typeof c.id !== 'string' || typeof c.sql_sha256 !== 'string') {
      throw new UserError('DIR_INVALID', `${indexPath}: expected configs with "id" and "sql_sha256" strings, found ${JSON.stringify(c).slice(0, 200)}`);
    }
  }
  // generate writes them sorted; the merge depends on it, so check rather than trust.
  if (!isSortedById(configs)) {
    configs = configs.slice().sort((a, b) => compareIds(a.id, b.id));
    for (let i = 1; i < configs.length; i++) {
      if ((configs[i] as UnitConfig).id === (configs[i - 1] as UnitConfig).id) {
        throw new UserError('DIR_INVALID', `${indexPath}: expected unique config ids, found ${(configs[i] as UnitConfig).id} twice`);
      }
    }
  }
  const resultsDir = join(dir, 'results');
  return {
    dir,
    unit,
    spec,
    sweep: index.sweep || spec.name,
    configs,
    sqlDir: join(dir, 'sql', unit),
    resultsDir,
    resultsPath: join(resultsDir, `${unit}.ndjson`),
    lockPath: join(resultsDir, `${unit}.lock`),
  };
}

function readJson<T>(path: string, what: string): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError('DIR_INVALID', `${path}: expected ${what}, found ${code === 'ENOENT' ? 'no such file' : String(code)}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new UserError('DIR_INVALID', `${path}: expected ${what}, found invalid JSON (${(err as Error).message})`);
  }
}
