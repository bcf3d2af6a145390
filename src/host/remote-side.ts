/**
 * The code that runs ON THE REMOTE HOST, inside the one session of a command:
 * node (>= 20) loads this compiled module and src/results/ndjson.js from
 * `data:` URLs sent through the session (see remote-script.ts), so the remote
 * runs exactly this version and needs nothing installed but node and pueue.
 *
 * Constraint (checked by remote-script.ts when it loads the module): no
 * runtime imports but `node:` builtins. The NDJSON reader arrives as a module
 * argument (`ctx.ndjson`), so results are read by the same code everywhere.
 *
 * Every pueue call is an argv array (execFile, no shell). Only the task
 * command given to `pueue add` is shell text, built and quoted on the local
 * side by src/transport/shell-quote.ts, because pueue runs it with `sh -c`.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { AutoscaleDecision } from '../autoscale/rule.js';
import type * as Aside from '../results/aside.js';
import type * as Ndjson from '../results/ndjson.js';

export interface RemoteContext {
  ndjson: typeof Ndjson;
  aside: typeof Aside;
}

/**
 * What a record must carry to count as done on this host: its target (as the
 * worker here computes it) and the setup generation in force. The generation
 * is read here from the setup record when its SQL hash is `setupSha`;
 * otherwise setup is still to run and no record counts.
 */
export interface Origin {
  target: string;
  /** sha256 of the sweep's setup.sql, null when the sweep has none. */
  setupSha: string | null;
  /** `<sweep dir>/.sweep/setup/<target key>.json`. */
  setupRecordPath: string;
  /** --setup: it runs again, so no record of the current generation counts either. */
  forceSetup: boolean;
}

/** The setup generation records must carry; undefined when setup must (re)run first, so nothing counts. */
export function generationOf(origin: Origin): string | null | undefined {
  if (origin.setupSha === null) return null;
  if (origin.forceSetup) return undefined;
  const record = readSetupRecord(origin.setupRecordPath);
  return record && record.setup_sha256 === origin.setupSha ? record.generation : undefined;
}

export function readSetupRecord(path: string): { setup_sha256: string; generation: string; ran_at: string } | undefined {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as { setup_sha256?: unknown; generation?: unknown; ran_at?: unknown };
    if (typeof r.setup_sha256 === 'string' && typeof r.generation === 'string') return { setup_sha256: r.setup_sha256, generation: r.generation, ran_at: String(r.ran_at ?? '') };
  } catch {
    // missing: setup has not run on this target
  }
  return undefined;
}

export interface PueueRef {
  bin: string;
  /** `pueue -c FILE` on every call, or null for the user's default daemon. */
  config: string | null;
}

/** Where sweep keeps its own files in the sweep dir: the password, helper scripts. Never touched by rsync. */
export const PRIVATE_DIR = '.sweep';
export const PASSWORD_FILE = 'clickhouse_password';
const PUEUE_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------- process helpers

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: string;
}

function run(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? PUEUE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 30, cwd: opts.cwd },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        if (e && typeof e.code === 'string') {
          resolve({ code: null, stdout: String(stdout), stderr: String(stderr), error: `${e.code}: ${e.message}` });
          return;
        }
        const code = e ? (typeof e.code === 'number' ? e.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr), ...(e?.killed ? { error: `timed out after ${opts.timeoutMs ?? PUEUE_TIMEOUT_MS} ms` } : {}) });
      },
    );
  });
}

function pueueArgs(p: PueueRef, args: string[]): string[] {
  if (!p.config) return args;
  // remote.pueue_config is a path on this host; `~/` means this host's home.
  const config = p.config.startsWith('~/') ? join(process.env['HOME'] ?? homedir(), p.config.slice(2)) : p.config;
  return ['-c', config, ...args];
}

function pueue(p: PueueRef, args: string[], env?: NodeJS.ProcessEnv): Promise<Exec> {
  return run(p.bin, pueueArgs(p, args), env ? { env } : {});
}

/** pueue's errors are colourised even when not on a terminal. */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').trim();
}

function failure(x: Exec): string {
  return pueueErrorText(clean(x.stderr) || clean(x.stdout) || x.error || `exit ${x.code}`);
}

/**
 * pueue's errors are color-eyre reports: "Error:", numbered causes ("0: ...",
 * continuation lines indented), a source location and backtrace hints. One
 * line of causes, joined by "; ".
 */
