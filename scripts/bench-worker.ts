/**
 * `npm run bench -- worker [--rounds N] [--only short|heavy|skip] [--tiers a,b,c] [--short N] [--heavy N] [--skip N]`
 *
 * In one invocation, against one ClickHouse server and the same SQL files:
 *   (a) the worker: `node dist/worker.mjs run-unit` (the bundle that ships);
 *   (b) the shell tier it replaces: scripts/shell-tier-unit.sh (xargs -P16, one
 *       clickhouse-client --multiquery process per file, flock append);
 *   (c) a bare keep-alive HTTP loop at the same concurrency writing the raw
 *       output: the client-side limit.
 * Workloads: 2,000 short queries and 200 CPU-heavy ones. All three send the same
 * max_threads (the worker's auto value) so the server does the same work. Rounds
 * run the tiers in turn, in a rotating order (a b c, b c a, c a b, ...); medians
 * are reported, with each tier's
 * CPU time (user + sys of the whole process tree, from /usr/bin/time).
 * Goals: short (a) <= 1.3x (c) wall; heavy (a) within 5% of (c).
 *
 * Then skip-done: a unit of 300,000 configs against 300,000 existing records
 * (nothing left to run): wall time and peak RSS of the worker process.
 * Goal: < 2 s and < 300 MB.
 *
 * The server: CLICKHOUSE_URL (+ CLICKHOUSE_TCP_PORT for clickhouse-client, default
 * 9000) when set, else a private clickhouse-server started by the test harness.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { embeddedTarget } from '../src/engine/target.js';
import { generate } from '../src/generate/generate.js';
import { startClickHouse } from '../test/harness/clickhouse.js';
import { flagText } from './bench-common.js';

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');
const pkgRoot = resolve(distRoot, '..');
const WORKER = join(pkgRoot, 'dist', 'worker.mjs');
const SHELL_TIER = join(pkgRoot, 'scripts', 'shell-tier-unit.sh');
const CONCURRENCY = 16;

interface Measure {
  wallS: number;
  cpuS: number | null;
  maxRssMb: number | null;
  stdout: string;
  stderr: string;
  code: number | null;
}

const HAS_TIME = existsSync('/usr/bin/time');
/** The measured process running now, killed if the bench is interrupted. */
let current: ReturnType<typeof spawn> | undefined;

/** Run a command to its end; wall from here, CPU and peak RSS of the whole tree from /usr/bin/time. */
function measure(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeFile: string }): Promise<Measure> {
  return new Promise((resolvePromise, reject) => {
    const argv = HAS_TIME ? ['-f', '%e %U %S %M', '-o', opts.timeFile, cmd, ...args] : args;
    const t0 = performance.now();
    // Its own process group, so an interrupted bench can stop the whole tree (xargs, clients).
    const child = spawn(HAS_TIME ? '/usr/bin/time' : cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, detached: true });
    current = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      current = undefined;
      const wallS = (performance.now() - t0) / 1000;
      let cpuS: number | null = null;
      let maxRssMb: number | null = null;
      if (HAS_TIME) {
        const last = readFileSync(opts.timeFile, 'utf8').trim().split('\n').pop() ?? '';
        const [, user, sys, rss] = last.split(' ').map(Number);
        cpuS = (user ?? 0) + (sys ?? 0);
        maxRssMb = (rss ?? 0) / 1024;
      }
      resolvePromise({ wallS, cpuS, maxRssMb, stdout, stderr, code });
    });
  });
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

