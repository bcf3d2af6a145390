/**
 * The autoscale controller for real: submit-all queues it as a pueue task in a
 * group of its own on the host; it lives exactly as long as the sweep's units
 * there; a CPU burner started by the test raises the load above the threshold
 * and the group's parallelism goes down, then up again when the burner stops;
 * `sweep stop` ends it. The decisions it recorded are printed.
 *
 * This machine has 2 cores and runs other test files (and other work) at the
 * same time, so the host is rarely below the seeds' 40 %: the test measures
 * the run queue before it starts and sets the thresholds above that baseline
 * (remote.autoscale.cpu_high / cpu_low, which any user may set); the rule, the
 * controller and its measure are the production ones.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AutoscaleDecision } from '../../src/autoscale/rule.js';
import type { StatusReport } from '../../src/remote/status.js';
import type { StopReport } from '../../src/remote/stop.js';
import type { SubmitReport } from '../../src/remote/submit.js';
import { lacks } from '../harness/components.js';
import { startRemoteEnv, waitFor, writeSweep, type RemoteEnv, type Sweep } from './remote-fixture.js';

const chUrl = inject('clickhouseUrl');
const CORES = Math.max(1, cpus().length);
const BURNERS = 4 * CORES;

/** The mean run queue (runnable tasks but this one) over `ms`, as the controller measures it. */
async function runQueue(ms: number): Promise<number> {
  let sum = 0;
  let n = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const r = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3]?.split('/')[0]);
    if (Number.isFinite(r)) {
      sum += Math.max(0, r - 1);
      n++;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return n > 0 ? sum / n : 0;
}