export function pueueErrorText(text: string): string {
  const lines: string[] = [];
  for (const raw of clean(text).split('\n')) {
    const l = raw.trim();
    if (l === '' || l === 'Error:' || /^(Location:|Backtrace omitted|Run with RUST_BACKTRACE|\S*\.rs:\d+)/.test(l)) continue;
    const cause = /^\d+:\s*(.*)$/.exec(l);
    if (cause) lines.push(cause[1] ?? '');
    else if (lines.length > 0 && raw.startsWith('      ')) lines[lines.length - 1] += ` ${l}`;
    else lines.push(l.replace(/^Error:\s*/, ''));
  }
  return lines.join('; ');
}

// ---------------------------------------------------------------- task environment

/**
 * The whole environment of a unit task (pueue gives a task exactly the env of
 * the `pueue add` client, and stores it in state.json): the few variables
 * needed to run node and to reach the same daemon, nothing from the session,
 * never a secret.
 */
export function taskEnv(nodeBin: string, pueueBin: string, withSystemd: boolean, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const path = [...new Set([dirname(nodeBin), dirname(pueueBin), '/usr/local/bin', '/usr/bin', '/bin'])].join(':');
  const out: Record<string, string> = { HOME: env['HOME'] ?? homedir(), PATH: path };
  // pueue finds its config and socket through these; without them `pueue add` could reach another daemon.
  const keep = ['USER', 'LOGNAME', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'PUEUE_CONFIG_PATH'];
  if (withSystemd) keep.push('DBUS_SESSION_BUS_ADDRESS');
  for (const k of keep) {
    const v = env[k];
    if (v) out[k] = v;
  }
  return out;
}

// ---------------------------------------------------------------- units

export interface UnitProbe {
  /** Is the remote units/<unit>.json the same file as the local one? */
  index: 'same' | 'differs' | 'missing';
  total: number;
  ok: number;
  skipped: number;
  error: number;
  remaining: number;
  torn: boolean;
  bad: number;
  /** Size of the results file. */
  bytes: number;
}

interface IndexFile {
  configs: Array<{ id: string; sql_sha256: string }>;
}

/**
 * Where a unit stands, by the worker's own rule: a config is done when the
 * file holds an ok/skipped record with its current sql_sha256, written for
 * this target under the current setup generation (`generation` undefined:
 * setup must run first, nothing counts); an error record (and nothing done)
 * makes it an error, retried on the next run.
 */
export async function probeUnit(
  ctx: RemoteContext,
  sweepDir: string,
  unit: string,
  localIndexSha: string | null,
  target: string,
  generation: string | null | undefined,
  /** Read these instead of the sweep dir's (a local copy of a host's results, judged against the local index). */
  paths?: { index: string; results: string },
): Promise<UnitProbe> {
  const probe: UnitProbe = { index: 'missing', total: 0, ok: 0, skipped: 0, error: 0, remaining: 0, torn: false, bad: 0, bytes: 0 };
  const resultsPath = paths?.results ?? join(sweepDir, 'results', `${unit}.ndjson`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(paths?.index ?? join(sweepDir, 'units', `${unit}.json`));
  } catch {
    probe.bytes = existsSync(resultsPath) ? statSync(resultsPath).size : 0;
    return probe;
  }
  probe.index = localIndexSha === null || createHash('sha256').update(bytes).digest('hex') === localIndexSha ? 'same' : 'differs';
  const index = JSON.parse(bytes.toString('utf8')) as IndexFile;
  const want = new Map<string, string>();
  for (const c of index.configs) want.set(c.id, c.sql_sha256);
  probe.total = want.size;
  const scan = await ctx.ndjson.scanRecordHeads(resultsPath);
  probe.bytes = scan.size;
  probe.torn = scan.torn !== undefined;
  probe.bad = scan.bad.length;
  const done = new Map<string, 'ok' | 'skipped'>();
  const errored = new Set<string>();
  // The latest record of a config speaks for it (file order is write order), as in the worker's merge.
  for (const h of scan.heads) {
    done.delete(h.config);
    errored.delete(h.config);
    if (want.get(h.config) !== h.sql_sha256 || h.target !== target || generation === undefined || h.setup !== generation) continue;
    if (h.status === 'error') errored.add(h.config);
    else done.set(h.config, h.status);
  }
  for (const id of want.keys()) {
    const d = done.get(id);
    if (d === 'ok') probe.ok++;
    else if (d === 'skipped') probe.skipped++;
    else if (errored.has(id)) probe.error++;
    else probe.remaining++;
  }
  return probe;
}

export function isComplete(p: UnitProbe): boolean {
  return p.index === 'same' && p.total > 0 && p.ok + p.skipped === p.total;
}

// ---------------------------------------------------------------- inspect

