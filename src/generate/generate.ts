/**
 * `sweep generate`: spec -> one SQL file per config, the manifest, per-unit
 * indexes, the spec copy and the worker bundle, all under <out>.
 *
 * Atomic without a temp file per SQL file (4x the cost of plain writes at 300K
 * files): each new or changed unit is built in <out>/.staging/<unit> (unchanged
 * files hard-linked in, so their mtime is kept and rsync skips them) and swapped
 * in by rename. The manifest is written last; a marker file present during the
 * run tells the next run not to trust the old manifest after a crash.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { splitStatements } from '../engine/split.js';
import { UserError } from '../errors.js';
import type { UnitIndex } from '../format/manifest.js';
import { SETUP_SQL } from '../setup/setup.js';
import { lineOf } from '../sql/lexer.js';
import { ownFormatOfLastStatement } from '../sql/format-clause.js';
import { writeFileAtomicSync } from '../fs/atomic.js';
import { VALUES_FILE } from '../grid/frozen.js';
import { describeValuesNote, placeholderNames, resolveParams, type ResolvedGrid, type ResolvedParam, type ValuesNote } from '../grid/resolve.js';
import type { ParamValue } from '../results/record.js';
import { expandGrid, type Config, type Grid, type GridStats } from '../spec/grid.js';
import { loadSpec, type LoadedSpec } from '../spec/load.js';
import { paramFormOf, type Spec } from '../spec/schema.js';
import { TOOL_VERSION } from '../version.js';
import { acquireSweepLock } from '../worker/lock.js';
import { ManifestWriter } from './manifest-writer.js';
import { openUnitWriter, type WriteCounts } from './unit-writer.js';
import { compileTemplate, TemplateRenderer, unusedParams, type CompiledTemplate, type ValueSite } from './template.js';
import { WORKER_BUNDLE, workerBundlePath } from './worker-bundle.js';

export interface GenerateOptions {
  specPath: string;
  outDir?: string;
  dryRun?: boolean;
  cwd?: string;
  /** Copy dist/worker.mjs into <out> (default true; the bundle must exist). */
  withWorker?: boolean;
  /** The sweep as prepareSweep already validated it (sweep run), so it is not done twice. */
  prepared?: PreparedSweep;
  /** The caller already holds the sweep dir's lock (sweep run); otherwise generate takes it. */
  lockHeld?: boolean;
  /** Read `{file}`, `{csv}` and `{sql}` values again instead of reusing the frozen ones. */
  refreshValues?: boolean;
  /** A smoke run: keep this many configs, spread over the units (marked in the manifest). */
  limit?: number;
  /** For `{sql}` values: where the server is (default env CLICKHOUSE_URL, then the spec). */
  env?: NodeJS.ProcessEnv;
}

export interface GenerateSummary {
  configs: number;
  units: number;
  written: number;
  unchanged: number;
  removed: number;
  out: string;
  /** Things that will work but probably not as meant (printed on stderr). */
  warnings: string[];
  /** How the grid came to its size (what --dry-run prints). */
  grid: GridSummary;
  /** Params whose values came from a file, a CSV or SQL: read now, or kept frozen from an earlier run. */
  values: ValuesNote[];
  /** `--limit`: a smoke run of n configs out of the grid's `of`; null for the whole grid. */
  limit: { n: number; of: number } | null;
  /** One line per thing worth saying that is not a warning (frozen values kept, a smoke run). */
  notes: string[];
}

export interface GridSummary extends GridStats {
  /** The link groups, each taken pairwise. */
  links: string[][];
  /** Configs per unit, in unit order. */
  per_unit: Array<{ unit: string; configs: number }>;
  /** The first few config ids, in order. */
  first_ids: string[];
}

export const MARKER = '.sweep-generating';
const STAGING = '.staging';

export interface PreparedSweep {
  loaded: LoadedSpec;
  grid: Grid;
  renderer: TemplateRenderer;
  templateSha256: string;
  /** The setup SQL's text, copied to <out>/setup.sql; undefined without `setup:`. */
  setupText: string | undefined;
  warnings: string[];
  /** Each param's values, the frozen outside values and what happened to them. */
  resolved: ResolvedGrid;
  /** The sweep dir the values were frozen for (and the embedded engine's data dir is under). */
  outDir: string;
}

export interface PrepareOptions {
  /** The sweep dir (default out/<name> under cwd): where frozen values are read from. */
  outDir?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  /** sweep run's --clickhouse-url, for `{sql}` values. */
  clickhouseUrl?: string | undefined;
  refreshValues?: boolean | undefined;
  limit?: number | undefined;
}