// The client-side limit: N keep-alive sockets, one POST per SQL file, raw body appended.
const BARE_LOOP = `
import http from 'node:http';
import { openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
const [dir, url, conc, maxThreads, outPath] = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
const u = new URL(url);
const headers = u.username ? { Authorization: 'Basic ' + Buffer.from(decodeURIComponent(u.username) + ':' + decodeURIComponent(u.password)).toString('base64') } : {};
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conc) });
const fd = openSync(outPath, 'a');
let next = 0;
let failed = 0;
const post = (sql) => new Promise((res, rej) => {
  const req = http.request({ hostname: u.hostname, port: u.port, method: 'POST', agent, headers,
    path: '/?default_format=JSON&max_threads=' + maxThreads }, (r) => {
    const chunks = [];
    r.on('data', (c) => chunks.push(c));
    r.on('end', () => res({ status: r.statusCode, body: Buffer.concat(chunks) }));
    r.on('error', rej);
  });
  req.on('error', rej);
  req.end(sql);
});
async function loop() {
  while (next < files.length) {
    const f = files[next++];
    const { status, body } = await post(readFileSync(dir + '/' + f));
    if (status !== 200) failed++;
    writeSync(fd, body);
  }
}
await Promise.all(Array.from({ length: Number(conc) }, loop));
agent.destroy();
console.log(JSON.stringify({ n: files.length, failed }));
`;

interface Workload {
  name: 'short' | 'short500' | 'heavy';
  configs: number;
  template: string;
  params: string;
}

const list = (n: number, from = 0): string => Array.from({ length: n }, (_, i) => i + from).join(', ');

/** `configs` short queries (a multiple of 20: a x b with 20 values of b). */
function shortWorkload(name: 'short' | 'short500', configs: number): Workload {
  return {
    name,
    configs,
    template: 'SELECT {a:UInt32} AS a, {b:UInt32} AS b, sum(number * {b:UInt32}) AS s FROM numbers(1000)\n',
    params: `  a: [${list(Math.max(1, configs / 20))}]\n  b: [${list(20, 1)}]\n`,
  };
}

/** `configs` CPU-heavy queries (30M rows hashed each). */
function heavyWorkload(configs: number): Workload {
  return {
    name: 'heavy',
    configs,
    template: 'SELECT {a:UInt32} AS a, sum(cityHash64(number + {a:UInt32}) % 7) AS s FROM numbers(30000000)\n',
    params: `  a: [${list(configs)}]\n`,
  };
}

async function makeSweep(root: string, w: Workload): Promise<string> {
  const dir = join(root, w.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'q.sql'), w.template);
  writeFileSync(join(dir, 'sweep.yaml'), `name: bench-${w.name}\ntemplate: q.sql\nparams:\n${w.params}`);
  const out = join(dir, 'out');
  await generate({ specPath: join(dir, 'sweep.yaml'), outDir: out, withWorker: false });
  return out;
}

interface Row {
  workload: string;
  tier: string;
  wall: number;
  cpu: number | null;
}