export interface InspectInput {
  sweep: string;
  group: string;
  sweepDir: string;
  node: string;
  pueue: PueueRef;
  /** Units with the sha256 of the local units/<unit>.json. */
  units: Array<{ id: string; indexSha256: string }>;
  /** What records must carry to count (target, setup). */
  origin: Origin;
  /** Probe ClickHouse from here (password from env SWEEP_CLICKHOUSE_PASSWORD). */
  clickhouse?: { url: string; user: string; database: string };
  /** Try `systemd-run --user --scope` with this MemoryMax. */
  memoryMax?: string;
}

export interface InspectOutput {
  now: string;
  hostname: string;
  home: string;
  daemon: { ok: true; status: { tasks: Record<string, unknown>; groups: Record<string, unknown> }; statusBytes: number } | { ok: false; message: string };
  stateFile: { path: string; bytes: number } | { path: null; why: string };
  clickhouse?: { ok: true; version: string } | { ok: false; message: string };
  systemd?: { ok: boolean; message: string };
  dirExists: boolean;
  passwordFile: boolean;
  /** The setup record on this host for the target, when there is one. */
  setup: { setup_sha256: string; generation: string; ran_at: string } | null;
  /** Units whose lock names a live worker on this host. */
  liveUnits: string[];
  units: Record<string, UnitProbe>;
  /** The last decision of this host's autoscale controller (logs/autoscale.log), when there is one. */
  autoscale: AutoscaleDecision | null;
}

/** Everything preflight, audit and status need, in one pass. Changes nothing. */
export async function inspect(input: InspectInput, ctx: RemoteContext): Promise<InspectOutput> {
  const pwPath = join(input.sweepDir, PRIVATE_DIR, PASSWORD_FILE);
  // Without a password from this submission the worker will read the one stored by an earlier one: probe with that.
  const stored = existsSync(pwPath) ? readFileSync(pwPath, 'utf8').replace(/\n$/, '') : undefined;
  const chProbe = input.clickhouse ? probeClickHouse({ ...input.clickhouse, ...(stored !== undefined ? { storedPassword: stored } : {}) }) : undefined;
  const sdProbe = input.memoryMax ? probeSystemd(input.memoryMax, taskEnv(input.node, input.pueue.bin, true)) : undefined;
  const st = await pueue(input.pueue, ['status', '--json']);
  let daemon: InspectOutput['daemon'];
  if (st.code === 0) {
    const raw = JSON.parse(st.stdout) as { tasks: Record<string, Record<string, unknown>>; groups: Record<string, unknown> };
    const prefix = `sweep:${input.sweep}:`;
    const tasks: Record<string, unknown> = {};
    for (const [id, t] of Object.entries(raw.tasks)) {
      const label = t['label'];
      if ((typeof label === 'string' && label.startsWith(prefix)) || t['group'] === input.group) {
        // envs is the add client's whole environment: big, and none of our business.
        const { envs: _envs, ...rest } = t;
        tasks[id] = rest;
      }
    }
    daemon = { ok: true, status: { tasks, groups: raw.groups }, statusBytes: st.stdout.length };
  } else {
    daemon = { ok: false, message: failure(st) };
  }
  const units: Record<string, UnitProbe> = {};
  const generation = generationOf(input.origin);
  for (const u of input.units) units[u.id] = await probeUnit(ctx, input.sweepDir, u.id, u.indexSha256, input.origin.target, generation);
  const out: InspectOutput = {
    now: new Date().toISOString(),
    hostname: hostname(),
    home: process.env['HOME'] ?? homedir(),
    daemon,
    stateFile: findStateFile(input.pueue.config),
    dirExists: existsSync(input.sweepDir),
    passwordFile: stored !== undefined,
    setup: readSetupRecord(input.origin.setupRecordPath) ?? null,
    liveUnits: liveUnitLocks(input.sweepDir),
    units,
    autoscale: lastDecision(join(input.sweepDir, 'logs', 'autoscale.log')),
  };
  if (chProbe) out.clickhouse = await chProbe;
  if (sdProbe) out.systemd = await sdProbe;
  return out;
}

/** The last whole line of the autoscale log, parsed; null when there is none. */
function lastDecision(path: string): AutoscaleDecision | null {
  const lines = tailLines(path, 1);
  if (lines === '') return null;
  try {
    return JSON.parse(lines) as AutoscaleDecision;
  } catch {
    return null;
  }
}

