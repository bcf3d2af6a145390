/**
 * `npm run bench -- hosts [--units N] [--per-unit M] [--rounds R]`: how long
 * `sweep status` and `sweep collect` take for one finished sweep of N units
 * (default 1,000, M = 20 configs each) on one host, and the same sweep placed
 * over two hosts (500 + 500), in the same run on this machine: private sshds
 * (one alias per host), an isolated pueue daemon per host holding one finished
 * task per unit, and each unit's results file on its host, written as the
 * worker writes them (records for the host's own target).
 *
 * The records are written here rather than run: what is measured is the
 * commands' own cost (sessions, pueue status, the probes of every results
 * file, rsync, validation and merge), not the queries. The first collect
 * copies every file; the next ones only what changed (nothing): both printed.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpTarget } from '../src/engine/target.js';
import type { UnitIndex } from '../src/format/manifest.js';
import { generate } from '../src/generate/generate.js';
import { spreadUnits, writePlacement, type PlacementFile } from '../src/remote/placement.js';
import { makeRecord } from '../src/results/record.js';
import { locatePueue, startPueue, type PueueHandle } from '../test/harness/pueue.js';
import { startSshd, type SshdHandle } from '../test/harness/sshd.js';
import { makeTempDir } from '../test/harness/tmp.js';
import { flagNumber } from './bench-common.js';

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');
const CLI = join(distRoot, 'src', 'cli', 'bin.js');

interface Host {
  sshd: SshdHandle;
  pueue: PueueHandle;
  /** A URL nothing listens on: status and collect never query the server. */
  url: string;
}