export async function run(args: string[]): Promise<void> {
  const rounds = Number(flagText(args, '--rounds', '3'));
  const only = flagText(args, '--only', '');
  const nShort = Number(flagText(args, '--short', '2000'));
  const nHeavy = Number(flagText(args, '--heavy', '200'));
  const nSkip = Number(flagText(args, '--skip', '300000'));
  // --tiers a,c skips the slow shell tier when iterating on the worker.
  const tierSet = new Set(flagText(args, '--tiers', 'a,b,c').split(','));
  if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: npm run build`);
  const root = mkdtempSync(join(tmpdir(), 'sweep-bench-worker-'));
  const timeFile = join(root, 'time.txt');
  const rows: Row[] = [];
  const notes: string[] = [];
  const log = (s: string): void => void process.stderr.write(`${s}\n`);

  let stopServer: (() => Promise<void>) | undefined;
  // Ctrl-C or a kill must not leave the private server and the temp dir behind.
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`bench worker: ${sig}: cleaning up`);
    if (current?.pid) {
      try {
        process.kill(-current.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    void (stopServer?.() ?? Promise.resolve())
      .catch(() => {})
      .finally(() => {
        rmSync(root, { recursive: true, force: true });
        process.exit(sig === 'SIGINT' ? 130 : 143);
      });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (only === '' || only === 'short' || only === 'short500' || only === 'heavy') {
      let url = process.env['CLICKHOUSE_URL'];
      let tcpPort = Number(process.env['CLICKHOUSE_TCP_PORT'] ?? 9000);
      let version = '';
      if (!url) {
        const ch = await startClickHouse();
        stopServer = () => ch.stop();
        url = ch.url;
        tcpPort = ch.tcpPort ?? 9000;
        version = ch.version;
      }
      const host = new URL(url).hostname;
      log(`bench worker: ClickHouse ${version || '(CLICKHOUSE_URL)'} at ${url}, native port ${tcpPort}; ${rounds} round(s), tiers in turn`);
      const bare = join(root, 'bare-loop.mjs');
      writeFileSync(bare, BARE_LOOP);

      const workloads: Workload[] = [
        // One typical unit as its pueue task runs it: the whole process, start-up included.
        shortWorkload('short500', 500),
        shortWorkload('short', nShort),
        heavyWorkload(nHeavy),
      ].filter((w) => only === '' || only === w.name) as Workload[];

      for (const w of workloads) {
        const out = await makeSweep(root, w);
        const sqlDir = join(out, 'sql', 'all');
        // Warm-up (server caches, page cache) and the worker's own max_threads choice.
        const warm = await measure(process.execPath, [WORKER, 'run-unit', '--dir', out, '--unit', 'all', '--clickhouse-url', url, '--json'], { timeFile });
        if (warm.code !== 0) throw new Error(`worker warm-up failed (${warm.code}): ${warm.stderr}`);
        const maxThreads = (JSON.parse(warm.stdout) as { max_threads: number }).max_threads;
        log(`${w.name}: ${w.configs} configs, max_threads ${maxThreads} for all tiers`);
        const tiers = {
          a: [] as Measure[],
          b: [] as Measure[],
          c: [] as Measure[],
        };
        const runTier = {
          a: async (r: number): Promise<Measure> => {
            rmSync(join(out, 'results'), { recursive: true, force: true });
            const m = await measure(
              process.execPath,
              [WORKER, 'run-unit', '--dir', out, '--unit', 'all', '--clickhouse-url', url, '--max-threads', String(maxThreads), '--json'],
              { timeFile },
            );
            const s = JSON.parse(m.stdout) as { ok: number; ran: { ok: number } };
            if (m.code !== 0 || s.ran.ok !== w.configs) throw new Error(`worker round ${r} failed: ${m.stderr}`);
            return m;
          },
          b: async (r: number): Promise<Measure> => {
            const shellOut = join(root, `${w.name}-shell.tsv`);
            rmSync(shellOut, { force: true });
            const m = await measure('bash', [SHELL_TIER, sqlDir, shellOut, String(tcpPort), String(maxThreads)], {
              timeFile,
              env: { ...process.env, CH_HOST: host, PARALLEL: String(CONCURRENCY) },
            });
            const shellText = readFileSync(shellOut, 'utf8');
            if (m.code !== 0 || /\terror\t/.test(shellText)) throw new Error(`shell tier round ${r} failed: ${m.stderr} ${shellText.slice(0, 500)}`);
            return m;
          },
          c: async (r: number): Promise<Measure> => {
            const bareOut = join(root, `${w.name}-bare.out`);
            rmSync(bareOut, { force: true });
            const m = await measure(process.execPath, [bare, sqlDir, url, String(CONCURRENCY), String(maxThreads), bareOut], { timeFile });
            if (m.code !== 0 || (JSON.parse(m.stdout) as { failed: number }).failed !== 0) throw new Error(`bare loop round ${r} failed: ${m.stderr}${m.stdout}`);
            return m;
          },
        };
        const order = (['a', 'b', 'c'] as const).filter((k) => tierSet.has(k));
        for (let r = 0; r < rounds; r++) {
          // Rotate the order each round, so no tier always runs first (or right after the slow one).
          for (let k = 0; k < order.length; k++) {
            const tier = order[(k + r) % order.length] as 'a' | 'b' | 'c';
            tiers[tier].push(await runTier[tier](r));
          }
          const last = (ms: Measure[]) => (ms.length > r ? `${(ms[r] as Measure).wallS.toFixed(2)} s` : '-');
          log(`${w.name} round ${r + 1}: (a) ${last(tiers.a)}, (b) ${last(tiers.b)}, (c) ${last(tiers.c)}`);
        }
        const med = (ms: Measure[]) => ({ wall: median(ms.map((m) => m.wallS)), cpu: HAS_TIME ? median(ms.map((m) => m.cpuS ?? 0)) : null });
        const labels = { a: '(a) sweep run-unit', b: '(b) shell tier (xargs -P16 + clickhouse-client)', c: '(c) bare keep-alive HTTP loop' };
        for (const k of ['a', 'b', 'c'] as const) if (tiers[k].length > 0) rows.push({ workload: `${w.name} (${w.configs})`, tier: labels[k], ...med(tiers[k]) });
      }
    }

    if (only === '' || only === 'idle') notes.push(...(await idleStartBench(root, log)));
    if (only === '' || only === 'auto') notes.push(...(await autoBench(root, timeFile, log, rounds, (stop) => (stopServer = stop))));
    if (only === '' || only === 'skip') notes.push(...(await skipDoneBench(root, nSkip, timeFile, log)));
    if (only === '' || only === 'rss') notes.push(...(await resultRssBench(root, timeFile, log, (stop) => (stopServer = stop))));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopServer?.();
    rmSync(root, { recursive: true, force: true });
  }
  printTable(rows);
  for (const n of notes) process.stdout.write(`${n}\n`);
}

function printTable(rows: Row[]): void {
  if (rows.length === 0) return;
  const out: string[] = [];
  out.push('| workload | tier | wall s | CPU s | wall / (c) | CPU / (c) | (b) / this |');
  out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const c = rows.find((x) => x.workload === r.workload && x.tier.startsWith('(c)'));
    const b = rows.find((x) => x.workload === r.workload && x.tier.startsWith('(b)'));
    const f = (n: number | null | undefined, d = 2) => (n === null || n === undefined ? 'n/a' : n.toFixed(d));
    out.push(
      `| ${r.workload} | ${r.tier} | ${f(r.wall)} | ${f(r.cpu)} | ${c ? f(r.wall / c.wall) : ''}x | ${c && r.cpu !== null && c.cpu ? f(r.cpu / c.cpu) : 'n/a'}x | ${b ? f(b.wall / r.wall, 1) : ''}x |`,
    );
  }
  const short = rows.filter((r) => r.workload.startsWith('short (2'));
  const short500 = rows.filter((r) => r.workload.startsWith('short500'));
  const heavy = rows.filter((r) => r.workload.startsWith('heavy'));
  const ratio = (rs: Row[]) => {
    const a = rs.find((r) => r.tier.startsWith('(a)'));
    const c = rs.find((r) => r.tier.startsWith('(c)'));
    return a && c ? a.wall / c.wall : undefined;
  };
  const rs = ratio(short);
  const r5 = ratio(short500);
  const rh = ratio(heavy);
  if (r5 !== undefined) out.push(`one unit of 500 short queries, whole process: (a)/(c) = ${r5.toFixed(2)}x (goal <= 1.20x): ${r5 <= 1.2 ? 'MET' : 'NOT MET'}`);
  if (rs !== undefined) out.push(`short: (a)/(c) = ${rs.toFixed(2)}x (goal <= 1.15x): ${rs <= 1.15 ? 'MET' : 'NOT MET'}`);
  if (rh !== undefined) out.push(`heavy: (a)/(c) = ${rh.toFixed(3)}x (goal <= 1.05x): ${rh <= 1.05 ? 'MET' : 'NOT MET'}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

/**
 * An idle unit (every config done): `node worker.mjs run-unit` start to exit,
 * against `node -e 0`, interleaved, median of 21 each. Goal: within 25 ms.
 */
async function idleStartBench(root: string, log: (s: string) => void): Promise<string[]> {
  const dir = join(root, 'idle');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'q.sql'), 'SELECT {a:UInt32} AS a\n');
  writeFileSync(join(dir, 'sweep.yaml'), 'name: idle\ntemplate: q.sql\nparams:\n  a: [1, 2, 3]\n');
  const out = join(dir, 'out');
  await generate({ specPath: join(dir, 'sweep.yaml'), outDir: out, withWorker: false });
  const env = { ...process.env, CLICKHOUSE_URL: '' };
  // Done on the embedded engine once (the idle runs then never load it).
  const first = spawnSyncTimed(process.execPath, [WORKER, 'run-unit', '--dir', out, '--unit', 'all'], env);
  if (first.code !== 0) throw new Error(`idle bench: the first run failed: ${first.stderr}`);
  const idle: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < 21; i++) {
    bare.push(spawnSyncTimed(process.execPath, ['-e', '0'], env).ms);
    const r = spawnSyncTimed(process.execPath, [WORKER, 'run-unit', '--dir', out, '--unit', 'all'], env);
    if (r.code !== 0) throw new Error(`idle bench: run-unit failed: ${r.stderr}`);
    idle.push(r.ms);
  }
  const d = median(idle) - median(bare);
  log(`idle run-unit ${median(idle).toFixed(0)} ms, node -e 0 ${median(bare).toFixed(0)} ms`);
  return [`idle run-unit (every config done): ${median(idle).toFixed(0)} ms against ${median(bare).toFixed(0)} ms for node -e 0: +${d.toFixed(0)} ms (goal <= 25 ms): ${d <= 25 ? 'MET' : 'NOT MET'}`];
}

