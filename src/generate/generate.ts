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
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomicSync } from '../fs/atomic.js';
import { expandGrid, type Grid, type Unit } from '../spec/grid.js';
import { loadSpec, type LoadedSpec } from '../spec/load.js';
import type { Spec } from '../spec/schema.js';
import type { Params } from '../results/record.js';
import { TOOL_VERSION } from '../version.js';
import type { UnitIndex } from './manifest-types.js';
import { ManifestWriter } from './manifest-writer.js';
import { compileTemplate, TemplateRenderer, unusedParams } from './template.js';
import { WORKER_BUNDLE, workerBundlePath } from './worker-bundle.js';

export interface GenerateOptions {
  specPath: string;
  outDir?: string;
  dryRun?: boolean;
  cwd?: string;
  /** Copy dist/worker.mjs into <out> (default true; the bundle must exist). */
  withWorker?: boolean;
}

export interface GenerateSummary {
  configs: number;
  units: number;
  written: number;
  unchanged: number;
  removed: number;
  out: string;
}

export const MARKER = '.sweep-generating';
const STAGING = '.staging';

export interface PreparedSweep {
  loaded: LoadedSpec;
  grid: Grid;
  renderer: TemplateRenderer;
  templateSha256: string;
}

/** Everything that can fail on bad input, done before anything is written. */
export async function prepareSweep(specPath: string, cwd: string): Promise<PreparedSweep> {
  const loaded = await loadSpec(specPath, cwd);
  const { spec } = loaded;
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
  const tpl = compileTemplate(text, templateLabel, paramNames);
  const unused = unusedParams(tpl, paramNames);
  if (unused.length > 0) {
    throw new UserError(
      'TEMPLATE_INVALID',
      `${templateLabel}: param ${unused.map((u) => JSON.stringify(u)).join(', ')} from ${specPath} is never used: expected a {${unused[0]}:Type} placeholder somewhere in the template, found none (a param that changes nothing would run the same SQL many times)`,
    );
  }
  if (spec.setup !== undefined && !existsSync(resolve(loaded.dir, spec.setup))) {
    throw new UserError('SPEC_INVALID', `${specPath}: setup: expected a readable SQL file, found no such file at ${resolve(loaded.dir, spec.setup)}`);
  }
  const grid = expandGrid(spec, specPath);
  const renderer = new TemplateRenderer(tpl, templateLabel);
  renderer.checkAll(spec.params, specPath);
  return { loaded, grid, renderer, templateSha256: sha256(text) };
}

export function defaultOutDir(spec: Spec, cwd: string): string {
  return resolve(cwd, 'out', spec.name);
}

export async function generate(opts: GenerateOptions): Promise<GenerateSummary> {
  const cwd = opts.cwd ?? process.cwd();
  const prepared = await prepareSweep(opts.specPath, cwd);
  const { loaded } = prepared;
  const out = opts.outDir ? resolve(cwd, opts.outDir) : defaultOutDir(loaded.spec, cwd);
  checkOutDir(out);
  const bundle = opts.withWorker === false ? undefined : workerBundlePath();
  if (bundle && !existsSync(bundle)) {
    throw new UserError('BUNDLE_MISSING', `worker bundle not found at ${bundle}: run 'npm run build' first`);
  }
  if (opts.dryRun) return planOnly(prepared, out);
  return writeSweep(prepared, out, bundle);
}

/** Refuse to take over a directory that is neither empty nor a sweep output: we delete stale files in it. */
function checkOutDir(out: string): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError('OUT_INVALID', `--out ${out}: expected a directory, found a file`);
  const entries = readdirSync(out);
  const ours = new Set(['manifest.json', MARKER, 'sql', 'units', 'results', STAGING, 'spec.json', WORKER_BUNDLE]);
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
  return { configs: grid.configCount, units: grid.units.length, written, unchanged, removed, out };
}

function writeSweep(prepared: PreparedSweep, out: string, bundle: string | undefined): GenerateSummary {
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
  const manifest = new ManifestWriter(join(out, 'manifest.json'), {
    v: 1,
    name: loaded.spec.name,
    tool_version: TOOL_VERSION,
    spec_sha256: loaded.sha256,
    template_sha256: prepared.templateSha256,
    units: grid.units.map((u) => ({ id: u.id, params: u.params, configs: u.configs.length })),
  });
  const liveUnits = new Set<string>();
  try {
  for (const unit of grid.units) {
    liveUnits.add(unit.id);
    const rendered = unit.configs.map((c) => {
      const sql = renderer.render(c.params);
      return { config: c, sql, sha: sha256(sql) };
    });
    writeUnit(unit, rendered, readOldUnit(out, unit.id, trusted), { sqlRoot, staging }, counts);
    const index: UnitIndex = {
      v: 1,
      sweep: loaded.spec.name,
      unit: unit.id,
      params: unit.params,
      configs: rendered.map((r) => ({ id: r.config.id, params: r.config.params, sql_sha256: r.sha })),
    };
    // Not fsynced: the marker makes a crashed run distrust these, and the manifest (last) is.
    writeIfChanged(join(unitsRoot, `${unit.id}.json`), JSON.stringify(index), { durable: false });
    for (const r of rendered) manifest.add({ id: r.config.id, unit: unit.id, params: r.config.params, sql_sha256: r.sha });
  }
  } catch (err) {
    manifest.abort();
    throw err;
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
  manifest.finish();
  if (bundle) writeIfChanged(join(out, WORKER_BUNDLE), readFileSync(bundle));
  rmSync(staging, { recursive: true, force: true });
  rmSync(join(out, MARKER), { force: true });
  return { configs: grid.configCount, units: grid.units.length, ...counts, out };
}

interface Rendered {
  config: { id: string; params: Params };
  sql: string;
  sha: string;
}

function writeUnit(
  unit: Unit,
  rendered: Rendered[],
  before: Map<string, string> | undefined,
  dirs: { sqlRoot: string; staging: string },
  counts: { written: number; unchanged: number; removed: number },
): void {
  const target = join(dirs.sqlRoot, unit.id);
  const exists = existsSync(target);
  const present = exists ? new Set(readdirSync(target)) : new Set<string>();
  const expected = new Set(rendered.map((r) => `${r.config.id}.sql`));
  if (exists && before && before.size === rendered.length && present.size === expected.size && [...expected].every((f) => present.has(f))) {
    if (rendered.every((r) => before.get(r.config.id) === r.sha)) {
      counts.unchanged += rendered.length;
      return;
    }
  }
  const stage = join(dirs.staging, unit.id);
  mkdirSync(stage);
  for (const r of rendered) {
    const name = `${r.config.id}.sql`;
    const current = join(target, name);
    const same = present.has(name) && (before ? before.get(r.config.id) === r.sha : contentEquals(current, r.sql));
    if (same) {
      linkSync(current, join(stage, name)); // same inode: mtime preserved
      counts.unchanged++;
    } else {
      writeFileSync(join(stage, name), r.sql);
      counts.written++;
    }
  }
  for (const name of present) if (name.endsWith('.sql') && !expected.has(name)) counts.removed++;
  if (exists) {
    const trash = join(dirs.staging, `${unit.id}.old`);
    renameSync(target, trash);
    renameSync(stage, target);
    rmSync(trash, { recursive: true, force: true });
  } else {
    renameSync(stage, target);
  }
}

function contentEquals(path: string, text: string): boolean {
  try {
    return readFileSync(path, 'utf8') === text;
  } catch {
    return false;
  }
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
