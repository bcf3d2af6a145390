/**
 * `npm run bench -- e2e [--units N] [--per-unit M] [--parallel P]`: a whole sweep
 * (default 300,000 configs of short queries in 1,000 units) through every stage
 * on this machine's real components: generate, submit-all (the harness's private
 * sshd, an isolated pueue daemon), the units (pueue tasks running the worker
 * against the harness's ClickHouse), status and collect. Each stage's wall time
 * and peak RSS are printed, and the total next to a bare keep-alive loop running
 * the same SQL files at the same concurrency in the same run: everything but the
 * queries themselves should cost at most 25 % of the total.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startClickHouse } from '../test/harness/clickhouse.js';
import { startPueue } from '../test/harness/pueue.js';
import { startSshd } from '../test/harness/sshd.js';
import { makeTempDir } from '../test/harness/tmp.js';
import { flagNumber } from './bench-common.js';

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');
const CLI = join(distRoot, 'src', 'cli', 'bin.js');
const CONCURRENCY = 16;

interface Stage {
  name: string;
  wallS: number;
  rssMb: number | null;
  note?: string;
}

/** Run a process to its end under /usr/bin/time: wall, peak RSS, stdout. */
function timed(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ wallS: number; rssMb: number | null; stdout: string; stderr: string; code: number | null }> {
  const timeFile = join(makeTempDir('time').path, 'time.txt');
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', timeFile, cmd, ...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - t0) / 1000;
      let rssMb: number | null = null;
      try {
        rssMb = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop()) / 1024;
      } catch {
        // no /usr/bin/time output
      }
      resolvePromise({ wallS, rssMb, stdout, stderr, code });
    });
  });
}

/** Peak RSS (MB) of live worker processes, sampled while `until` is pending. */
async function sampleWorkers(until: Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    let total = 0;
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (!cmd.includes('worker.mjs') || !cmd.includes('run-unit')) continue;
        const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (rss) total = Math.max(total, Number(rss[1]) / 1024);
      } catch {
        // gone
      }
    }
    peak = Math.max(peak, total);
    await new Promise((r) => setTimeout(r, 200));
  }
  return peak;
}

const BARE_LOOP = `
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
const [root, url, conc] = process.argv.slice(2);
const files = [];
for (const u of readdirSync(root)) for (const f of readdirSync(root + '/' + u)) files.push(root + '/' + u + '/' + f);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conc) });
let next = 0, failed = 0;
const post = (sql) => new Promise((res, rej) => {
  const req = http.request({ hostname: target.hostname, port: target.port, method: 'POST', agent, path: '/?default_format=JSON&max_threads=1' }, (r) => {
    r.resume(); r.on('end', () => res(r.statusCode)); r.on('error', rej);
  });
  req.on('error', rej); req.end(sql);
});
async function loop() { while (next < files.length) { if ((await post(readFileSync(files[next++]))) !== 200) failed++; } }
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(conc) }, loop));
agent.destroy();
console.log(JSON.stringify({ n: files.length, failed, s: (performance.now() - t0) / 1000 }));
`;