function spawnSyncTimed(cmd: string, args: string[], env: NodeJS.ProcessEnv): { ms: number; code: number | null; stderr: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  return { ms: performance.now() - t0, code: r.status, stderr: r.stderr };
}

/**
 * concurrency auto against the best fixed concurrency among 1, 2, 4, 8, 16, 32,
 * for a short-query and a heavy-query workload, same files, max_threads auto
 * (sized to the concurrency) in every case. Goal: auto within 10 % of the best.
 * `auto` searches from the bottom (no auto-concurrency.json: a sweep's first
 * unit); `auto, next unit` starts where an untimed auto run before it ended,
 * as every later unit of a sweep against the same target does.
 */
async function autoBench(root: string, timeFile: string, log: (s: string) => void, rounds: number, onServer: (stop: () => Promise<void>) => void): Promise<string[]> {
  let url = process.env['CLICKHOUSE_URL'];
  if (!url) {
    const ch = await startClickHouse();
    onServer(() => ch.stop());
    url = ch.url;
  }
  const notes: string[] = [];
  const workloads: Workload[] = [shortWorkload('short', 3000), heavyWorkload(120)];
  for (const w of workloads) {
    const out = await makeSweep(join(root, `auto-${w.name}`), w);
    const levels = ['1', '2', '4', '8', '16', '32', 'auto', 'auto-next'];
    const run = (level: string) =>
      measure(process.execPath, [WORKER, 'run-unit', '--dir', out, '--unit', 'all', '--clickhouse-url', url, '--concurrency', level.startsWith('auto') ? 'auto' : level, '--json'], { timeFile });
    const walls: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < levels.length; k++) {
        const level = levels[(k + r) % levels.length] as string;
        rmSync(join(out, 'results'), { recursive: true, force: true });
        rmSync(join(out, 'auto-concurrency.json'), { force: true });
        if (level === 'auto-next') {
          const learn = await run('auto');
          if (learn.code !== 0) throw new Error(`auto bench ${w.name}: the learning run failed: ${learn.stderr.slice(-500)}`);
          rmSync(join(out, 'results'), { recursive: true, force: true });
        }
        const m = await run(level);
        if (m.code !== 0) throw new Error(`auto bench ${w.name} at ${level} failed: ${m.stderr.slice(-500)}`);
        (walls[level] ??= []).push(m.wallS);
        if (level.startsWith('auto')) {
          const s = JSON.parse(m.stdout) as { auto: { final: number; changes: Array<{ to: number }> } };
          log(`${w.name} ${level}: ${m.wallS.toFixed(2)} s, ended at ${s.auto.final} after ${s.auto.changes.length} change(s): ${s.auto.changes.map((c) => c.to).join(' -> ')}`);
        } else log(`${w.name} concurrency ${level}: ${m.wallS.toFixed(2)} s`);
      }
    }
    const fixed = levels.filter((l) => !l.startsWith('auto')).map((l) => ({ l, wall: median(walls[l] ?? []) }));
    const best = fixed.reduce((a, b) => (b.wall < a.wall ? b : a));
    const auto = median(walls['auto'] ?? []);
    const next = median(walls['auto-next'] ?? []);
    const ratio = auto / best.wall;
    notes.push(
      `${w.name} (${w.configs} configs): auto ${auto.toFixed(2)} s, best fixed concurrency ${best.l} ${best.wall.toFixed(2)} s (${fixed.map((f) => `${f.l}: ${f.wall.toFixed(2)}`).join(', ')}): ${ratio.toFixed(2)}x (goal <= 1.10x): ${ratio <= 1.1 ? 'MET' : 'NOT MET'}`,
      `${w.name}, a later unit (auto starting where the one before ended): ${next.toFixed(2)} s, ${(next / best.wall).toFixed(2)}x the best fixed`,
    );
  }
  return notes;
}