/** ClickHouse's default max_query_size (bytes of query text it parses), 256 KiB on 18.16 and current releases. */
export const MAX_QUERY_SIZE_DEFAULT = 262_144;

/** Everything that can fail on bad input, done before anything is written. */
export async function prepareSweep(specPath: string, cwd: string, opts: PrepareOptions = {}): Promise<PreparedSweep> {
  const loaded = await loadSpec(specPath, cwd);
  const { spec } = loaded;
  const outDir = opts.outDir ? resolve(cwd, opts.outDir) : defaultOutDir(spec, cwd);
  const templatePath = resolve(loaded.dir, spec.template);
  const templateLabel = relative(cwd, templatePath) || templatePath;
  let text: string;
  try {
    text = await readFile(templatePath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      'TEMPLATE_MISSING',
      `${specPath}: template: expected a readable SQL file, found ${code === 'ENOENT' ? 'no such file' : String(code)} at ${templatePath}`,
    );
  }
  const paramNames = Object.keys(spec.params);
  const epochNames = paramNames.filter((n) => paramFormOf(spec.params[n] as Spec['params'][string]) === 'every');
  const tpl = compileTemplate(text, templateLabel, placeholderNames(spec));
  checkEpochSlots(tpl, epochNames, templateLabel, loaded);
  const own = ownFormatOfLastStatement(text);
  if (own) {
    throw new UserError(
      'TEMPLATE_INVALID',
      `${templateLabel}:${lineOf(text, own.offset)}: the last statement sets its own output format (FORMAT ${own.format}); expected none: sweep reads every result as JSON to keep its values exact (remove the FORMAT clause)`,
    );
  }
  const unused = unusedParams(tpl, paramNames);
  if (unused.length > 0) {
    throw new UserError(
      'TEMPLATE_INVALID',
      `${templateLabel}: param ${unused.map((u) => JSON.stringify(u)).join(', ')} from ${specPath} is never used: expected a {${unused[0]}:Type} placeholder somewhere in the template, found none (a param that changes nothing would run the same SQL many times)`,
    );
  }
  let setupText: string | undefined;
  if (spec.setup !== undefined) {
    const setupPath = resolve(loaded.dir, spec.setup);
    if (!existsSync(setupPath)) throw new UserError('SPEC_INVALID', `${specPath}: setup: expected a readable SQL file, found no such file at ${setupPath}`);
    setupText = readFileSync(setupPath, 'utf8');
    // Split now, so an unterminated quote is reported before anything is written.
    try {
      splitStatements(setupText);
    } catch (err) {
      throw new UserError('SPEC_INVALID', `${relative(cwd, setupPath) || setupPath}: ${(err as Error).message}`);
    }
  }
  // Before anything can create <out>/.chdb (a `{sql}` param on the embedded engine).
  checkOutDir(outDir);
  const resolved = await resolveParams(loaded, {
    outDir,
    env: opts.env ?? process.env,
    clickhouseUrl: opts.clickhouseUrl,
    refreshValues: opts.refreshValues === true,
  });
  const grid = expandGrid(spec, specPath, { resolved: resolved.params, where: resolved.where, locate: loaded.locate, limit: opts.limit });
  const renderer = new TemplateRenderer(tpl, templateLabel);
  const { values, site } = valuesToCheck(resolved.params, loaded);
  renderer.checkAll(values, specPath, loaded.locate, site);
  return {
    loaded,
    grid,
    renderer,
    templateSha256: sha256(text),
    setupText,
    warnings: [...grid.warnings, ...gridWarnings(grid, specPath)],
    resolved,
    outDir,
  };
}

/** `{period:Date}` for an epoch param: its value is the period's label (2019Q2), so point at its fields. */
function checkEpochSlots(tpl: CompiledTemplate, epochNames: readonly string[], templateLabel: string, loaded: LoadedSpec): void {
  for (const slot of tpl.slots) {
    if (epochNames.includes(slot.name) && /^Date/.test(slot.type)) {
      throw new UserError(
        'TEMPLATE_INVALID',
        `${templateLabel}:${slot.line}: {${slot.name}:${slot.type}}: params.${slot.name} (${loaded.locate(['params', slot.name])}) is a date epoch whose value is the period's label (2019, 2019Q2, ...): expected {${slot.name}.start:${slot.type}} or {${slot.name}.end:${slot.type}}, found {${slot.name}:${slot.type}}`,
      );
    }
  }
}

/**
 * Every value the templates will see, by placeholder name (epoch fields under
 * `period.start`/`period.end`), and where each came from for messages: a list
 * value points at its own line, a generated one at its param's mapping.
 */
