/**
 * The autoscale controller (`worker.mjs autoscale ...`): a pueue task in a
 * group of its own on each host whose parallelism is `auto` or `{min, max}`,
 * queued by submit-all. Every interval it measures the host, asks rule.ts,
 * sets `pueue parallel N -g <group>` when the answer changes, and appends the
 * decision (inputs, old and new value) to `<sweep dir>/logs/autoscale.log`.
 * It lives exactly as long as the sweep's unfinished units there: it exits
 * when no unit task of the sweep is queued, running or paused in the group,
 * and on SIGTERM (`sweep stop`). Being a pueue task, it survives the ssh
 * session that queued it.
 *
 * What the rule is fed, and why:
 *  - CPU = the run queue (runnable tasks, /proc/loadavg's 4th field, sampled
 *    ten times an interval, at most once a second) averaged over the interval,
 *    divided by the cores. It is what the 1-min load average measures, without
 *    the load average's one-minute damping: load1 crosses a threshold a minute
 *    or more after the pressure starts or stops, so a controller acting every
 *    30 s on it keeps lowering for rounds after the pressure went away. Nor the
 *    busy share from /proc/stat: it stops at 100 %, so a host with twice as
 *    many runnable tasks as cores looks the same as one just fully used (and on
 *    a host saturated by others, adding or removing load changes nothing in
 *    it). Both are logged beside it (load1 / cores is the seeds' measure).
 *  - memory = the higher of the host's (1 - MemAvailable / MemTotal) and the
 *    ClickHouse server's own (its MemoryTracking against max_server_memory_usage,
 *    when the server has such a limit: current releases; 18.16 has none).
 *  - a unit's memory = the largest peak RSS of a worker of this sweep (live
 *    workers' VmHWM, finished ones from logs/peak-memory.ndjson) plus the most
 *    its queries held on the server at once (system.processes, sampled).
 */
import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join } from 'node:path';
import { parseLabel } from '../pueue/labels.js';
import { parseStatus } from '../pueue/status.js';
import { decideParallel, type AutoscaleDecision, type Thresholds, type Verdict } from './rule.js';
import { sleep } from '../sleep.js';

export const AUTOSCALE_LOG = 'autoscale.log';
export const PEAK_MEMORY_FILE = 'peak-memory.ndjson';

export interface ControllerOptions {
  sweepDir: string;
  sweep: string;
  group: string;
  min: number;
  max: number;
  intervalS: number;
  thresholds: Thresholds;
  pueue: { bin: string; config: string | null };
  /** The server the units query from this host (password from env CLICKHOUSE_PASSWORD). */
  clickhouse: { url: string; user: string; database: string } | null;
  /** Ends the loop (SIGTERM). */
  stop: AbortSignal;
  log?: (line: string) => void;
}

export async function runController(o: ControllerOptions): Promise<void> {
  const logPath = join(o.sweepDir, 'logs', AUTOSCALE_LOG);
  mkdirSync(join(o.sweepDir, 'logs'), { recursive: true });
  const write = (d: AutoscaleDecision): void => {
    appendFileSync(logPath, `${JSON.stringify(d)}\n`);
    o.log?.(`${d.at} ${d.action} ${d.old} -> ${d.new}: ${d.reason}`);
  };
  const peaks = new PeakMemory(o.sweepDir, o.sweep);
  const ch = o.clickhouse ? new ClickHouseProbe(o.clickhouse) : undefined;
  let first = true;
  while (!o.stop.aborted) {
    const before = await groupState(o);
    if (!before.ok) {
      write(blank(o, 0, 'exit', `pueue does not answer: ${before.why}`));
      return;
    }
    if (before.queued + before.running === 0) {
      write(blank(o, before.parallel, 'exit', 'no unit of the sweep is queued or running here: nothing left to control'));
      return;
    }
    if (first) {
      write(blank(o, before.parallel, 'start', `controlling group ${o.group} within [${o.min}, ${o.max}] every ${o.intervalS} s`));
      first = false;
    }
    // The interval itself is the measurement window.
    const cpu = await measureCpu(o.intervalS * 1000, o.stop);
    if (o.stop.aborted) break;
    const state = await groupState(o);
    if (!state.ok) continue;
    const mem = readMeminfo();
    const chMem = ch ? await ch.memoryShare() : null;
    peaks.sampleLiveWorkers();
    if (ch) peaks.noteServerUse(await ch.unitMemory(o.sweep));
    const unitPeak = peaks.unitPeak();
    const memHost = mem ? 1 - mem.available / mem.total : null;
    const memUsed = Math.max(memHost ?? 0, chMem ?? 0);
    const verdict: Verdict = decideParallel({
      current: state.parallel,
      min: o.min,
      max: o.max,
      cpu: cpu.runQueuePerCore,
      mem: memUsed,
      queued: state.queued,
      availableBytes: mem?.available ?? Number.MAX_SAFE_INTEGER,
      unitPeakBytes: unitPeak,
      thresholds: o.thresholds,
    });
    let reason = verdict.reason;
    if (verdict.next !== state.parallel) {
      const r = await pueueRun(o, ['parallel', String(verdict.next), '-g', o.group]);
      if (r.code !== 0) reason += `; pueue parallel failed: ${r.stderr.trim().split('\n')[0] ?? ''}`;
    }
    write({
      at: new Date().toISOString(),
      group: o.group,
      old: state.parallel,
      new: verdict.next,
      action: verdict.action,
      reason,
      cpu: round(cpu.runQueuePerCore),
      load1_per_core: round(cpu.load1PerCore),
      cpu_busy: cpu.busy === null ? null : round(cpu.busy),
      cores: cpu.cores,
      mem: round(memUsed),
      mem_host: memHost === null ? null : round(memHost),
      mem_clickhouse: chMem === null ? null : round(chMem),
      available_bytes: mem?.available ?? null,
      unit_peak_bytes: unitPeak,
      queued: state.queued,
      running: state.running,
    });
  }
  write(blank(o, (await groupState(o)).parallel, 'exit', 'stopped (SIGTERM)'));
}

