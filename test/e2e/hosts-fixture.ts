/**
 * Two hosts on this machine for the several-hosts tests: each a private sshd
 * with its own alias, its own isolated pueue daemon and its own ClickHouse
 * server (private 18.16 servers started by the harness, holding the same data
 * once the spec's setup has run on each). Local and remote dirs are distinct,
 * so only rsync carries files across.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startClickHouse, type ClickHouseHandle } from '../harness/clickhouse.js';
import { startPueue, type PueueHandle } from '../harness/pueue.js';
import { startSshd, type SshdHandle } from '../harness/sshd.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';
import { runSweep, type CliResult } from '../helpers/cli.js';
import type { ResultRecord } from '../../src/results/record.js';
import { cliEnv } from './remote-fixture.js';

export interface TestHost {
  alias: string;
  sshd: SshdHandle;
  pueue: PueueHandle;
  ch: ClickHouseHandle;
}

export interface HostsEnv {
  a: TestHost;
  b: TestHost;
  root: TempDir;
  stop(): Promise<void>;
}

export async function startTwoHosts(): Promise<HostsEnv> {
  const root = makeTempDir('hosts');
  const [sa, sb, pa, pb, ca, cb] = await Promise.all([
    startSshd({ alias: 'sweep-test-a' }),
    startSshd({ alias: 'sweep-test-b' }),
    startPueue(),
    startPueue(),
    // Private servers (never CLICKHOUSE_URL's or a container): each host its own.
    startClickHouse({ profile: {} }),
    startClickHouse({ profile: {} }),
  ]);
  return {
    a: { alias: sa.host, sshd: sa, pueue: pa, ch: ca },
    b: { alias: sb.host, sshd: sb, pueue: pb, ch: cb },
    root,
    stop: async () => {
      await Promise.allSettled([sa.stop(), sb.stop(), pa.stop(), pb.stop(), ca.stop(), cb.stop()]);
      await root.remove();
    },
  };
}

export interface HostEntry {
  host: string;
  dir?: string;
  parallel?: number | 'auto' | { min: number; max?: number };
  clickhouse_url?: string;
  ssh_config?: string;
  pueue_config?: string;
}

export interface HostsSweep {
  name: string;
  local: string;
  specPath: string;
  out: string;
  group: string;
  /** `<dir>/<name>` on each host, by host name. */
  sweepDirs: Record<string, string>;
  run(args: string[], timeoutMs?: number): Promise<CliResult>;
  json<T>(args: string[], expectCode?: number): Promise<{ doc: T; res: CliResult }>;
  collected(): ResultRecord[];
  remoteLines(host: string, unit: string): number;
}

/** An entry of remote.hosts for a test host, with its own dir under the temp root. */
export function entryOf(env: HostsEnv, h: TestHost, name: string, more: Partial<HostEntry> = {}): HostEntry {
  const dir = join(env.root.path, `${name}-${h.alias}`);
  mkdirSync(dir, { recursive: true });
  return { host: h.alias, dir, clickhouse_url: h.ch.url, ssh_config: h.sshd.sshConfigPath, pueue_config: h.pueue.configPath, ...more };
}

export function writeHostsSweep(
  env: HostsEnv,
  o: { name: string; template: string; setup?: string; params: Record<string, Array<string | number>>; unit: string[]; hosts: HostEntry[]; concurrency?: number; autoscale?: Record<string, number> },
): HostsSweep {
  const local = join(env.root.path, `${o.name}-local`);
  mkdirSync(local, { recursive: true });
  writeFileSync(join(local, 'q.sql'), o.template);
  if (o.setup !== undefined) writeFileSync(join(local, 'setup.sql'), o.setup);
  const spec = {
    name: o.name,
    template: 'q.sql',
    ...(o.setup !== undefined ? { setup: 'setup.sql' } : {}),
    params: o.params,
    unit: o.unit,
    worker: { concurrency: o.concurrency ?? 1, retries: 1, query_timeout_s: 60 },
    remote: { hosts: o.hosts, ...(o.autoscale ? { autoscale: o.autoscale } : {}) },
  };
  // JSON is YAML: every value, however hostile, is written by JSON.stringify.
  const specPath = join(local, 'sweep.yaml');
  writeFileSync(specPath, `${JSON.stringify(spec, null, 2)}\n`);
  const out = join(local, 'out', o.name);
  const sweepDirs = Object.fromEntries(o.hosts.map((h) => [h.host, join(h.dir ?? '/', o.name)]));
  const run = async (args: string[], timeoutMs = 120_000): Promise<CliResult> => {
    const t0 = Date.now();
    const r = await runSweep(args, { cwd: local, env: cliEnv(), timeoutMs });
    // SWEEP_TEST_TIMES=1 prints each command's wall time (where a slow test spends it).
    if (process.env['SWEEP_TEST_TIMES']) console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: sweep ${args.join(' ')} -> ${r.code}`);
    return r;
  };
  return {
    name: o.name,
    local,
    specPath,
    out,
    group: `sweep-${o.name}`,
    sweepDirs,
    run,
    json: async <T>(args: string[], expectCode?: number) => {
      const res = await run([...args, '--json']);
      if (expectCode !== undefined && res.code !== expectCode) {
        throw new Error(`sweep ${args.join(' ')}: expected exit ${expectCode}, got ${res.code}\nstdout: ${res.stdout.slice(0, 4000)}\nstderr: ${res.stderr}`);
      }
      try {
        return { doc: JSON.parse(res.stdout) as T, res };
      } catch {
        throw new Error(`sweep ${args.join(' ')} --json: stdout is not one JSON document (exit ${res.code}):\n${res.stdout}\nstderr: ${res.stderr}`);
      }
    },
    collected: () =>
      readFileSync(join(out, 'results.ndjson'), 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as ResultRecord),
    remoteLines: (host, unit) => {
      try {
        return readFileSync(join(sweepDirs[host] ?? '', 'results', `${unit}.ndjson`), 'utf8').split('\n').length - 1;
      } catch {
        return 0;
      }
    },
  };
}

/** Every key of a JSON document, recursively (for the snake_case rule); map-like objects keyed by data are skipped by `skip`. */
export function jsonKeys(doc: unknown, skip: (path: string) => boolean = () => false, path = ''): string[] {
  if (Array.isArray(doc)) return doc.flatMap((v) => jsonKeys(v, skip, `${path}[]`));
  if (doc === null || typeof doc !== 'object') return [];
  if (skip(path)) return [];
  return Object.entries(doc).flatMap(([k, v]) => [k, ...jsonKeys(v, skip, `${path}.${k}`)]);
}
