/**
 * End-to-end fixtures for the remote tier: the harness's private sshd (the
 * "remote" is this machine reached through it), an isolated pueue daemon, the
 * shared ClickHouse server, and sweeps written to a local dir whose remote dir
 * is elsewhere, so only rsync can carry files across. Commands run as the
 * built CLI in a child process, the way a user runs them.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { chQuery } from '../harness/clickhouse.js';
import { startPueue, type PueueHandle } from '../harness/pueue.js';
import { startSshd, type SshdHandle } from '../harness/sshd.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';
import { runSweep, type CliResult } from '../helpers/cli.js';
import type { ResultRecord } from '../../src/results/record.js';

export interface RemoteEnv {
  sshd: SshdHandle;
  pueue: PueueHandle;
  /** The shared server's URL as the harness gives it (it may carry credentials: a container). */
  chUrl: string;
  /** The same without credentials, for specs: a password in a spec URL is refused by submit-all. */
  ch: { url: string; user?: string; password?: string };
  root: TempDir;
  stop(): Promise<void>;
}

export async function startRemoteEnv(chUrl: string): Promise<RemoteEnv> {
  const root = makeTempDir('e2e');
  const [sshd, pueue] = await Promise.all([startSshd(), startPueue()]);
  return {
    sshd,
    pueue,
    chUrl,
    ch: splitCredentials(chUrl),
    root,
    stop: async () => {
      await Promise.allSettled([sshd.stop(), pueue.stop()]);
      await root.remove();
    },
  };
}

export interface SweepOptions {
  name: string;
  template: string;
  params: Record<string, Array<string | number>>;
  unit: string[];
  parallel?: number;
  concurrency?: number;
  retries?: number;
  after?: Array<{ name: string; sql: string }>;
  /** Parent of the sweep dir on the remote (default <root>/<name>-remote). */
  remoteDir?: string;
  /** Default: the harness alias through its ssh config. 'local' for the local transport. */
  host?: string;
  sshConfig?: string;
  clickhouse?: { url?: string; user?: string };
  memoryMax?: string;
  /** Setup SQL, written to setup.sql beside the spec. */
  setup?: string;
  queryTimeoutS?: number;
}

