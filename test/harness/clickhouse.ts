/**
 * A real ClickHouse server for tests, found in this order:
 *   1. CLICKHOUSE_URL, if set (the developer's own server; never stopped by us);
 *   2. testcontainers, when a Docker engine answers (pinned image);
 *   3. a `clickhouse-server` (or `clickhouse server`) binary on PATH or in /usr/sbin,
 *      started on free ports with a private temp dir and config, removed afterwards.
 * On this project's CI machine that is Debian 12's package, ClickHouse 18.16, so the
 * config below uses only settings 18.16 understands (and current releases accept).
 * No server at all throws ComponentMissing: the global setup then skips the tests
 * that need one, except under CI=true (test/harness/components.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, readFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ComponentMissing, withheld } from './missing.js';
import { freePort } from './process.js';

export const CLICKHOUSE_IMAGE = 'clickhouse/clickhouse-server:25.8';

export interface ClickHouseHandle {
  url: string;
  kind: 'env' | 'container' | 'binary';
  version: string;
  /** The private data/config dir (binary only), removed by stop(). */
  dir?: string;
  /** Native protocol port, for clickhouse-client (binary and container only). */
  tcpPort?: number;
  /** Stop the server but keep its data, to simulate an outage (binary only). */
  pause(): Promise<void>;
  /** Start it again on the same ports after pause() (binary only). */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface ClickHouseOptions {
  /** A private server (never CLICKHOUSE_URL's or a container) with these limits, for tests of the server at its limit. */
  maxConcurrentQueries?: number;
  /** Settings of the default profile (e.g. queue_max_wait_ms: 0, the current default; 18.16's is 5000). */
  profile?: Record<string, string | number>;
}

export async function startClickHouse(opts: ClickHouseOptions = {}): Promise<ClickHouseHandle> {
  const off = withheld('clickhouse');
  if (off) throw off;
  const privateOnly = opts.maxConcurrentQueries !== undefined || opts.profile !== undefined;
  if (privateOnly) {
    const binary = findServerBinary();
    if (!binary) throw new ComponentMissing('clickhouse', 'this test needs a clickhouse-server binary it can start with its own limits, and none is on PATH or in /usr/sbin');
    return startBinary(binary, opts);
  }
  const fromEnv = process.env['CLICKHOUSE_URL'];
  if (fromEnv) {
    return {
      url: fromEnv,
      kind: 'env',
      version: await waitForServer(fromEnv, 10_000),
      pause: () => Promise.reject(new Error('cannot pause a server given by CLICKHOUSE_URL')),
      resume: () => Promise.reject(new Error('cannot resume a server given by CLICKHOUSE_URL')),
      stop: async () => {},
    };
  }
  const container = await tryContainer();
  if (container) return container;
  const binary = findServerBinary();
  if (binary) return startBinary(binary);
  throw new ComponentMissing('clickhouse', 'no ClickHouse server for tests: CLICKHOUSE_URL is not set, no Docker engine answers, no clickhouse-server on PATH or in /usr/sbin');
}

async function tryContainer(): Promise<ClickHouseHandle | undefined> {
  let runtime: unknown;
  try {
    const tc = await import('testcontainers');
    runtime = await tc.getContainerRuntimeClient();
  } catch {
    // "Could not find a working container runtime strategy": no engine here, fall back.
    return undefined;
  }
  if (!runtime) return undefined;
  const { ClickHouseContainer } = await import('@testcontainers/clickhouse');
  const container = await new ClickHouseContainer(CLICKHOUSE_IMAGE).start();
  const url = `http://${container.getHost()}:${container.getMappedPort(8123)}`;
  // The module's default user has a password; pass it through the URL only inside tests.
  const withAuth = new URL(url);
  withAuth.username = container.getUsername();
  withAuth.password = container.getPassword();
  const authed = withAuth.toString().replace(/\/$/, '');
  return {
    url: authed,
    kind: 'container',
    tcpPort: container.getMappedPort(9000),
    version: await waitForServer(authed, 60_000),
    pause: async () => {
      await container.stop({ remove: false });
    },
    resume: () => Promise.reject(new Error('resume is not supported for containers')),
    stop: async () => {
      await container.stop();
    },
  };
}