function valuesToCheck(params: readonly ResolvedParam[], loaded: LoadedSpec): { values: Record<string, ParamValue[]>; site: ValueSite } {
  const values: Record<string, ParamValue[]> = {};
  const byName = new Map<string, ResolvedParam>();
  for (const p of params) {
    values[p.name] = p.values;
    byName.set(p.name, p);
    if (p.fields) {
      values[`${p.name}.start`] = p.fields.start;
      values[`${p.name}.end`] = p.fields.end;
      byName.set(`${p.name}.start`, p);
      byName.set(`${p.name}.end`, p);
    }
  }
  const site: ValueSite = (name, i) => {
    const p = byName.get(name) as ResolvedParam;
    if (p.form === 'list') return { where: loaded.locate(['params', name, i]), path: `params.${name}[${i}]` };
    const where = loaded.locate(['params', p.name, ...(p.form === 'file' || p.form === 'csv' || p.form === 'sql' ? [p.form] : [])]);
    if (p.fields) return { where, path: `params.${name} of period ${String(p.values[i])}` };
    const from = p.form === 'step' || p.form === 'num' ? 'its range' : p.form === 'sql' ? 'its query' : `its ${p.form === 'csv' ? 'CSV column' : 'file'}`;
    return { where, path: `params.${name} (value ${i + 1} of ${p.values.length}, from ${from})` };
  };
  return { values, site };
}

/** The seeds' rule: pueue at unit level (hundreds of tasks), the queries inside a unit (thousands each). */
function gridWarnings(grid: Grid, specPath: string): string[] {
  const warnings: string[] = [];
  const perUnit = grid.configCount / grid.units.length;
  const oneEach = grid.unitNames.length === grid.paramNames.length && grid.units.length > 1;
  if (oneEach || grid.units.length > 2000) {
    warnings.push(
      `${specPath}: unit: ${grid.units.length} units of ${perUnit < 10 ? perUnit.toFixed(perUnit < 2 ? 0 : 1) : Math.round(perUnit)} config(s) each${oneEach ? ' (it lists every param: one query per pueue task)' : ''}; ` +
        `pueue is for units (hundreds of tasks), the worker for the queries inside one (thousands each): every task costs a pueue add and a state-file rewrite, ` +
        `so list fewer params under unit: (e.g. ${grid.unitNames.slice(0, Math.max(1, grid.unitNames.length - 1)).join(', ')})`,
    );
  }
  return warnings;
}

/** A warning when a config's SQL passes the server's default max_query_size: every config would fail with code 62. */
function sizeWarning(bytes: number, config: string): string {
  return (
    `config ${config}: its SQL is ${(bytes / 1024).toFixed(0)} KiB, above ClickHouse's default max_query_size of 256 KiB: every such config fails with SYNTAX_ERROR (62) ` +
    `unless the server's profile raises max_query_size (e.g. <max_query_size>${Math.ceil((bytes * 2) / 1024) * 1024}</max_query_size> in users.xml); or move the data into a table the template reads`
  );
}

export function defaultOutDir(spec: Spec, cwd: string): string {
  return resolve(cwd, 'out', spec.name);
}

export async function generate(opts: GenerateOptions): Promise<GenerateSummary> {
  const cwd = opts.cwd ?? process.cwd();
  const prepared =
    opts.prepared ??
    (await prepareSweep(opts.specPath, cwd, {
      outDir: opts.outDir,
      env: opts.env,
      refreshValues: opts.refreshValues,
      limit: opts.limit,
    }));
  const { loaded } = prepared;
  const out = opts.outDir ? resolve(cwd, opts.outDir) : defaultOutDir(loaded.spec, cwd);
  checkOutDir(out);
  const bundle = opts.withWorker === false ? undefined : workerBundlePath();
  if (bundle && !existsSync(bundle)) {
    throw new UserError('BUNDLE_MISSING', `worker bundle not found at ${bundle}: run 'npm run build' first`);
  }
  if (opts.dryRun) return planOnly(prepared, out);
  // One writer per sweep dir: a second generate (or a run) waiting here would rewrite the tree under the first.
  const lock = opts.lockHeld ? undefined : await acquireSweepLock(out, `sweep generate ${opts.specPath}`);
  try {
    return await writeSweep(prepared, out, bundle);
  } finally {
    await lock?.release();
  }
}