async function probeClickHouse(ch: { url: string; user: string; database: string; storedPassword?: string }): Promise<{ ok: true; version: string } | { ok: false; message: string }> {
  try {
    const u = new URL(ch.url);
    u.searchParams.set('query', 'SELECT version()');
    u.searchParams.set('database', ch.database);
    const password = process.env['SWEEP_CLICKHOUSE_PASSWORD'] ?? ch.storedPassword ?? '';
    const res = await fetch(u, {
      headers: { Authorization: `Basic ${Buffer.from(`${ch.user}:${password}`).toString('base64')}` },
      signal: AbortSignal.timeout(10_000),
    });
    const text = (await res.text()).trim();
    if (!res.ok) return { ok: false, message: `HTTP ${res.status}: ${text.split('\n')[0]?.slice(0, 300) ?? ''}` };
    return { ok: true, version: text };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string; errors?: Array<{ code?: string; message?: string }> } };
    if (e.name === 'TimeoutError') return { ok: false, message: 'no answer within 10 s' };
    const cause = e.cause?.code ? e.cause : (e.cause?.errors?.[0] ?? e.cause);
    if (cause?.code) return { ok: false, message: `${cause.code} (${cause.message ?? ''})` };
    return { ok: false, message: cause?.message ? `${e.message}: ${cause.message}` : e.message };
  }
}

async function probeSystemd(memoryMax: string, env: Record<string, string>): Promise<{ ok: boolean; message: string }> {
  const r = await run('systemd-run', ['--user', '--scope', '--quiet', '-p', `MemoryMax=${memoryMax}`, '-p', 'MemorySwapMax=0', '--', 'true'], {
    env,
    timeoutMs: 15_000,
  });
  if (r.code === 0) return { ok: true, message: 'systemd-run --user --scope works' };
  return { ok: false, message: failure(r).split('\n')[0] ?? 'failed' };
}

/**
 * pueue's state file, to warn before it grows big (every add, clean, start
 * and finish rewrites it whole). Its dir is `shared.pueue_directory` in the
 * config, default $XDG_DATA_HOME/pueue or ~/.local/share/pueue.
 */
export function findStateFile(config: string | null, env: NodeJS.ProcessEnv = process.env): { path: string; bytes: number } | { path: null; why: string } {
  const home = env['HOME'] ?? homedir();
  const given = config?.startsWith('~/') ? join(home, config.slice(2)) : config;
  const configPath = given ?? env['PUEUE_CONFIG_PATH'] ?? join(env['XDG_CONFIG_HOME'] || join(home, '.config'), 'pueue', 'pueue.yml');
  let dir: string | undefined;
  try {
    const text = readFileSync(configPath, 'utf8');
    const m = /^\s+pueue_directory:[ \t]*(.+?)[ \t]*$/m.exec(text);
    if (m?.[1] && m[1] !== 'null' && m[1] !== '~') dir = yamlScalar(m[1]);
  } catch {
    // no config file: pueue uses its defaults
  }
  dir ??= join(env['XDG_DATA_HOME'] || join(home, '.local', 'share'), 'pueue');
  if (dir.startsWith('~/')) dir = join(home, dir.slice(2));
  for (const name of ['state.json', 'state.json.gz']) {
    const path = join(dir, name);
    try {
      return { path, bytes: statSync(path).size };
    } catch {
      // try the next
    }
  }
  return { path: null, why: `no state.json in ${dir} (from ${configPath})` };
}

function yamlScalar(v: string): string {
  if (v.startsWith('"')) {
    try {
      return JSON.parse(v) as string;
    } catch {
      return v.slice(1, -1);
    }
  }
  if (v.startsWith("'")) return v.slice(1, -1).replace(/''/g, "'");
  return v.replace(/\s+#.*$/, '');
}

/**
 * Units whose lock file names a live holder on this host. The holder writes
 * {host, pid} into the lock when it takes it and empties it on release; a
 * killed holder's pid is gone (the same rule as src/worker/lock.ts liveHolder).
 */
function liveUnitLocks(sweepDir: string): string[] {
  const dir = join(sweepDir, 'results');
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.lock'));
  } catch {
    return [];
  }
  const live: string[] = [];
  for (const f of names) {
    try {
      const h = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { host?: unknown; pid?: unknown };
      if (typeof h.pid !== 'number') continue;
      if (h.host !== hostname()) {
        live.push(f.slice(0, -5));
        continue;
      }
      process.kill(h.pid, 0);
      live.push(f.slice(0, -5));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') live.push(f.slice(0, -5));
    }
  }
  return live.sort();
}

// ---------------------------------------------------------------- prepare

