import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStatus } from '../../src/pueue/status.js';
import { findStateFile, pueueErrorText, type UnitProbe } from '../../src/host/remote-side.js';
import { buildReport, type HostSnapshot } from '../../src/remote/status.js';
import type { StatusView } from '../../src/pueue/status.js';
import type { Spec } from '../../src/spec/schema.js';

const scratch = mkdtempSync(join(tmpdir(), 'sweep-status-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const probe = (p: Partial<UnitProbe>): UnitProbe => ({ index: 'same', total: 10, ok: 0, skipped: 0, error: 0, remaining: 10, torn: false, bad: 0, bytes: 0, ...p });
const task = (id: number, label: string, status: unknown) => ({
  id,
  created_at: `2026-01-01T00:00:0${id}Z`,
  original_command: 'x',
  command: 'x',
  path: '/',
  envs: {},
  group: 'sweep-demo',
  dependencies: [],
  priority: 0,
  label,
  status,
});
const ctx = {
  name: 'demo',
  group: 'sweep-demo',
  hosts: [{ host: 'local', sweepDir: '/r/demo', parallel: 1 }],
  units: ['u1', 'u2', 'u3', 'u4'].map((id) => ({ id, params: {}, configs: 10 })),
  spec: { after: [{ name: 'opt', sql: 'x' }] } as unknown as Spec,
};
const onLocal = new Map(ctx.units.map((u) => [u.id, 'local']));
const snap = (host: string, status: StatusView | null, inspected: HostSnapshot['inspected'], more: Partial<HostSnapshot> = {}): HostSnapshot => ({
  host,
  dir: `/r/${host}/demo`,
  reachable: status !== null,
  why: status === null ? 'ssh could not connect (exit 255)' : null,
  cores: 2,
  target: `http://127.0.0.1:8123/default@${host}`,
  inspected,
  status,
  details: null,
  ...more,
});
const inspected = (units: Record<string, UnitProbe>, now = '2026-01-01T00:01:00Z'): HostSnapshot['inspected'] => ({ now, dirExists: true, units, autoscale: null });

describe('buildReport (one status snapshot per host)', () => {
  it('after a daemon restart: says the group is paused, which units were killed, and what to run', () => {
    const status = parseStatus({
      tasks: {
        '0': task(0, 'sweep:demo:u1', { Done: { enqueued_at: 'a', start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:00:10Z', result: 'Success' } }),
        '1': task(1, 'sweep:demo:u2', { Done: { enqueued_at: 'a', start: '2026-01-01T00:00:10Z', end: '2026-01-01T00:00:12Z', result: 'Killed' } }),
        '2': task(2, 'sweep:demo:u3', { Queued: { enqueued_at: 'a' } }),
        '3': task(3, 'sweep:demo:u4', { Queued: { enqueued_at: 'a' } }),
        '4': task(4, 'sweep:demo:after:opt', { Done: { enqueued_at: 'a', start: 'b', end: 'c', result: 'DependencyFailed' } }),
      },
      groups: { 'sweep-demo': { status: 'Paused', parallel_tasks: 1 } },
    });
    const r = buildReport(ctx, onLocal, [
      snap('local', status, inspected({ u1: probe({ ok: 10, remaining: 0 }), u2: probe({ ok: 4, remaining: 6 }), u3: probe({}), u4: probe({ index: 'missing', total: 0, remaining: 0 }) })),
    ]);
    expect(r.totals).toMatchObject({ configs: 40, ok: 14, remaining: 26, units_complete: 1, killed: 1, queued: 2, running: 0, failed: 0, unreachable: 0 });
    expect(r.units[1]).toMatchObject({ unit: 'u2', host: 'local', task: { state: 'Killed', failed: true }, elapsed_s: 2 });
    expect(r.units[1]?.task?.explain).toMatch(/daemon restarted/);
    expect(r.idle).toBe(false);
    expect(r.complete).toBe(false);
    expect(r.progress).toBeCloseTo(14 / 40);
    expect(r.hosts[0]).toMatchObject({ host: 'local', reachable: true, group_state: { exists: true, status: 'Paused', parallel: 1 }, counts: { done: 1, queued: 2 } });
    expect(r.notes[0]).toMatch(/^pueue group sweep-demo is PAUSED with 2 unit\(s\) waiting: nothing in it will start\. 1 unit\(s\) were Killed, as when the pueue daemon restarts .* Run 'sweep submit-all' to resume/);
    expect(r.notes.join('\n')).toMatch(/after step opt: DependencyFailed \(not run: a task it waits for/);
  });

  it('is complete and idle when every config is done and no task waits, whatever the pueue ids', () => {
    const status = parseStatus({ tasks: {}, groups: {} });
    const done = probe({ ok: 7, skipped: 3, remaining: 0 });
    const r = buildReport(ctx, onLocal, [snap('local', status, inspected({ u1: done, u2: done, u3: done, u4: done }, '2026-01-01T00:00:00Z'))]);
    expect(r).toMatchObject({ idle: true, complete: true, progress: 1 });
    expect(r.notes.at(-1)).toMatch(/complete: every config has an ok or skipped record/);
  });

  it('says when nothing was submitted yet', () => {
    const r = buildReport(ctx, onLocal, [snap('local', parseStatus({ tasks: {}, groups: {} }), { now: '2026-01-01T00:00:00Z', dirExists: false, units: {}, autoscale: null })]);
    expect(r.notes).toEqual([`not submitted: /r/demo does not exist on local; run 'sweep submit-all' first`]);
  });

  it('two hosts, one down: each unit on its host, the down host in its own row with why, its units unknown, never idle; one rate and ETA over both', () => {
    const two = { ...ctx, hosts: [{ host: 'big', sweepDir: '/r/big/demo', parallel: 2 }, { host: 'little', sweepDir: '/r/little/demo', parallel: 1 }] };
    const placement = new Map([['u1', 'big'], ['u2', 'big'], ['u3', 'little'], ['u4', 'big']]);
    const status = parseStatus({
      tasks: {
        '0': task(0, 'sweep:demo:u1', { Running: { enqueued_at: 'a', start: '2026-01-01T00:00:50Z' } }),
        '1': task(1, 'sweep:demo:u2', { Done: { enqueued_at: 'a', start: '2026-01-01T00:00:10Z', end: '2026-01-01T00:00:12Z', result: 'Success' } }),
        '2': task(2, 'sweep:demo:u4', { Queued: { enqueued_at: 'a' } }),
      },
      groups: { 'sweep-demo': { status: 'Running', parallel_tasks: 2 } },
    });
    const big = snap('big', status, inspected({ u1: probe({ ok: 2, remaining: 8 }), u2: probe({ ok: 10, remaining: 0 }), u4: probe({}) }), { details: { logs: {}, rates: { u1: 4 } } });
    const little = snap('little', null, null);
    const r = buildReport(two, placement, [big, little]);
    expect(r.units.map((u) => [u.unit, u.host, u.reachable])).toEqual([
      ['u1', 'big', true],
      ['u2', 'big', true],
      ['u3', 'little', false],
      ['u4', 'big', true],
    ]);
    expect(r.hosts.map((h) => [h.host, h.reachable, h.units])).toEqual([
      ['big', true, 3],
      ['little', false, 1],
    ]);
    expect(r.hosts[1]?.why).toMatch(/ssh could not connect/);
    expect(r.hosts[0]).toMatchObject({ configs_per_s: 4, counts: { running: 1, done: 1, queued: 1 }, group_state: { parallel: 2 } });
    expect(r.totals).toMatchObject({ configs: 40, ok: 12, running: 1, queued: 1, unreachable: 1 });
    expect(r.rate).toBe(4);
    expect(r.eta_s).toBe(28 / 4);
    expect(r.idle).toBe(false);
    expect(r.complete).toBe(false);
    expect(r.notes[0]).toMatch(/^host little is unreachable \(ssh could not connect \(exit 255\)\): its 1 unit\(s\) are not counted\..*--rebalance' moves its unfinished units/);
  });
});

describe('findStateFile', () => {
  it("reads pueue_directory from the config (quoted or plain, ~ expanded) and falls back to pueue's default", () => {
    const data = join(scratch, 'data dir');
    mkdirSync(data);
    writeFileSync(join(data, 'state.json'), 'x'.repeat(1234));
    const cfg = join(scratch, 'pueue.yml');
    writeFileSync(cfg, `shared:\n  pueue_directory: ${JSON.stringify(data)}\n  use_unix_socket: true\n`);
    expect(findStateFile(cfg, { HOME: scratch })).toEqual({ path: join(data, 'state.json'), bytes: 1234 });

    writeFileSync(cfg, `shared:\n  pueue_directory: ~/data dir\n`);
    expect(findStateFile(cfg, { HOME: scratch })).toEqual({ path: join(data, 'state.json'), bytes: 1234 });

    const home = join(scratch, 'home');
    mkdirSync(join(home, '.local', 'share', 'pueue'), { recursive: true });
    writeFileSync(join(home, '.local', 'share', 'pueue', 'state.json'), '{}');
    expect(findStateFile(null, { HOME: home })).toEqual({ path: join(home, '.local', 'share', 'pueue', 'state.json'), bytes: 2 });
    expect(findStateFile(join(scratch, 'missing.yml'), { HOME: join(scratch, 'nobody') })).toMatchObject({ path: null });
  });
});

describe('pueueErrorText', () => {
  it("turns pueue's color-eyre report into one line of causes", () => {
    // Recorded from pueue 4.0.4: `pueue add -w /nonexistent/dir -- true`
    const report =
      'Error: \n   0: \x1b[91mFailed to canonicalize given working directory path\x1b[0m\n   1: \x1b[91mNo such file or directory (os error 2)\x1b[0m\n\nLocation:\n   \x1b[35m/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/pueue-4.0.4/src/client/commands/add.rs\x1b[0m:\x1b[35m42\x1b[0m\n\nBacktrace omitted. Run with RUST_BACKTRACE=1 environment variable to display it.\nRun with RUST_BACKTRACE=full to include source snippets.\n';
    expect(pueueErrorText(report)).toBe('Failed to canonicalize given working directory path; No such file or directory (os error 2)');
    expect(pueueErrorText('Group "g2" already exists\n')).toBe('Group "g2" already exists');
  });
});