function blank(o: ControllerOptions, parallel: number, action: 'exit' | 'start', reason: string): AutoscaleDecision {
  return {
    at: new Date().toISOString(),
    group: o.group,
    old: parallel,
    new: parallel,
    action,
    reason,
    cpu: null,
    load1_per_core: null,
    cpu_busy: null,
    cores: null,
    mem: null,
    mem_host: null,
    mem_clickhouse: null,
    available_bytes: null,
    unit_peak_bytes: null,
    queued: 0,
    running: 0,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

// ---------------------------------------------------------------- pueue

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

function pueueRun(o: Pick<ControllerOptions, 'pueue'>, args: string[]): Promise<Exec> {
  const config = o.pueue.config?.startsWith('~/') ? join(process.env['HOME'] ?? homedir(), o.pueue.config.slice(2)) : o.pueue.config;
  const argv = config ? ['-c', config, ...args] : args;
  return new Promise((resolve) => {
    execFile(o.pueue.bin, argv, { timeout: 30_000, killSignal: 'SIGKILL', maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout: String(stdout), stderr: String(stderr || e?.message || '') });
    });
  });
}

type GroupState = { ok: true; parallel: number; queued: number; running: number } | { ok: false; parallel: number; why: string };

/** The group's parallelism and the sweep's unit tasks in it, by label. */
async function groupState(o: Pick<ControllerOptions, 'pueue' | 'group' | 'sweep'>): Promise<GroupState> {
  const r = await pueueRun(o, ['status', '--json', '-g', o.group]);
  if (r.code !== 0) return { ok: false, parallel: 0, why: r.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${r.code}` };
  let status;
  try {
    status = parseStatus(JSON.parse(r.stdout));
  } catch (err) {
    return { ok: false, parallel: 0, why: (err as Error).message };
  }
  const g = status.groups[o.group];
  if (!g) return { ok: false, parallel: 0, why: `pueue group ${o.group} does not exist` };
  let queued = 0;
  let running = 0;
  for (const t of status.tasks) {
    if (t.group !== o.group || parseLabel(o.sweep, t.label)?.kind !== 'unit') continue;
    if (t.state === 'queued') queued++;
    else if (t.state === 'running' || t.state === 'paused') running++;
  }
  return { ok: true, parallel: g.parallel, queued, running };
}

// ---------------------------------------------------------------- the host

interface CpuSample {
  runQueuePerCore: number;
  load1PerCore: number;
  busy: number | null;
  cores: number;
}

/** The run queue averaged over `ms`, the load average, and the busy share over the same window. */
export async function measureCpu(ms: number, stop?: AbortSignal): Promise<CpuSample> {
  const cores = Math.max(1, cpus().length);
  const every = Math.min(1000, Math.max(50, ms / 10));
  const stat0 = readCpuTimes();
  let sum = 0;
  let n = 0;
  const t0 = Date.now();
  do {
    const runnable = readRunnable();
    // The count includes this process, reading it.
    if (runnable !== null) {
      sum += Math.max(0, runnable - 1);
      n++;
    }
    await sleep(Math.min(every, Math.max(0, ms - (Date.now() - t0))), stop);
  } while (Date.now() - t0 < ms && !stop?.aborted);
  const stat1 = readCpuTimes();
  const busy = stat0 && stat1 && stat1.total > stat0.total ? 1 - (stat1.idle - stat0.idle) / (stat1.total - stat0.total) : null;
  const load1 = Number(safeRead('/proc/loadavg')?.split(' ')[0] ?? 'NaN');
  return { runQueuePerCore: n > 0 ? sum / n / cores : 0, load1PerCore: Number.isFinite(load1) ? load1 / cores : 0, busy, cores };
}

function readRunnable(): number | null {
  const f = safeRead('/proc/loadavg')?.split(' ')[3];
  const r = Number(f?.split('/')[0]);
  return Number.isFinite(r) ? r : null;
}

function readCpuTimes(): { idle: number; total: number } | null {
  const line = safeRead('/proc/stat')?.split('\n')[0];
  if (!line?.startsWith('cpu ')) return null;
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  // idle + iowait: time no task used the CPU.
  return { idle: (v[3] ?? 0) + (v[4] ?? 0), total };
}

function readMeminfo(): { total: number; available: number } | null {
  const text = safeRead('/proc/meminfo');
  const kb = (k: string): number | undefined => {
    const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text ?? '');
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  return total && available !== undefined ? { total, available } : null;
}

function safeRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The most memory a unit of this sweep has used: the largest worker peak RSS
 * (live workers of this sweep dir, by their command line, and finished ones
 * from the file each worker appends at exit) plus the most a unit's queries
 * held on the server at once.
 */
class PeakMemory {
  private worker = 0;
  private server = 0;
  private fileOffset = 0;

  constructor(
    private readonly sweepDir: string,
    private readonly sweep: string,
  ) {}

  sampleLiveWorkers(): void {
    this.readFinished();
    let names: string[];
    try {
      names = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
    } catch {
      return;
    }
    for (const pid of names) {
      const argv = safeRead(`/proc/${pid}/cmdline`)?.split('\0');
      if (!argv?.includes('run-unit')) continue;
      const i = argv.indexOf('--dir');
      if (i === -1 || argv[i + 1] !== this.sweepDir) continue;
      const m = /^VmHWM:\s+(\d+) kB/m.exec(safeRead(`/proc/${pid}/status`) ?? '');
      if (m) this.worker = Math.max(this.worker, Number(m[1]) * 1024);
    }
  }

  noteServerUse(perUnit: ReadonlyMap<string, number> | null): void {
    for (const v of perUnit?.values() ?? []) this.server = Math.max(this.server, v);
  }

  unitPeak(): number | null {
    return this.worker + this.server > 0 ? this.worker + this.server : null;
  }

  private readFinished(): void {
    const text = safeRead(join(this.sweepDir, 'logs', PEAK_MEMORY_FILE));
    if (text === undefined || text.length <= this.fileOffset) return;
    const fresh = text.slice(this.fileOffset);
    const end = fresh.lastIndexOf('\n');
    if (end === -1) return;
    for (const line of fresh.slice(0, end).split('\n')) {
      try {
        const r = JSON.parse(line) as { sweep?: unknown; peak_rss_bytes?: unknown };
        if (r.sweep === this.sweep && typeof r.peak_rss_bytes === 'number') this.worker = Math.max(this.worker, r.peak_rss_bytes);
      } catch {
        // a line being written
      }
    }
    this.fileOffset += end + 1;
  }
}

/** The server's memory against its limit, and what the sweep's queries hold there, per unit. */
class ClickHouseProbe {
  private limit: number | null | undefined;

  constructor(private readonly ch: { url: string; user: string; database: string }) {}

  private async query(sql: string): Promise<string | null> {
    try {
      const u = new URL(this.ch.url);
      u.searchParams.set('database', this.ch.database);
      const res = await fetch(u, {
        method: 'POST',
        body: sql,
        headers: { Authorization: `Basic ${Buffer.from(`${this.ch.user}:${process.env['CLICKHOUSE_PASSWORD'] ?? ''}`).toString('base64')}` },
        signal: AbortSignal.timeout(5_000),
      });
      const text = await res.text();
      return res.ok ? text.trim() : null;
    } catch {
      return null;
    }
  }

  /** MemoryTracking / max_server_memory_usage (or its share of the server's RAM); null when the server has no limit to read. */
  async memoryShare(): Promise<number | null> {
    if (this.limit === undefined) {
      const direct = Number(await this.query("SELECT value FROM system.server_settings WHERE name = 'max_server_memory_usage' FORMAT TSV"));
      if (Number.isFinite(direct) && direct > 0) this.limit = direct;
      else {
        const ratio = Number(await this.query("SELECT value FROM system.server_settings WHERE name = 'max_server_memory_usage_to_ram_ratio' FORMAT TSV"));
        const ram = Number(await this.query("SELECT value FROM system.asynchronous_metrics WHERE metric = 'OSMemoryTotal' FORMAT TSV"));
        this.limit = Number.isFinite(ratio) && ratio > 0 && Number.isFinite(ram) && ram > 0 ? ratio * ram : null;
      }
    }
    if (this.limit === null) return null;
    const used = Number(await this.query("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking' FORMAT TSV"));
    return Number.isFinite(used) && used >= 0 ? used / this.limit : null;
  }

  /** Bytes the sweep's queries hold now, per unit (query ids are `<sweep>:<unit>:...`). */
  async unitMemory(sweep: string): Promise<Map<string, number> | null> {
    const prefix = `'${`${sweep}:`.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const text = await this.query(`SELECT query_id, memory_usage FROM system.processes WHERE startsWith(query_id, ${prefix}) FORMAT TSV`);
    if (text === null) return null;
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      const [id, mem] = line.split('\t');
      const unit = id?.split(':')[1];
      if (unit === undefined || mem === undefined) continue;
      out.set(unit, (out.get(unit) ?? 0) + Math.max(0, Number(mem)));
    }
    return out;
  }
}