/** Refuse to take over a directory that is neither empty nor a sweep output: we delete stale files in it. */
export function checkOutDir(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError('OUT_INVALID', `--out ${out}: expected a directory, found a file`);
  const entries = readdirSync(out);
  const ours = new Set(['manifest.json', MARKER, 'sql', 'units', 'results', STAGING, 'spec.json', WORKER_BUNDLE, SETUP_SQL, '.sweep', 'logs', VALUES_FILE, '.chdb']);
  if (entries.length > 0 && !entries.includes('manifest.json') && !entries.includes(MARKER)) {
    const foreign = entries.filter((e) => !ours.has(e));
    if (foreign.length > 0) {
      throw new UserError(
        'OUT_INVALID',
        `--out ${out}: expected an empty directory or an earlier sweep output (with manifest.json), found ${entries.length} other entries (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''})`,
      );
    }
  }
}

/**
 * What the previous run wrote for one unit (config id -> sql sha256), from its
 * small units/<unit>.json rather than the whole manifest. After a crash mid-run
 * (marker present) disk and indexes may disagree: return undefined so file
 * contents are compared instead.
 */
function readOldUnit(out: string, unitId: string, trusted: boolean): Map<string, string> | undefined {
  if (!trusted) return undefined;
  try {
    const index = JSON.parse(readFileSync(join(out, 'units', `${unitId}.json`), 'utf8')) as UnitIndex;
    return new Map(index.configs.map((c) => [c.id, c.sql_sha256]));
  } catch {
    return undefined;
  }
}

function isTrusted(out: string): boolean {
  return !existsSync(join(out, MARKER));
}

function planOnly(prepared: PreparedSweep, out: string): GenerateSummary {
  const trusted = isTrusted(out);
  let written = 0;
  let unchanged = 0;
  let removed = 0;
  const { grid, renderer } = prepared;
  const liveUnits = new Set(grid.units.map((u) => u.id));
  for (const unit of grid.units) {
    const before = readOldUnit(out, unit.id, trusted);
    const live = new Set<string>();
    for (const c of unit.configs) {
      live.add(c.id);
      const sha = sha256(renderer.render(c.params));
      if (before?.get(c.id) === sha) unchanged++;
      else written++;
    }
    for (const id of before?.keys() ?? []) if (!live.has(id)) removed++;
  }
  const unitsDir = join(out, 'units');
  for (const entry of existsSync(unitsDir) ? readdirSync(unitsDir) : []) {
    const unitId = entry.replace(/\.json$/, '');
    if (!liveUnits.has(unitId)) removed += readOldUnit(out, unitId, trusted)?.size ?? 0;
  }
  let biggest = { bytes: 0, config: '' };
  for (const unit of grid.units) {
    const c = unit.configs[0];
    if (!c) continue;
    const bytes = Buffer.byteLength(renderer.render(c.params));
    if (bytes > biggest.bytes) biggest = { bytes, config: c.id };
  }
  const warnings = [...prepared.warnings, ...(biggest.bytes > MAX_QUERY_SIZE_DEFAULT ? [sizeWarning(biggest.bytes, biggest.config)] : [])];
  return { configs: grid.configCount, units: grid.units.length, written, unchanged, removed, out, warnings, ...gridReport(prepared, out, true) };
}

/** The summary's account of the grid, the outside values and a smoke-run limit. */
function gridReport(prepared: PreparedSweep, out: string, dryRun = false): Pick<GenerateSummary, 'grid' | 'values' | 'limit' | 'notes'> {
  const { grid, loaded, resolved } = prepared;
  const first_ids: string[] = [];
  for (const u of grid.units) {
    for (const c of u.configs) {
      if (first_ids.length >= 5) break;
      first_ids.push(c.id);
    }
    if (first_ids.length >= 5) break;
  }
  const notes = resolved.notes.map((n) => describeValuesNote(n, out, dryRun));
  if (grid.limited) {
    notes.push(
      `--limit ${grid.limited.n}: a smoke run of ${grid.limited.n} of the grid's ${grid.limited.of} configs, spread over ${grid.units.length} units (marked in the manifest); generate without --limit for the whole grid`,
    );
  }
  return {
    grid: { ...grid.stats, links: loaded.spec.link, per_unit: grid.units.map((u) => ({ unit: u.id, configs: u.configs.length })), first_ids },
    values: resolved.notes,
    limit: grid.limited ?? null,
    notes,
  };
}