function decisions(s: Sweep): AutoscaleDecision[] {
  const path = join(s.sweepDir, 'logs', 'autoscale.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AutoscaleDecision);
}

/** Rewrite the spec's remote block (the fixture writes JSON). */
function setRemote(s: Sweep, extra: Record<string, unknown>): void {
  const spec = JSON.parse(readFileSync(s.specPath, 'utf8')) as { remote: Record<string, unknown> };
  Object.assign(spec.remote, extra);
  writeFileSync(s.specPath, JSON.stringify(spec, null, 2));
}

describe.skipIf(lacks('clickhouse', 'sshd', 'pueue'))('autoscale controller, end to end', () => {
  let env: RemoteEnv;
  const burners: ChildProcess[] = [];
  const stopBurners = (): void => {
    for (const b of burners.splice(0)) b.kill('SIGKILL');
  };
  beforeAll(async () => {
    env = await startRemoteEnv(chUrl);
  });
  afterAll(async () => {
    stopBurners();
    await env?.stop();
  });

  it('lives exactly as long as the units: it exits on its own when none is queued or running; status shows its last decision', async () => {
    const s = writeSweep(env, { name: 'asl', template: 'SELECT {u:UInt8} AS u, {k:UInt8} AS k, sleep(0.3) AS z\n', params: { u: [1, 2, 3], k: [1, 2] }, unit: ['u'], concurrency: 1 });
    setRemote(s, { parallel: { min: 1, max: 2 }, autoscale: { interval_s: 0.5, cpu_high: 99, cpu_low: 98 } });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const { doc: sub } = await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 });
    expect(sub.hosts[0]?.parallel).toMatchObject({ auto: true, min: 1, max: 2, start: 1 });
    expect(sub.hosts[0]?.autoscale).toMatchObject({ state: 'queued' });
    const st0 = await env.pueue.status();
    const controller = Object.values(st0.tasks).find((t) => t.label === 'sweep:asl:control:autoscale');
    expect(controller?.group).toBe('sweep-asl-autoscale');
    expect(st0.groups['sweep-asl']?.parallel_tasks).toBe(1);

    await env.pueue.waitForGroupIdle(s.group, 90_000);
    await env.pueue.waitForGroupIdle('sweep-asl-autoscale', 30_000);
    const st = await env.pueue.status();
    expect(Object.values(st.tasks).find((t) => t.label === 'sweep:asl:control:autoscale')?.status).toMatchObject({ Done: { result: 'Success' } });
    const log = decisions(s);
    expect(log[0]).toMatchObject({ action: 'start' });
    // Room on every tick (thresholds far above the load): up to max, then it holds there.
    expect(log.some((d) => d.action === 'up' && d.old === 1 && d.new === 2)).toBe(true);
    expect(log.at(-1)).toMatchObject({ action: 'exit', reason: expect.stringMatching(/no unit of the sweep is queued or running here/) });
    // Its inputs are recorded: the run queue it used, load1 and busy beside it, memory, the largest unit so far.
    const tick = log.find((d) => d.action === 'up');
    expect(tick).toMatchObject({ cores: CORES, cpu: expect.any(Number), load1_per_core: expect.any(Number), mem_host: expect.any(Number), available_bytes: expect.any(Number) });
    expect(log.some((d) => typeof d.unit_peak_bytes === 'number' && d.unit_peak_bytes > 10 * 1024 * 1024)).toBe(true);

    const status = await s.json<StatusReport>(['status', 'sweep.yaml'], { expectCode: 0 });
    expect(status.doc.hosts[0]?.autoscale).toMatchObject({ min: 1, max: 2, controller: 'Success', last: { action: 'exit' } });
    const text = await s.run(['status', 'sweep.yaml']);
    expect(text.stdout).toMatch(/\| parallel 2 \(auto 1-2, controller Success; last: exit\)/);
  }, 180_000);

  it('a CPU burner raises the load above the threshold: parallelism goes down; it stops: parallelism goes up again; sweep stop ends the controller', async () => {
    const s = writeSweep(env, {
      name: 'asb',
      // Long units that cost the host nothing: the burner is the load.
      template: 'SELECT {u:UInt8} AS u, {k:UInt8} AS k, sleep(0.5) AS z\n',
      params: { u: Array.from({ length: 12 }, (_, i) => i + 1), k: Array.from({ length: 80 }, (_, i) => i) },
      unit: ['u'],
      concurrency: 1,
    });
    const base = await runQueue(5_000);
    // Down above the baseline plus three quarters of the burners; up below the baseline plus a margin for the noise of
    // the other test files (the run queue over 1 s swings by a few tasks here). Each needs one interval to happen.
    const cpuHigh = (base + (BURNERS * 3) / 4) / CORES;
    const cpuLow = (base + Math.max(3, BURNERS / 3)) / CORES;
    setRemote(s, { parallel: { min: 1, max: 4 }, autoscale: { interval_s: 1, cpu_high: round(cpuHigh), cpu_low: round(cpuLow) } });
    console.log(`autoscale test: ${CORES} cores, run queue before the test ${base.toFixed(2)}, ${BURNERS} burners; cpu_high ${round(cpuHigh)}, cpu_low ${round(cpuLow)} (fractions of the cores)`);
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    expect((await s.json<SubmitReport>(['submit-all', 'sweep.yaml'], { expectCode: 0 })).doc.queued).toHaveLength(12);
    const parallel = async (): Promise<number> => (await env.pueue.status()).groups[s.group]?.parallel_tasks ?? -1;

    // Quiet: it raises the group from min.
    await waitFor('a first step up', () => decisions(s).some((d) => d.action === 'up'), 120_000);
    await waitFor('parallelism above 2', async () => (await parallel()) >= 3, 120_000);
    const before = await parallel();

    // The burner: the run queue climbs far above cpu_high; the controller steps down.
    const burnAt = new Date().toISOString();
    for (let i = 0; i < BURNERS; i++) burners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    await waitFor('a step down under the burner', () => decisions(s).some((d) => d.at > burnAt && d.action === 'down'), 90_000);
    await waitFor('parallelism below where it was', async () => (await parallel()) < before, 30_000);
    const low = await parallel();
    stopBurners();

    // The burner stopped: room again, and units are queued: it steps up.
    const quietAt = new Date().toISOString();
    await waitFor('a step up after the burner', () => decisions(s).some((d) => d.at > quietAt && d.action === 'up'), 180_000);
    await waitFor('parallelism above its low', async () => (await parallel()) > low, 30_000);

    const status = await s.json<StatusReport>(['status', 'sweep.yaml'], { expectCode: 1 });
    expect(status.doc.hosts[0]?.autoscale).toMatchObject({ min: 1, max: 4, controller: 'Running' });
    expect(status.doc.hosts[0]?.autoscale?.last).not.toBeNull();

    const { doc: stop } = await s.json<StopReport>(['stop', 'sweep.yaml', '--grace', '10'], { expectCode: 0 });
    expect(stop.signalled.map((t) => t.label)).toContain('sweep:asb:control:autoscale');
    await waitFor('the controller to record its end', () => decisions(s).at(-1)?.action === 'exit', 20_000);
    expect(decisions(s).at(-1)?.reason).toBe('stopped (SIGTERM)');

    const log = decisions(s);
    const changes = log.filter((d) => d.action !== 'hold');
    console.log(
      `autoscale decisions (${log.length} recorded, ${log.filter((d) => d.action === 'hold').length} holds not shown):\n` +
        changes
          .map((d) => `  ${d.at} ${d.action.padEnd(5)} ${d.old} -> ${d.new}  cpu ${d.cpu ?? '-'} (load1/core ${d.load1_per_core ?? '-'}, busy ${d.cpu_busy ?? '-'}) mem ${d.mem ?? '-'} queued ${d.queued}: ${d.reason}`)
          .join('\n'),
    );
    const down = log.find((d) => d.at > burnAt && d.action === 'down');
    expect(down?.cpu).toBeGreaterThan(cpuHigh);
    const up = log.find((d) => d.at > quietAt && d.action === 'up');
    expect(up?.cpu).toBeLessThan(cpuLow);
  }, 480_000);
});

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