function findServerBinary(): { command: string; prefix: string[] } | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const server = join(dir, 'clickhouse-server');
    if (existsSync(server)) return { command: server, prefix: [] };
  }
  for (const dir of dirs) {
    if (!dir) continue;
    const multi = join(dir, 'clickhouse');
    if (existsSync(multi)) return { command: multi, prefix: ['server', '--'] };
  }
  return undefined;
}


function serverConfig(dir: string, httpPort: number, tcpPort: number, maxConcurrentQueries = 200): string {
  // <yandex> is the root tag 18.16 requires; current releases still accept it.
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>${maxConcurrentQueries}</max_concurrent_queries>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>53687091</mark_cache_size>
</yandex>
`;
}

const usersXml = (profile: Record<string, string | number> = {}): string => `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage>${Object.entries(profile)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('')}</default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

async function startBinary(binary: { command: string; prefix: string[] }, opts: ClickHouseOptions = {}): Promise<ClickHouseHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'sweep-ch-'));
  for (const sub of ['data', 'tmp', 'user_files', 'format_schemas']) await mkdir(join(dir, sub));
  await writeFile(join(dir, 'users.xml'), usersXml(opts.profile));
  let lastError: unknown;
  // Free ports can be taken between probing and binding: try a few pairs.
  for (let attempt = 0; attempt < 4; attempt++) {
    const httpPort = await freePort();
    const tcpPort = await freePort();
    await writeFile(join(dir, 'config.xml'), serverConfig(dir, httpPort, tcpPort, opts.maxConcurrentQueries));
    const url = `http://127.0.0.1:${httpPort}`;
    let child: ChildProcess | undefined = spawnServer(binary, dir);
    try {
      const version = await waitForServer(url, 30_000, child);
      const handle: ClickHouseHandle = {
        url,
        kind: 'binary',
        version,
        dir,
        tcpPort,
        pause: async () => {
          if (child) await killAndWait(child);
          child = undefined;
        },
        resume: async () => {
          if (child) return;
          child = spawnServer(binary, dir);
          await waitForServer(url, 30_000, child);
        },
        stop: async () => {
          if (child) await killAndWait(child);
          child = undefined;
          await rm(dir, { recursive: true, force: true });
        },
      };
      return handle;
    } catch (err) {
      lastError = err;
      if (child) await killAndWait(child);
    }
  }
  const log = await readFile(join(dir, 'server.err.log'), 'utf8').catch(() => '');
  await rm(dir, { recursive: true, force: true });
  throw new Error(`clickhouse-server did not start: ${String(lastError)}\n${log.slice(-2000)}`);
}

function spawnServer(binary: { command: string; prefix: string[] }, dir: string): ChildProcess {
  const child = spawn(binary.command, [...binary.prefix, `--config-file=${join(dir, 'config.xml')}`], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  (child as ChildProcess & { stderrTail?: () => string }).stderrTail = () => stderr;
  return child;
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Poll until SELECT version() answers; returns the version. */
export async function waitForServer(url: string, timeoutMs: number, child?: ChildProcess): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      const tail = (child as ChildProcess & { stderrTail?: () => string }).stderrTail?.() ?? '';
      throw new Error(`clickhouse-server exited early (${child.exitCode ?? child.signalCode}): ${tail}`);
    }
    try {
      const { url: u, headers } = authorized(url);
      u.searchParams.set('query', 'SELECT version()');
      const res = await fetch(u, { headers, signal: AbortSignal.timeout(2000) });
      const text = (await res.text()).trim();
      if (res.ok) return text;
      last = text;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`ClickHouse at ${url} did not answer within ${timeoutMs} ms: ${last}`);
}

/** Run one statement over plain HTTP (for test setup and checks, independent of the product's engine). */
export async function chQuery(url: string, sql: string): Promise<string> {
  const { url: u, headers } = authorized(url);
  const res = await fetch(u, { method: 'POST', body: sql, headers });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse error for ${sql.slice(0, 200)}: ${text}`);
  return text;
}

/** Credentials in a URL (testcontainers' user) move to ClickHouse's headers: fetch refuses them in the URL. */
function authorized(url: string): { url: URL; headers: Record<string, string> } {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  if (u.username) {
    headers['X-ClickHouse-User'] = decodeURIComponent(u.username);
    headers['X-ClickHouse-Key'] = decodeURIComponent(u.password);
    u.username = '';
    u.password = '';
  }
  return { url: u, headers };
}