/**
 * Peak RSS of the worker with 16 configs in flight that each return the
 * default result cap (worker.max_result_rows, 100,000 rows), next to the same
 * run with one-row results: the memory a big result costs.
 */
async function resultRssBench(root: string, timeFile: string, log: (s: string) => void, onServer: (stop: () => Promise<void>) => void): Promise<string[]> {
  let url = process.env['CLICKHOUSE_URL'];
  if (!url) {
    const ch = await startClickHouse();
    onServer(() => ch.stop());
    url = ch.url;
  }
  const notes: string[] = [];
  const peaks: Record<string, number> = {};
  for (const [name, rows] of [
    ['tiny', 1],
    ['capped', 100_000],
  ] as const) {
    const w: Workload = {
      name: 'short',
      configs: 16,
      template: `SELECT {i:UInt32} AS i, number AS n, toString(number * 7) AS s FROM numbers(${rows})\n`,
      params: `  i: [${Array.from({ length: 16 }, (_, i) => i).join(', ')}]\n`,
    };
    const out = await makeSweep(join(root, `rss-${name}`), w);
    const m = await measure(process.execPath, [WORKER, 'run-unit', '--dir', out, '--unit', 'all', '--clickhouse-url', url, '--json'], { timeFile });
    const s = JSON.parse(m.stdout) as { ok: number };
    if (m.code !== 0 || s.ok !== 16) throw new Error(`rss bench (${name}) failed: ${m.stderr}`);
    peaks[name] = m.maxRssMb ?? 0;
    log(`result RSS: 16 configs x ${rows} rows: peak ${m.maxRssMb?.toFixed(0) ?? 'n/a'} MB, ${m.wallS.toFixed(1)} s`);
  }
  notes.push(`worker peak RSS, 16 configs at the 100,000-row cap: ${peaks['capped']?.toFixed(0)} MB, against ${peaks['tiny']?.toFixed(0)} MB with one-row results (same run)`);
  return notes;
}