export interface PrepareInput {
  sweepDir: string;
  group: string;
  pueue: PueueRef;
  /**
   * The finished tasks of this sweep (by label, in its group) to remove before
   * queueing: ids from the audit of this same session. `pueue remove` of
   * exactly these rather than `pueue clean -g`, so a group shared by mistake
   * never loses another sweep's history.
   */
  removeIds: number[];
  /** Files under <sweepDir>/.sweep/ (helper scripts, after-step SQL). */
  files: Array<{ path: string; content: string }>;
  /** Write env SWEEP_CLICKHOUSE_PASSWORD to .sweep/clickhouse_password (0600). */
  writePassword: boolean;
  /** --fresh: move the results aside (results/.previous/<time>/) before anything runs. */
  fresh: boolean;
}

export interface PrepareOutput {
  removed: number;
  removeError?: string;
  /** With fresh: where the results went, or null when there were none. */
  movedAside: { dir: string; entries: number } | null;
}

/** Make the sweep dir ready for rsync and the tasks; remove this sweep's finished tasks. */
export async function prepare(input: PrepareInput, ctx: RemoteContext): Promise<PrepareOutput> {
  mkdirSync(join(input.sweepDir, 'results'), { recursive: true });
  const priv = join(input.sweepDir, PRIVATE_DIR);
  mkdirSync(priv, { recursive: true, mode: 0o700 });
  chmodSync(priv, 0o700);
  for (const f of input.files) {
    if (f.path.split('/').some((p) => p === '..' || p === '')) throw new Error(`bad helper file path ${JSON.stringify(f.path)}`);
    writeAtomic(join(priv, f.path), f.content, 0o644);
  }
  if (input.writePassword) {
    const pw = process.env['SWEEP_CLICKHOUSE_PASSWORD'];
    if (pw === undefined) throw new Error('writePassword without SWEEP_CLICKHOUSE_PASSWORD');
    writeAtomic(join(priv, PASSWORD_FILE), `${pw}\n`, 0o600);
  }
  const out: PrepareOutput = { removed: 0, movedAside: null };
  if (input.fresh) out.movedAside = ctx.aside.moveResultsAside(input.sweepDir) ?? null;
  if (input.removeIds.length > 0) {
    const r = await pueue(input.pueue, ['remove', ...input.removeIds.map(String)]);
    if (r.code === 0) out.removed = input.removeIds.length;
    else out.removeError = failure(r);
  }
  return out;
}

function writeAtomic(path: string, content: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode); // the umask may have narrowed or (for 0600) not mattered; be exact
  renameSync(tmp, path);
}

// ---------------------------------------------------------------- queue

export interface QueueInput {
  sweepDir: string;
  group: string;
  /** Set the group's parallelism to this (created with it); null: leave an existing group's as it is (its autoscale controller owns it). */
  parallel: number | null;
  /** What a group created now starts at. */
  startParallel: number;
  groupExists: boolean;
  startGroup: boolean;
  node: string;
  pueue: PueueRef;
  withSystemd: boolean;
  units: Array<{ unit: string; label: string; command: string; recheckIndexSha: string | null }>;
  /** Target and setup, read again here: a setup that ran in this session made every record stale. */
  origin: Origin;
  after: Array<{ step: string; label: string; command: string; replaceIds: number[]; waitIds: number[] }>;
  /** Queue the after steps even when no unit task was added. */
  forceAfter: boolean;
  /**
   * The host's autoscale controller, queued in a group of its own when none is
   * active and a unit of the sweep is queued or running here after this
   * submission (`activeUnits`: unit tasks already active before it).
   */
  autoscale: { group: string; label: string; command: string; activeUnits: number } | null;
  /** Controller tasks to end (the host is no longer autoscaled). */
  stopControllers: number[];
}

export interface QueueOutput {
  group: { created: boolean; parallel: number; error?: string };
  added: Array<{ unit: string; label: string; id: number }>;
  failed: Array<{ unit: string; label: string; message: string }>;
  /** Units found complete after the sync (their index changed, so the audit could not tell). */
  complete: string[];
  after: Array<{ step: string; label: string; id: number } | { step: string; label: string; message: string }>;
  started: boolean;
  addMs: number[];
  /** The autoscale controller added now (its task id), or why not. */
  controller: { id: number } | { message: string } | null;
}