async function writeSweep(prepared: PreparedSweep, out: string, bundle: string | undefined): Promise<GenerateSummary> {
  const { loaded, grid, renderer } = prepared;
  const trusted = isTrusted(out);
  const sqlRoot = join(out, 'sql');
  const unitsRoot = join(out, 'units');
  const staging = join(out, STAGING);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, MARKER), `${process.pid}\n`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  mkdirSync(sqlRoot, { recursive: true });
  mkdirSync(unitsRoot, { recursive: true });

  const counts = { written: 0, unchanged: 0, removed: 0 };
  const warnings = [...prepared.warnings];
  let biggest = { bytes: 0, config: '' };
  const manifest = new ManifestWriter(join(out, 'manifest.json'), {
    v: 1,
    name: loaded.spec.name,
    tool_version: TOOL_VERSION,
    spec_sha256: loaded.sha256,
    template_sha256: prepared.templateSha256,
    ...(grid.limited ? { limit: grid.limited } : {}),
    units: grid.units.map((u) => ({ id: u.id, params: u.params, configs: u.configs.length })),
  });
  const liveUnits = new Set<string>();
  // Two units in flight: the writer thread writes one while this thread renders the next.
  const writer = openUnitWriter();
  const inFlight: Array<Promise<WriteCounts>> = [];
  const add = (c: WriteCounts) => {
    counts.written += c.written;
    counts.unchanged += c.unchanged;
    counts.removed += c.removed;
  };
  try {
    for (const unit of grid.units) {
      liveUnits.add(unit.id);
      const files = unit.configs.map((c) => {
        const sql = renderer.render(c.params);
        if (sql.length > biggest.bytes) biggest = { bytes: Buffer.byteLength(sql), config: c.id };
        return { id: c.id, sql, sha: sha256(sql) };
      });
      const before = readOldUnit(out, unit.id, trusted);
      if (inFlight.length >= 2) add(await (inFlight.shift() as Promise<WriteCounts>));
      inFlight.push(writer.write({ unit: unit.id, files, before: before ? [...before] : null, sqlRoot, staging }));
      const index: UnitIndex = {
        v: 1,
        sweep: loaded.spec.name,
        unit: unit.id,
        params: unit.params,
        configs: unit.configs.map((c, i) => ({ id: c.id, params: c.params, sql_sha256: (files[i] as { sha: string }).sha })),
      };
      // Not fsynced: the marker makes a crashed run distrust these, and the manifest (last) is.
      writeIfChanged(join(unitsRoot, `${unit.id}.json`), JSON.stringify(index), { durable: false });
      for (let i = 0; i < unit.configs.length; i++) {
        const c = unit.configs[i] as Config;
        manifest.add({ id: c.id, unit: unit.id, params: c.params, sql_sha256: (files[i] as { sha: string }).sha });
      }
    }
    for (const p of inFlight.splice(0)) add(await p);
  } catch (err) {
    await Promise.allSettled(inFlight);
    manifest.abort();
    throw err;
  } finally {
    await writer.close();
  }
  // Units that left the grid (and anything else in our own sql/ and units/ trees).
  for (const entry of readdirSync(sqlRoot)) {
    if (liveUnits.has(entry)) continue;
    const dir = join(sqlRoot, entry);
    counts.removed += statSync(dir).isDirectory() ? readdirSync(dir).filter((f) => f.endsWith('.sql')).length : 1;
    rmSync(dir, { recursive: true, force: true });
  }
  for (const entry of readdirSync(unitsRoot)) {
    if (!liveUnits.has(entry.replace(/\.json$/, ''))) rmSync(join(unitsRoot, entry), { force: true });
  }

  writeIfChanged(join(out, 'spec.json'), `${JSON.stringify(loaded.spec, null, 2)}\n`);
  // Outside values frozen for the next run (unchanged bytes keep the file's mtime).
  if (prepared.resolved.frozen) writeIfChanged(join(out, VALUES_FILE), `${JSON.stringify(prepared.resolved.frozen, null, 2)}\n`);
  else rmSync(join(out, VALUES_FILE), { force: true });
  // The setup SQL travels with the sweep: sweep run and submit-all run it from here, workers check it.
  if (prepared.setupText !== undefined) writeIfChanged(join(out, SETUP_SQL), prepared.setupText);
  else rmSync(join(out, SETUP_SQL), { force: true });
  if (biggest.bytes > MAX_QUERY_SIZE_DEFAULT) warnings.push(sizeWarning(biggest.bytes, biggest.config));
  manifest.finish();
  if (bundle) writeIfChanged(join(out, WORKER_BUNDLE), readFileSync(bundle));
  rmSync(staging, { recursive: true, force: true });
  rmSync(join(out, MARKER), { force: true });
  return { configs: grid.configCount, units: grid.units.length, ...counts, out, warnings, ...gridReport(prepared, out) };
}

function writeIfChanged(path: string, data: string | Buffer, opts: { durable?: boolean } = {}): void {
  try {
    const current = readFileSync(path);
    if (current.equals(typeof data === 'string' ? Buffer.from(data) : data)) return;
  } catch {
    // missing: write it
  }
  writeFileAtomicSync(path, data, opts);
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}