export interface Sweep {
  name: string;
  /** The local dir: spec, template, out/<name>. */
  local: string;
  specPath: string;
  out: string;
  /** <remote.dir>/<name> on the "remote". */
  sweepDir: string;
  group: string;
  /** Run the built CLI in the local dir; `env` is the whole environment (nothing else leaks in). */
  run(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult>;
  /** Run and parse the --json document on stdout. */
  json<T>(args: string[], opts?: { env?: NodeJS.ProcessEnv; expectCode?: number }): Promise<{ doc: T; res: CliResult }>;
  /** Records in out/results.ndjson (after collect). */
  collected(): ResultRecord[];
  /** Lines of a results file on the remote side (read directly, for test timing only). */
  remoteLines(unit: string): number;
  units(): string[];
}

export function splitCredentials(url: string): { url: string; user?: string; password?: string } {
  const u = new URL(url);
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { url: u.toString().replace(/\/$/, ''), ...(user ? { user } : {}), ...(password ? { password } : {}) };
}

/** A minimal environment for the CLI: no CLICKHOUSE_* or other settings from the test process. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', ...extra };
}

export function writeSweep(env: RemoteEnv, o: SweepOptions): Sweep {
  const local = join(env.root.path, `${o.name}-local`);
  mkdirSync(local, { recursive: true });
  const remoteDir = o.remoteDir ?? join(env.root.path, `${o.name}-remote`);
  mkdirSync(remoteDir, { recursive: true });
  writeFileSync(join(local, 'q.sql'), o.template);
  if (o.setup !== undefined) writeFileSync(join(local, 'setup.sql'), o.setup);
  const spec = {
    name: o.name,
    template: 'q.sql',
    ...(o.setup !== undefined ? { setup: 'setup.sql' } : {}),
    params: o.params,
    unit: o.unit,
    clickhouse: o.clickhouse
      ? { url: o.clickhouse.url ?? env.ch.url, ...(o.clickhouse.user ? { user: o.clickhouse.user } : {}) }
      : { url: env.ch.url, ...(env.ch.user ? { user: env.ch.user } : {}) },
    worker: { concurrency: o.concurrency ?? 4, retries: o.retries ?? 1, query_timeout_s: o.queryTimeoutS ?? 60 },
    remote: {
      host: o.host ?? env.sshd.host,
      dir: remoteDir,
      parallel: o.parallel ?? 2,
      ...(o.host === 'local' ? {} : { ssh_config: o.sshConfig ?? env.sshd.sshConfigPath }),
      pueue_config: env.pueue.configPath,
      ...(o.memoryMax ? { memory_max: o.memoryMax } : {}),
    },
    ...(o.after ? { after: o.after } : {}),
  };
  // JSON is YAML: every value, however hostile, is written by JSON.stringify.
  const specPath = join(local, 'sweep.yaml');
  writeFileSync(specPath, `${JSON.stringify(spec, null, 2)}\n`);
  const out = join(local, 'out', o.name);
  const sweepDir = join(remoteDir, o.name);
  const run = (args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> =>
    runSweep(args, { cwd: local, env: opts.env ?? cliEnv(env.ch.password !== undefined ? { CLICKHOUSE_PASSWORD: env.ch.password } : {}), timeoutMs: opts.timeoutMs ?? 90_000 });
  return {
    name: o.name,
    local,
    specPath,
    out,
    sweepDir,
    group: `sweep-${o.name}`,
    run,
    json: async <T>(args: string[], opts: { env?: NodeJS.ProcessEnv; expectCode?: number } = {}) => {
      const res = await run([...args, '--json'], opts.env ? { env: opts.env } : {});
      if (opts.expectCode !== undefined && res.code !== opts.expectCode) {
        throw new Error(`sweep ${args.join(' ')}: expected exit ${opts.expectCode}, got ${res.code}\nstdout: ${res.stdout}\nstderr: ${res.stderr}`);
      }
      let doc: T;
      try {
        doc = JSON.parse(res.stdout) as T;
      } catch {
        throw new Error(`sweep ${args.join(' ')} --json: stdout is not one JSON document (exit ${res.code}):\n${res.stdout}\nstderr: ${res.stderr}`);
      }
      return { doc, res };
    },
    collected: () =>
      readFileSync(join(out, 'results.ndjson'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as ResultRecord),
    remoteLines: (unit) => {
      const p = join(sweepDir, 'results', `${unit}.ndjson`);
      if (!existsSync(p)) return 0;
      return readFileSync(p, 'utf8').split('\n').length - 1;
    },
    units: () => readdirSync(join(out, 'units')).map((f) => f.replace(/\.json$/, '')).sort(),
  };
}

/** The rows ClickHouse gives for a config's SQL file when run by hand (plain HTTP, JSON format). */
export async function runByHand(url: string, sqlPath: string): Promise<unknown[]> {
  const sql = readFileSync(sqlPath, 'utf8').trim().replace(/;\s*$/, '');
  const text = await chQuery(url, `${sql}\nFORMAT JSON`);
  return (JSON.parse(text) as { data: unknown[] }).data;
}

export async function waitFor(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** pids of live worker processes for one unit of one sweep dir (from /proc cmdlines). */
export function workerPids(sweepDir: string, unit: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = argv.indexOf('--unit');
    if (argv.includes('run-unit') && argv[i + 1] === unit && argv.includes(sweepDir)) out.push(Number(name));
  }
  return out;
}

/** Every process's argv joined, for "never on a command line" checks. */
export function allCommandLines(): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push(readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {
      // gone
    }
  }
  return out;
}