export async function queue(input: QueueInput, ctx: RemoteContext): Promise<QueueOutput> {
  const out: QueueOutput = {
    group: { created: false, parallel: input.parallel ?? input.startParallel },
    added: [],
    failed: [],
    complete: [],
    after: [],
    started: false,
    addMs: [],
    controller: null,
  };
  if (!input.groupExists) {
    const g = await pueue(input.pueue, ['group', 'add', input.group, '-p', String(input.parallel ?? input.startParallel)]);
    if (g.code === 0) out.group.created = true;
    else if (!/already exists/i.test(g.stderr + g.stdout)) out.group.error = failure(g);
  }
  if (!out.group.created && !out.group.error && input.parallel !== null) {
    const p = await pueue(input.pueue, ['parallel', String(input.parallel), '-g', input.group]);
    if (p.code !== 0) out.group.error = failure(p);
  }
  if (out.group.error) return out;

  const env = taskEnv(input.node, input.pueue.bin, input.withSystemd);
  const generation = generationOf(input.origin);
  for (const u of input.units) {
    if (u.recheckIndexSha !== null && isComplete(await probeUnit(ctx, input.sweepDir, u.unit, u.recheckIndexSha, input.origin.target, generation))) {
      out.complete.push(u.unit);
      continue;
    }
    const t0 = performance.now();
    const r = await run(input.pueue.bin, pueueArgs(input.pueue, ['add', '-g', input.group, '-l', u.label, '-w', input.sweepDir, '-p', '--', u.command]), { env });
    out.addMs.push(performance.now() - t0);
    const id = Number(r.stdout.trim());
    if (r.code === 0 && Number.isInteger(id)) out.added.push({ unit: u.unit, label: u.label, id });
    else out.failed.push({ unit: u.unit, label: u.label, message: failure(r) });
  }

  if (out.added.length > 0 || input.forceAfter) {
    const newIds = out.added.map((a) => a.id);
    for (const a of input.after) {
      if (a.replaceIds.length > 0) await pueue(input.pueue, ['remove', ...a.replaceIds.map(String)]);
      const wait = [...a.waitIds, ...newIds];
      const args = ['add', '-g', input.group, '-l', a.label, '-w', input.sweepDir, '-p', ...(wait.length > 0 ? ['--after', ...wait.map(String)] : []), '--', a.command];
      const r = await run(input.pueue.bin, pueueArgs(input.pueue, args), { env });
      const id = Number(r.stdout.trim());
      if (r.code === 0 && Number.isInteger(id)) out.after.push({ step: a.step, label: a.label, id });
      else out.after.push({ step: a.step, label: a.label, message: failure(r) });
    }
  }
  if (input.startGroup) {
    const s = await pueue(input.pueue, ['start', '-g', input.group]);
    out.started = s.code === 0;
  }
  if (input.stopControllers.length > 0) await pueue(input.pueue, ['kill', '--signal', 'SIGTERM', ...input.stopControllers.map(String)]);
  const a = input.autoscale;
  if (a && (out.added.length > 0 || a.activeUnits > 0)) {
    // Its own group, one slot: never a slot of the group it sizes.
    const g = await pueue(input.pueue, ['group', 'add', a.group, '-p', '1']);
    if (g.code !== 0 && !/already exists/i.test(g.stderr + g.stdout)) out.controller = { message: failure(g) };
    else {
      const r = await run(input.pueue.bin, pueueArgs(input.pueue, ['add', '-g', a.group, '-l', a.label, '-w', input.sweepDir, '-p', '--', a.command]), { env });
      const id = Number(r.stdout.trim());
      out.controller = r.code === 0 && Number.isInteger(id) ? { id } : { message: failure(r) };
      // A daemon restart pauses a group that still holds queued tasks: the controller must not wait behind that.
      if (r.code === 0) await pueue(input.pueue, ['start', '-g', a.group]);
    }
  }
  return out;
}

// ---------------------------------------------------------------- details (status)

export interface DetailsInput {
  pueue: PueueRef;
  sweepDir: string;
  /** Failed tasks whose log tail to show: a unit's from its own log file (logs/<unit>.log), else pueue's. */
  failures: Array<{ id: number; unit: string | null }>;
  logLines: number;
  /** Running units: their rate from the last progress line of their log. */
  running: string[];
}

export interface DetailsOutput {
  /** By task id. */
  logs: Record<string, string>;
  logError?: string;
  /** Queries per second from a running unit's last progress line (when under a minute old). */
  rates: Record<string, number>;
}

