/**
 * `npm run bench -- submit [--units N]`: `sweep submit-all` of N units (default
 * 1,000, one config each) through the test harness's private sshd to an
 * isolated pueue daemon, next to the bare `pueue add` time measured in the
 * same run on an equally fresh daemon.
 *
 * Prints: ssh connections opened (counted by the sshd's own log, and by
 * sweep), total time with its phases, time per unit, and the bare add time.
 * The connection count must not depend on N (one session + one rsync).
 *
 * ClickHouse is a stand-in HTTP server: it answers the preflight probe and
 * holds every later request open, so the one worker pueue starts waits
 * quietly instead of competing for the CPU being measured.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '../src/generate/generate.js';
import { taskEnv } from '../src/host/remote-side.js';
import type { SubmitReport } from '../src/remote/submit.js';
import { locatePueue, startPueue, type PueueHandle } from '../test/harness/pueue.js';
import { startSshd } from '../test/harness/sshd.js';
import { makeTempDir } from '../test/harness/tmp.js';
import { flagNumber } from './bench-common.js';

const distRoot = resolve(fileURLToPath(import.meta.url), '..', '..');
const CLI = join(distRoot, 'src', 'cli', 'bin.js');

export async function run(args: string[]): Promise<void> {
  const units = flagNumber(args, '--units', 1000);
  const tmp = makeTempDir('bench');
  const sshd = await startSshd();
  const daemons: PueueHandle[] = [];
  const ch = await fakeClickHouse();
  try {
    const [bareDaemon, sweepDaemon, bareDaemon2] = await Promise.all([startPueue(), startPueue(), startPueue()]);
    daemons.push(bareDaemon, sweepDaemon, bareDaemon2);

    // ---- the sweep: N units of one config each
    const local = join(tmp.path, 'local');
    const remote = join(tmp.path, 'remote');
    mkdirSync(local);
    mkdirSync(remote);
    writeFileSync(join(local, 'q.sql'), 'SELECT {u:UInt32} AS u\n');
    const spec = {
      name: 'bench',
      template: 'q.sql',
      params: { u: Array.from({ length: units }, (_, i) => i) },
      unit: ['u'],
      clickhouse: { url: ch.url },
      remote: { host: sshd.host, dir: remote, parallel: 1, ssh_config: sshd.sshConfigPath, pueue_config: sweepDaemon.configPath },
    };
    writeFileSync(join(local, 'sweep.yaml'), JSON.stringify(spec, null, 2));
    await generate({ specPath: 'sweep.yaml', cwd: local });

    // ---- baseline: bare `pueue add`, one process per add as submit-all does it, into a fresh daemon,
    // once before and once after submit-all (the machine's load drifts; both are printed)
    const pueueBin = locatePueue().pueue;
    const command = `if [ -r '${remote}/bench/.sweep/clickhouse_password' ]; then :; fi; exec /usr/bin/node ${remote}/bench/worker.mjs run-unit --dir ${remote}/bench --unit u-XXXX --clickhouse-url ${ch.url}`;
    const bareAdds = async (d: PueueHandle, group: string): Promise<number[]> => {
      // The same small environment submit-all gives its tasks (it lands in the state file, whose size sets the add cost).
      const env = taskEnv(process.execPath, pueueBin, false, { HOME: d.dir });
      // As in the sweep's group: parallel 1, one task running, every add queued behind it.
      await execFileP(pueueBin, ['-c', d.configPath, 'group', 'add', group, '-p', '1'], env);
      await execFileP(pueueBin, ['-c', d.configPath, 'add', '-g', group, '-l', 'blocker', '--', 'sleep 3600'], env);
      const times: number[] = [];
      for (let i = 0; i < units; i++) {
        const t0 = performance.now();
        await execFileP(pueueBin, ['-c', d.configPath, 'add', '-g', group, '-l', `sweep:bench:u-${i}`, '-w', local, '-p', '--', command], env);
        times.push(performance.now() - t0);
      }
      return times;
    };
    const bareBefore = await bareAdds(bareDaemon, 'before');

    // ---- submit-all through ssh
    const loginsBefore = acceptedLogins(await sshd.readLog());
    const t0 = performance.now();
    const out = await runCli(['submit-all', 'sweep.yaml', '--json'], local);
    const wallMs = performance.now() - t0;
    const report = JSON.parse(out) as SubmitReport;
    const logins = acceptedLogins(await sshd.readLog()) - loginsBefore;
    if (report.queued.length !== units) throw new Error(`expected ${units} units queued, found ${report.queued.length}`);

    // ---- and again: nothing to queue
    const r0 = performance.now();
    const again = JSON.parse(await runCli(['submit-all', 'sweep.yaml', '--json'], local)) as SubmitReport;
    const againMs = performance.now() - r0;
    const againLogins = acceptedLogins(await sshd.readLog()) - loginsBefore - logins;

    const bareAfter = await bareAdds(bareDaemon2, 'after');
    const bareMs = [...bareBefore, ...bareAfter];
    const host = report.hosts[0];
    if (!host) throw new Error('submit-all reported no host');
    const add = host.timings.add_ms;
    const perUnit = host.timings.queue_ms / units;
    const lines = [
      `submit-all: ${units} units (1 config each) -> ${sshd.host} (private sshd), isolated pueue ${sweepDaemon.version}`,
      `  ssh connections opened: ${logins} (sshd log); sweep counted ${report.connections} (1 session + 1 rsync), independent of the number of units`,
      `  total: ${s(wallMs)} wall (CLI process), ${s(report.timings.total_ms)} in submit-all: preflight+audit ${s(report.timings.audit_ms)}, rsync ${s(host.timings.sync_ms)} (${host.sync?.files ?? 0} files), queue ${s(host.timings.queue_ms)}`,
      `  per unit: ${ms(perUnit)} (queue step / units; whole command: ${ms(report.timings.total_ms / units)}); each pueue add inside submit-all: median ${ms(median(add))}, mean ${ms(mean(add))}`,
      `  bare pueue add, same run, ${units} adds queued into a fresh daemon, before / after submit-all: median ${ms(median(bareBefore))} / ${ms(median(bareAfter))}, mean ${ms(mean(bareBefore))} / ${ms(mean(bareAfter))}`,
      `  ratio, time per unit in submit-all / mean bare add: ${(perUnit / mean(bareMs)).toFixed(2)}x`,
      `  submit-all again (nothing to queue: ${again.queued.length} queued, ${again.plan.active.length + again.plan.complete.length} skipped): ${s(againMs)}, ${againLogins} ssh connection(s)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    ch.close();
    for (const d of daemons) await d.stop().catch(() => undefined);
    await sshd.stop();
    await tmp.remove();
  }
}

function acceptedLogins(log: string): number {
  return log.split('\n').filter((l) => l.startsWith('Accepted publickey')).length;
}

function runCli(args: string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(stdout) : reject(new Error(`sweep ${args.join(' ')} exited ${code}:\n${stderr}`))));
  });
}

function execFileP(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { env, timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.slice(0, 4).join(' ')}: ${stderr || err.message}`)) : resolvePromise(stdout)));
  });
}

/** Answers the preflight's SELECT version(); holds every other request open until close(). */
async function fakeClickHouse(): Promise<{ url: string; close: () => void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && url.searchParams.get('query') === 'SELECT version()' && !/clickhouse-js/i.test(req.headers['user-agent'] ?? '')) {
      res.end('bench-stand-in\n');
    }
    // anything else: never answered
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function s(msv: number): string {
  return `${(msv / 1000).toFixed(2)} s`;
}
function ms(v: number): string {
  return `${v.toFixed(1)} ms`;
}