export async function run(args: string[]): Promise<void> {
  const units = flagNumber(args, '--units', 1000);
  const perUnit = flagNumber(args, '--per-unit', 300);
  const parallel = flagNumber(args, '--parallel', 2);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const tmp = makeTempDir('e2e-bench');
  const [ch, sshd, pueue] = await Promise.all([startClickHouse(), startSshd(), startPueue()]);
  const stages: Stage[] = [];
  try {
    const local = join(tmp.path, 'local');
    const remote = join(tmp.path, 'remote');
    mkdirSync(local);
    mkdirSync(remote);
    writeFileSync(join(local, 'q.sql'), 'SELECT {u:UInt32} AS u, {k:UInt32} AS k, sum(number) AS s FROM numbers(100)\n');
    const spec = {
      name: 'e2e',
      template: 'q.sql',
      params: { u: Array.from({ length: units }, (_, i) => i), k: Array.from({ length: perUnit }, (_, i) => i) },
      unit: ['u'],
      clickhouse: { url: ch.url },
      worker: { concurrency: CONCURRENCY, max_threads: 1 },
      remote: { host: sshd.host, dir: remote, parallel, ssh_config: sshd.sshConfigPath, pueue_config: pueue.configPath },
    };
    writeFileSync(join(local, 'sweep.yaml'), JSON.stringify(spec, null, 2));
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root' };
    const cli = (argv: string[]) => timed(process.execPath, [CLI, ...argv], { cwd: local, env });
    log(`bench e2e: ${units * perUnit} configs in ${units} units, ClickHouse ${ch.version}, parallel ${parallel} x concurrency ${CONCURRENCY}`);
    const t0 = performance.now();

    const gen = await cli(['generate', 'sweep.yaml', '--json']);
    if (gen.code !== 0) throw new Error(`generate failed: ${gen.stderr}`);
    stages.push({ name: 'generate', wallS: gen.wallS, rssMb: gen.rssMb });
    log(`generate: ${gen.wallS.toFixed(1)} s`);

    const sub = await cli(['submit-all', 'sweep.yaml', '--json']);
    if (sub.code !== 0) throw new Error(`submit-all failed: ${sub.stderr}`);
    // One entry of `hosts` per host (README, JSON output); this bench has one.
    const report = JSON.parse(sub.stdout) as { hosts: Array<{ timings: { sync_ms: number; queue_ms: number }; sync: { files: number } }> };
    const host = report.hosts[0];
    if (!host) throw new Error(`submit-all --json named no host: ${sub.stdout.slice(0, 500)}`);
    stages.push({ name: 'submit-all', wallS: sub.wallS, rssMb: sub.rssMb, note: `rsync ${host.sync.files} files in ${(host.timings.sync_ms / 1000).toFixed(1)} s, queue ${(host.timings.queue_ms / 1000).toFixed(1)} s` });
    log(`submit-all: ${sub.wallS.toFixed(1)} s`);

    const u0 = performance.now();
    const idle = pueue.waitForGroupIdle('sweep-e2e', 60 * 60_000);
    const workerRss = await sampleWorkers(idle);
    await idle;
    const unitsS = (performance.now() - u0) / 1000;
    stages.push({ name: 'units (pueue tasks)', wallS: unitsS, rssMb: workerRss, note: 'peak RSS of one worker' });
    log(`units: ${unitsS.toFixed(1)} s`);

    const st = await cli(['status', 'sweep.yaml', '--json']);
    stages.push({ name: 'status', wallS: st.wallS, rssMb: st.rssMb });
    const col = await cli(['collect', 'sweep.yaml', '--json']);
    if (col.code !== 0) throw new Error(`collect failed (${col.code}): ${col.stderr.slice(-2000)}`);
    stages.push({ name: 'collect', wallS: col.wallS, rssMb: col.rssMb });
    const total = (performance.now() - t0) / 1000;

    // The same 300,000 queries through a bare keep-alive loop, same concurrency in total.
    const bare = join(tmp.path, 'bare.mjs');
    writeFileSync(bare, BARE_LOOP);
    const b = await timed(process.execPath, [bare, join(local, 'out', 'e2e', 'sql'), ch.url, String(CONCURRENCY * parallel)]);
    const bareS = (JSON.parse(b.stdout) as { s: number }).s;

    const lines = ['| stage | wall s | peak RSS MB | note |', '| --- | ---: | ---: | --- |'];
    for (const s of stages) lines.push(`| ${s.name} | ${s.wallS.toFixed(1)} | ${s.rssMb === null ? 'n/a' : s.rssMb.toFixed(0)} | ${s.note ?? ''} |`);
    lines.push(`| total | ${total.toFixed(1)} | | |`);
    lines.push(`| bare keep-alive loop, same ${units * perUnit} queries | ${bareS.toFixed(1)} | ${b.rssMb?.toFixed(0) ?? 'n/a'} | concurrency ${CONCURRENCY * parallel} |`);
    const overhead = (total - bareS) / total;
    lines.push(`everything but the queries: ${(overhead * 100).toFixed(1)} % of the total (goal <= 25 %): ${overhead <= 0.25 ? 'MET' : 'NOT MET'}`);
    const colOk = col.wallS < 10 && (col.rssMb ?? 0) < 500;
    lines.push(`collect ${units * perUnit} records in ${units} units: ${col.wallS.toFixed(1)} s, ${col.rssMb?.toFixed(0)} MB (goal < 10 s, < 500 MB): ${colOk ? 'MET' : 'NOT MET'}`);
    lines.push(`status with ${units} units: ${st.wallS.toFixed(2)} s (goal < 2 s): ${st.wallS < 2 ? 'MET' : 'NOT MET'}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    if (!existsSync(join(local, 'out', 'e2e', 'results.ndjson'))) throw new Error('collect wrote no results.ndjson');
  } finally {
    await Promise.allSettled([ch.stop(), sshd.stop(), pueue.stop()]);
    await tmp.remove();
  }
}