export async function run(args: string[]): Promise<void> {
  const units = flagNumber(args, '--units', 1000);
  const perUnit = flagNumber(args, '--per-unit', 20);
  const rounds = flagNumber(args, '--rounds', 3);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const tmp = makeTempDir('hosts-bench');
  const [sa, sb, pa, pb] = await Promise.all([startSshd({ alias: 'bench-a' }), startSshd({ alias: 'bench-b' }), startPueue(), startPueue()]);
  const a: Host = { sshd: sa, pueue: pa, url: 'http://127.0.0.1:18123' };
  const b: Host = { sshd: sb, pueue: pb, url: 'http://127.0.0.1:18124' };
  try {
    const rows: string[] = [];
    for (const scenario of [{ name: 'one', hosts: [a] }, { name: 'two', hosts: [a, b] }]) {
      log(`bench hosts: ${units} units x ${perUnit} configs on ${scenario.hosts.length} host(s): preparing ...`);
      const local = await prepare(tmp.path, scenario.name, scenario.hosts, units, perUnit);
      const status: number[] = [];
      const collect: number[] = [];
      for (let r = 0; r < rounds; r++) {
        status.push(await timed(['status', 'sweep.yaml', '--json'], local, 0));
        collect.push(await timed(['collect', 'sweep.yaml', '--json'], local, 0));
      }
      rows.push(
        `| ${scenario.hosts.length} | ${units} | ${units * perUnit} | ${s(median(status))} (${status.map(s).join(', ')}) | ${s(collect[0] ?? NaN)} | ${s(median(collect.slice(1)))} |`,
      );
    }
    const lines = [
      `sweep status and collect, ${units} units x ${perUnit} configs, finished (one pueue task per unit, every record written), this machine (${hostname()}):`,
      '| hosts | units | configs | status: median s (each round) | collect, first (copies every file) s | collect again s |',
      '| ---: | ---: | ---: | --- | ---: | ---: |',
      ...rows,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await Promise.allSettled([sa.stop(), sb.stop(), pa.stop(), pb.stop()]);
    await tmp.remove();
  }
}

/** A generated sweep, its units placed over `hosts`, every unit finished there (records, a Success task). */
async function prepare(root: string, name: string, hosts: Host[], units: number, perUnit: number): Promise<string> {
  // Its own sweep (and so its own pueue group) per scenario: the daemons are shared.
  const sweep = `hb-${name}`;
  const local = join(root, `${name}-local`);
  mkdirSync(local, { recursive: true });
  writeFileSync(join(local, 'q.sql'), 'SELECT {u:UInt32} AS u, {k:UInt32} AS k\n');
  const dirs = hosts.map((h) => join(root, `${name}-${h.sshd.host}`));
  const spec = {
    name: sweep,
    template: 'q.sql',
    params: { u: Array.from({ length: units }, (_, i) => i), k: Array.from({ length: perUnit }, (_, i) => i) },
    unit: ['u'],
    remote: { hosts: hosts.map((h, i) => ({ host: h.sshd.host, dir: dirs[i], parallel: 1, clickhouse_url: h.url, ssh_config: h.sshd.sshConfigPath, pueue_config: h.pueue.configPath })) },
  };
  writeFileSync(join(local, 'sweep.yaml'), JSON.stringify(spec, null, 2));
  await generate({ specPath: 'sweep.yaml', cwd: local });
  const out = join(local, 'out', sweep);
  const ids = Array.from({ length: units }, (_, i) => `u-${i}`);
  const placed = spreadUnits(
    ids,
    hosts.map((h) => ({ host: h.sshd.host, weight: 1 })),
  );
  // Both hosts are this machine: a loopback URL's target names it.
  const target = (h: Host): string => httpTarget(h.url, 'default', hostname());
  const file: PlacementFile = {
    v: 1,
    sweep,
    updated_at: new Date().toISOString(),
    hosts: Object.fromEntries(hosts.map((h, i) => [h.sshd.host, { dir: join(dirs[i] ?? '', sweep), weight: 1, target: target(h) }])),
    units: Object.fromEntries(ids.map((u) => [u, [placed.get(u) ?? '']])),
  };
  writePlacement(out, file);
  const pueueBin = locatePueue().pueue;
  for (const [i, h] of hosts.entries()) {
    const sweepDir = join(dirs[i] ?? '', sweep);
    mkdirSync(join(sweepDir, 'results'), { recursive: true });
    for (const f of ['manifest.json', 'spec.json', 'units']) cpSync(join(out, f), join(sweepDir, f), { recursive: true });
    const mine = ids.filter((u) => placed.get(u) === h.sshd.host);
    for (const u of mine) {
      const index = JSON.parse(readFileSync(join(out, 'units', `${u}.json`), 'utf8')) as UnitIndex;
      const text = index.configs
        .map((c) =>
          JSON.stringify(
            makeRecord({
              config: c.id,
              status: 'ok',
              sql_sha256: c.sql_sha256,
              target: target(h),
              setup: null,
              sweep,
              unit: u,
              params: c.params,
              shape: null,
              rows: [{ u: c.params['u'], k: c.params['k'] }],
              rows_read: 1,
              bytes_read: 8,
              elapsed_ms: 1.2,
              attempts: 1,
              query_id: `${sweep}:${u}:0:${c.id}:1`,
              max_threads: 1,
              engine: 'http 18.16.1',
              host: hostname(),
              worker: '0.1.0',
              started_at: '2026-01-01T00:00:00.000Z',
              finished_at: '2026-01-01T00:00:00.002Z',
            }),
          ),
        )
        .join('\n');
      writeFileSync(join(sweepDir, 'results', `${u}.ndjson`), `${text}\n`);
    }
    // One finished task per unit, labelled as submit-all labels them (adds 8 at a time: the daemon serialises them anyway).
    const cfg = h.pueue.configPath;
    await execP(pueueBin, ['-c', cfg, 'group', 'add', `sweep-${sweep}`, '-p', '16']);
    for (let k = 0; k < mine.length; k += 8) {
      await Promise.all(mine.slice(k, k + 8).map((u) => execP(pueueBin, ['-c', cfg, 'add', '-g', `sweep-${sweep}`, '-l', `sweep:${sweep}:${u}`, '-w', sweepDir, '--', 'true'])));
    }
    await h.pueue.waitForGroupIdle(`sweep-${sweep}`, 120_000);
  }
  return local;
}

function execP(file: string, args: string[]): Promise<void> {
  return new Promise((res, rej) => execFile(file, args, { timeout: 60_000 }, (err) => (err ? rej(err) : res())));
}

/** Wall seconds of one CLI run; throws on another exit code. */
function timed(args: string[], cwd: string, expect: number): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => {
      const secs = (performance.now() - t0) / 1000;
      if (code !== expect) rej(new Error(`sweep ${args.join(' ')} exited ${code}:\n${stderr}\n${stdout.slice(0, 2000)}`));
      else res(secs);
    });
  });
}

function median(xs: number[]): number {
  const v = [...xs].sort((p, q) => p - q);
  return v.length === 0 ? NaN : (v[Math.floor((v.length - 1) / 2)] as number);
}

function s(x: number): string {
  return x.toFixed(2);
}