export async function details(input: DetailsInput): Promise<DetailsOutput> {
  const out: DetailsOutput = { logs: {}, rates: {} };
  const fromPueue: number[] = [];
  for (const f of input.failures) {
    const tail = f.unit === null ? '' : tailLines(join(input.sweepDir, 'logs', `${f.unit}.log`), input.logLines);
    if (tail) out.logs[String(f.id)] = tail;
    else fromPueue.push(f.id);
  }
  if (fromPueue.length > 0) {
    const r = await pueue(input.pueue, ['log', '--json', '--lines', String(input.logLines), ...fromPueue.map(String)]);
    if (r.code === 0) {
      const parsed = JSON.parse(r.stdout) as Record<string, { output?: string }>;
      for (const [id, entry] of Object.entries(parsed)) out.logs[id] = clean(entry.output ?? '');
    } else {
      out.logError = failure(r);
    }
  }
  const now = Date.now();
  for (const unit of input.running) {
    const lines = tailLines(join(input.sweepDir, 'logs', `${unit}.log`), 20).split('\n').reverse();
    for (const line of lines) {
      const m = /^(\S+) .*\| ([0-9.]+) q\/s \|/.exec(line);
      if (!m) continue;
      if (now - Date.parse(m[1] as string) < 60_000) out.rates[unit] = Number(m[2]);
      break;
    }
  }
  return out;
}

/** The last `n` lines of a file (from its last 256 KB), '' when missing. */
function tailLines(path: string, n: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 256 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    if (len < size) lines.shift(); // a partial first line
    return lines.slice(-n).join('\n');
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- logs

export interface LogsInput {
  sweepDir: string;
  /** One unit, or every unit with a log. */
  unit: string | null;
  lines: number;
  /** --follow: where each file was read up to; the text after it comes back. */
  offsets: Record<string, number> | null;
}

export interface LogsOutput {
  files: Array<{ unit: string; size: number; text: string }>;
}

/** Worker log files (logs/<unit>.log): their tails, or with offsets what was appended since. */
export function logs(input: LogsInput): LogsOutput {
  const dir = join(input.sweepDir, 'logs');
  let units: string[];
  if (input.unit !== null) units = [input.unit];
  else {
    try {
      units = readdirSync(dir)
        .filter((f) => f.endsWith('.log'))
        .map((f) => f.slice(0, -4))
        .sort();
    } catch {
      units = [];
    }
  }
  const files: LogsOutput['files'] = [];
  for (const unit of units) {
    const path = join(dir, `${unit}.log`);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      if (input.unit !== null) files.push({ unit, size: -1, text: '' });
      continue;
    }
    const from = input.offsets?.[unit];
    if (from === undefined) {
      files.push({ unit, size, text: tailLines(path, input.lines) });
      continue;
    }
    // A rotated file (smaller than before) is read from its start.
    const start = from <= size ? from : 0;
    const len = Math.min(size - start, 4 * 1024 * 1024);
    let text = '';
    if (len > 0) {
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(len);
        readSync(fd, buf, 0, len, start);
        text = buf.toString('utf8');
        // Hand back whole lines only; the rest comes with the next poll.
        const nl = text.lastIndexOf('\n');
        text = nl === -1 ? '' : text.slice(0, nl + 1);
      } finally {
        closeSync(fd);
      }
    }
    files.push({ unit, size: start + Buffer.byteLength(text), text });
  }
  return { files };
}

// ---------------------------------------------------------------- stop

export interface StopInput {
  sweep: string;
  sweepDir: string;
  pueue: PueueRef;
  /** How long running workers get to cancel their queries and write what finished after SIGTERM. */
  graceMs: number;
  /** The server the workers query from this host: what is left of the sweep's queries is killed there. */
  clickhouse: { url: string; user: string; database: string } | null;
}

export interface StopOutput {
  /** Queued (or stashed) tasks of this sweep removed. */
  removed: Array<{ id: number; label: string }>;
  /** Running tasks sent SIGTERM. */
  signalled: Array<{ id: number; label: string }>;
  /** Tasks still running after the grace period (or paused), killed. */
  killed: Array<{ id: number; label: string }>;
  errors: string[];
  /** ms from SIGTERM until every signalled task had ended. */
  ended_ms: number | null;
  queries: { killed: number; remaining: number; waited_ms: number; error?: string } | null;
}

/**
 * `sweep stop` on the host: remove the sweep's queued tasks (by label), SIGTERM
 * its running ones (the worker stops taking configs, KILLs its queries on the
 * server and writes what finished), SIGKILL what is still there after the
 * grace period, then KILL QUERY whatever of the sweep is left on the server and
 * wait until system.processes holds none of it.
 */