/** 300K configs, 300K records (realistic ~600-byte lines), nothing left to run. */
async function skipDoneBench(root: string, n: number, timeFile: string, log: (s: string) => void): Promise<string[]> {
  const dir = join(root, 'skip');
  const unit = 'symbol-BTCUSDT__threshold-250';
  mkdirSync(join(dir, 'units'), { recursive: true });
  mkdirSync(join(dir, 'results'), { recursive: true });
  const spec = {
    name: 'skipbench',
    template: 'q.sql',
    params: {},
    unit: ['symbol', 'threshold'],
    exclude: [],
    clickhouse: { database: 'default', user: 'default' },
    worker: { concurrency: 16, max_threads: 'auto', retries: 3, query_timeout_s: 600 },
    after: [],
  };
  writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
  const width = String(n).length;
  const configs = Array.from({ length: n }, (_, i) => {
    const lookback = i % 1000;
    const z = Math.floor(i / 1000);
    const id = `${unit}__lookback-${String(lookback).padStart(4, '0')}__z-${String(z).padStart(width, '0')}`;
    return { id, params: { symbol: 'BTCUSDT', threshold: 250, lookback, z }, sql_sha256: createHash('sha256').update(id).digest('hex') };
  }).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  writeFileSync(join(dir, 'units', `${unit}.json`), JSON.stringify({ v: 1, sweep: 'skipbench', unit, params: { symbol: 'BTCUSDT', threshold: 250 }, configs }));
  // v2 records for the target the worker will compute (embedded, CLICKHOUSE_URL unset), so every one counts as done.
  const target = embeddedTarget(join(dir, '.chdb'));
  const line = (c: (typeof configs)[number]) =>
    JSON.stringify({
      v: 2,
      config: c.id,
      status: 'ok',
      sql_sha256: c.sql_sha256,
      target,
      setup: null,
      sweep: 'skipbench',
      unit,
      params: c.params,
      shape: '0123456789abcdef',
      rows: [5, 20, 60].map((h) => ({ symbol: 'BTCUSDT', horizon: h, signals: '42', avg_fwd_return: 0.001234, hit_rate: 0.5476 })),
      rows_read: 525600,
      bytes_read: 8409600,
      elapsed_ms: 12.345,
      attempts: 1,
      query_id: `skipbench:${unit}:0a1b2c3d:${c.id.slice(unit.length + 2)}:1`,
      max_threads: 1,
      engine: 'http 18.16.1',
      host: 'bigblack',
      worker: '0.1.0',
      started_at: '2025-01-01T00:00:00.000Z',
      finished_at: '2025-01-01T00:00:00.012Z',
    });
  const notes: string[] = [];
  for (const order of ['completion (id) order', 'shuffled order'] as const) {
    const list = configs.slice();
    if (order === 'shuffled order') {
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [list[i], list[j]] = [list[j] as (typeof list)[number], list[i] as (typeof list)[number]];
      }
    }
    const path = join(dir, 'results', `${unit}.ndjson`);
    const chunks: string[] = [];
    for (const c of list) chunks.push(line(c));
    writeFileSync(path, `${chunks.join('\n')}\n`);
    const size = readFileSync(path).length;
    execFileSync('sync');
    const m = await measure(process.execPath, [WORKER, 'run-unit', '--dir', dir, '--unit', unit, '--json'], { timeFile, env: { ...process.env, CLICKHOUSE_URL: '' } });
    const s = JSON.parse(m.stdout) as { already_done: number; ok: number; missing: number };
    if (m.code !== 0 || s.already_done !== n || s.missing !== 0) throw new Error(`skip-done run failed: ${m.stderr}`);
    const ok = m.wallS < 2 && (m.maxRssMb ?? 0) < 300;
    notes.push(
      `skip-done: ${n} configs vs ${n} records (${(size / 1e6).toFixed(0)} MB, ${order}): ${m.wallS.toFixed(2)} s wall, ${m.cpuS?.toFixed(2) ?? 'n/a'} s CPU, peak RSS ${m.maxRssMb?.toFixed(0) ?? 'n/a'} MB (goal < 2 s, < 300 MB): ${ok ? 'MET' : 'NOT MET'}`,
    );
    log(notes.at(-1) as string);
  }
  return notes;
}