export async function stop(input: StopInput): Promise<StopOutput> {
  const out: StopOutput = { removed: [], signalled: [], killed: [], errors: [], ended_ms: null, queries: null };
  const prefix = `sweep:${input.sweep}:`;
  const ours = async (): Promise<Array<{ id: number; label: string; state: string }>> => {
    const st = await pueue(input.pueue, ['status', '--json']);
    if (st.code !== 0) throw new Error(`the pueue daemon does not answer: ${failure(st)}`);
    const raw = JSON.parse(st.stdout) as { tasks: Record<string, { id: number; label?: unknown; status: unknown }> };
    const list: Array<{ id: number; label: string; state: string }> = [];
    for (const t of Object.values(raw.tasks)) {
      if (typeof t.label !== 'string' || !t.label.startsWith(prefix)) continue;
      let status = t.status as Record<string, unknown>;
      // Locked: pueue is changing it; what it was decides.
      if (status && typeof status === 'object' && 'Locked' in status) status = ((status['Locked'] as Record<string, unknown>)['previous_status'] ?? {}) as Record<string, unknown>;
      const state = typeof status === 'string' ? status : Object.keys(status ?? {})[0] ?? '';
      list.push({ id: t.id, label: t.label, state });
    }
    return list;
  };
  const before = await ours();
  const pending = before.filter((t) => t.state === 'Queued' || t.state === 'Stashed');
  if (pending.length > 0) {
    const r = await pueue(input.pueue, ['remove', ...pending.map((t) => String(t.id))]);
    if (r.code === 0) out.removed = pending.map(({ id, label }) => ({ id, label }));
    else out.errors.push(`pueue remove: ${failure(r)}`);
  }
  const paused = before.filter((t) => t.state === 'Paused');
  const running = before.filter((t) => t.state === 'Running');
  if (running.length > 0) {
    const r = await pueue(input.pueue, ['kill', '--signal', 'SIGTERM', ...running.map((t) => String(t.id))]);
    if (r.code === 0) out.signalled = running.map(({ id, label }) => ({ id, label }));
    else out.errors.push(`pueue kill --signal SIGTERM: ${failure(r)}`);
  }
  const t0 = Date.now();
  const signalled = new Set(out.signalled.map((t) => t.id));
  let left = [...signalled];
  while (left.length > 0 && Date.now() - t0 < input.graceMs) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await ours();
    left = now.filter((t) => signalled.has(t.id) && (t.state === 'Running' || t.state === 'Paused')).map((t) => t.id);
  }
  if (signalled.size > 0 && left.length === 0) out.ended_ms = Date.now() - t0;
  const hard = [...paused.map((t) => t.id), ...left];
  if (hard.length > 0) {
    const r = await pueue(input.pueue, ['kill', ...hard.map(String)]);
    const byId = new Map(before.map((t) => [t.id, t.label]));
    if (r.code === 0) out.killed = hard.map((id) => ({ id, label: byId.get(id) ?? '' }));
    else out.errors.push(`pueue kill: ${failure(r)}`);
  }
  if (input.clickhouse) out.queries = await killSweepQueries(input.clickhouse, input.sweepDir, prefix.slice('sweep:'.length));
  return out;
}

/** KILL QUERY every query of the sweep (query ids start `<sweep>:`), then wait until the server lists none. */
async function killSweepQueries(ch: { url: string; user: string; database: string }, sweepDir: string, queryPrefix: string): Promise<NonNullable<StopOutput['queries']>> {
  const pwPath = join(sweepDir, PRIVATE_DIR, PASSWORD_FILE);
  const password = process.env['SWEEP_CLICKHOUSE_PASSWORD'] ?? (existsSync(pwPath) ? readFileSync(pwPath, 'utf8').replace(/\n$/, '') : '');
  const post = async (sql: string): Promise<string> => {
    const u = new URL(ch.url);
    u.searchParams.set('database', ch.database);
    const res = await fetch(u, {
      method: 'POST',
      body: sql,
      headers: { Authorization: `Basic ${Buffer.from(`${ch.user}:${password}`).toString('base64')}` },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.trim().split('\n')[0]?.slice(0, 300) ?? ''}`);
    return text;
  };
  const quoted = `'${queryPrefix.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const t0 = Date.now();
  try {
    const killed = (await post(`KILL QUERY WHERE startsWith(query_id, ${quoted}) ASYNC FORMAT TSV`)).trim().split('\n').filter((l) => l !== '').length;
    let remaining = 0;
    for (;;) {
      remaining = Number((await post(`SELECT count() FROM system.processes WHERE startsWith(query_id, ${quoted}) FORMAT TSV`)).trim());
      if (remaining === 0 || Date.now() - t0 > 15_000) break;
      await new Promise((r) => setTimeout(r, 100));
      if (Date.now() - t0 > 3_000) await post(`KILL QUERY WHERE startsWith(query_id, ${quoted}) SYNC FORMAT TSV`).catch(() => '');
    }
    return { killed, remaining, waited_ms: Date.now() - t0 };
  } catch (err) {
    return { killed: 0, remaining: -1, waited_ms: Date.now() - t0, error: (err as Error).message };
  }
}
