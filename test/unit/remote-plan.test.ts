/**
 * submit-all's plan from one audit (pure), and the task commands it queues,
 * run through a real `sh -c` as pueue runs them.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStatus } from '../../src/pueue/status.js';
import type { UnitProbe } from '../../src/host/remote-side.js';
import { afterCommand, planSubmission, stateFileWarning, unitCommand } from '../../src/remote/submit.js';
import type { Spec } from '../../src/spec/schema.js';

const scratch = mkdtempSync(join(tmpdir(), 'sweep-plan-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let nextId = 0;
function task(label: string | null, status: unknown, opts: { group?: string; deps?: number[]; created?: string } = {}): [string, unknown] {
  const id = nextId++;
  return [String(id), { id, created_at: opts.created ?? `2026-01-01T00:00:${String(id).padStart(2, '0')}Z`, original_command: 'x', command: 'x', path: '/', envs: {}, group: opts.group ?? 'sweep-demo', dependencies: opts.deps ?? [], priority: 0, label, status }];
}
const done = (result: unknown) => ({ Done: { enqueued_at: 'a', start: 'b', end: 'c', result } });
const probe = (p: Partial<UnitProbe>): UnitProbe => ({ index: 'same', total: 10, ok: 0, skipped: 0, error: 0, remaining: 10, torn: false, bad: 0, bytes: 0, ...p });

const units = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((id) => ({ id, params: {}, configs: 10 }));
const spec = { after: [{ name: 'optimize', sql: 'OPTIMIZE TABLE t FINAL' }] } as unknown as Spec;

describe('planSubmission', () => {
  nextId = 0;
  const tasks = Object.fromEntries([
    task('sweep:demo:u1', { Running: { enqueued_at: 'a', start: 'b' } }), // 0 active
    task('sweep:demo:u2', { Queued: { enqueued_at: 'a' } }), // 1 active
    task('sweep:demo:u3', done('Killed')), // 2: incomplete -> queue
    task('sweep:demo:u4', done('Success')), // 3: complete -> skip
    task('sweep:demo:u5', done({ Failed: 1 })), // 4: errors -> queue
    task('sweep:demo:after:optimize', { Queued: { enqueued_at: 'a' } }, { deps: [0, 1, 3] }), // 5: to replace
    task('sweep:other:u1', done('Success'), { group: 'sweep-other' }), // 6: another sweep: never touched
    task(null, done('Success')), // 7: a foreign task in our group
  ]);
  const status = parseStatus({ tasks, groups: { 'sweep-demo': { status: 'Paused', parallel_tasks: 2 } } });
  const inspected = {
    units: {
      u1: probe({ ok: 3, remaining: 7 }),
      u2: probe({}),
      u3: probe({ ok: 4, remaining: 6 }),
      u4: probe({ ok: 9, skipped: 1, remaining: 0 }),
      u5: probe({ ok: 8, error: 2, remaining: 0 }),
      u6: probe({ index: 'missing', total: 0, remaining: 0 }),
    },
  };
  const plan = planSubmission({ name: 'demo', group: 'sweep-demo', units, spec }, status, inspected);

  it('skips units whose label has an active task, and complete units; queues the rest with a reason', () => {
    expect(plan.units.map((u) => [u.unit, u.action])).toEqual([
      ['u1', 'active'],
      ['u2', 'active'],
      ['u3', 'queue'],
      ['u4', 'complete'],
      ['u5', 'queue'],
      ['u6', 'queue'],
    ]);
    const byUnit = Object.fromEntries(plan.units.map((u) => [u.unit, u]));
    expect(byUnit['u3']).toMatchObject({ reason: '4/10 done', previous: 'Killed' });
    expect(byUnit['u5']).toMatchObject({ reason: '8/10 done, 2 error(s) to retry', previous: 'Failed(1)' });
    expect(byUnit['u6']).toMatchObject({ reason: 'not on the host yet' });
  });

  it("removes this sweep's finished tasks only, keeping those a waiting task depends on", () => {
    // 3 (u4, Success) is a dependency of the queued after step: pueue would refuse to remove it.
    expect(plan.removeIds.sort()).toEqual([2, 4]);
    expect(plan.foreignInGroup).toBe(1);
  });

  it('replaces a waiting after step and chains the new one after every active unit task', () => {
    expect(plan.after).toEqual([{ step: 'optimize', replaceIds: [5], waitIds: [0, 1] }]);
    expect(plan.forceAfter).toBe(false);
    expect(plan.resumeGroup).toBe(true);
  });

  it('queues an after step again when it failed itself, not when a unit failed before it', () => {
    nextId = 0;
    const s1 = parseStatus({ tasks: Object.fromEntries([task('sweep:demo:after:optimize', done({ Failed: 1 }))]), groups: {} });
    expect(planSubmission({ name: 'demo', group: 'sweep-demo', units: [], spec }, s1, { units: {} }).forceAfter).toBe(true);
    const s2 = parseStatus({ tasks: Object.fromEntries([task('sweep:demo:after:optimize', done('DependencyFailed'))]), groups: {} });
    expect(planSubmission({ name: 'demo', group: 'sweep-demo', units: [], spec }, s2, { units: {} }).forceAfter).toBe(false);
  });

  it('is idempotent: a unit with a queued task is never planned twice', () => {
    nextId = 0;
    const s = parseStatus({ tasks: Object.fromEntries([task('sweep:demo:u1', done('Killed'), { created: '2026-01-01T00:00:00Z' }), task('sweep:demo:u1', { Queued: { enqueued_at: 'a' } }, { created: '2025-01-01T00:00:00Z' })]), groups: {} });
    const p = planSubmission({ name: 'demo', group: 'sweep-demo', units: units.slice(0, 1), spec }, s, { units: { u1: probe({}) } });
    expect(p.units[0]?.action).toBe('active');
  });
});

describe('task commands (run by pueue with sh -c)', () => {
  // A fake node that prints its argv and the password it was given, one per line.
  const bin = join(scratch, 'bin dir $(touch pwned)');
  mkdirSync(bin, { recursive: true });
  const fakeNode = join(bin, "no'de");
  writeFileSync(fakeNode, '#!/bin/sh\nfor a in "$@"; do printf "arg:%s\\n" "$a"; done\nprintf "pw:%s\\n" "$CLICKHOUSE_PASSWORD"\n');
  chmodSync(fakeNode, 0o755);
  const sweepDir = join(scratch, `remote dir 'q' "dq" $(touch pwned); x`);
  mkdirSync(join(sweepDir, '.sweep'), { recursive: true });

  it('runs the worker with exactly its arguments, whatever the paths hold, and reads the password from the private file', () => {
    const password = `p'w"$(touch pwned) ;\\x`;
    writeFileSync(join(sweepDir, '.sweep', 'clickhouse_password'), `${password}\n`, { mode: 0o600 });
    const cmd = unitCommand({ node: fakeNode, sweepDir, unit: 'sym-A__n-1', url: 'http://h:8123/?a=1&b=2' });
    expect(cmd).not.toContain(password);
    const out = execFileSync('sh', ['-c', cmd], { cwd: scratch, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(out.split('\n')).toEqual([
      `arg:${join(sweepDir, 'worker.mjs')}`,
      'arg:run-unit',
      'arg:--dir',
      `arg:${sweepDir}`,
      'arg:--unit',
      'arg:sym-A__n-1',
      'arg:--clickhouse-url',
      'arg:http://h:8123/?a=1&b=2',
      `pw:${password}`,
      '',
    ]);
    expect(readdirSync(scratch).filter((f) => f === 'pwned')).toEqual([]);
  });

  it('runs without a password when no file was stored', () => {
    rmSync(join(sweepDir, '.sweep', 'clickhouse_password'), { force: true });
    const out = execFileSync('sh', ['-c', afterCommand({ node: fakeNode, sweepDir, step: 'optimize', url: 'http://h:8123', user: 'u', database: 'd b', timeoutS: 60 })], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(out).toContain('arg:d b\n');
    expect(out).toContain(`arg:${join(sweepDir, '.sweep', 'after', 'optimize.sql')}\n`);
    expect(out.endsWith('pw:\n')).toBe(true);
  });

  it('wraps the worker in systemd-run with a memory cap when asked', () => {
    const cmd = unitCommand({ node: '/usr/bin/node', sweepDir: '/s', unit: 'u', url: 'http://h', memoryMax: '8G' });
    expect(cmd).toMatch(/exec systemd-run --user --scope --quiet -p MemoryMax=8G -p MemorySwapMax=0 -- \/usr\/bin\/node /);
  });
});

describe('stateFileWarning', () => {
  it('warns past 50 MB, naming the file and the size, and not below', () => {
    expect(stateFileWarning({ path: '/p/state.json', bytes: 50 * 1024 * 1024 })).toBeUndefined();
    expect(stateFileWarning({ path: '/p/state.json', bytes: 94 * 1024 * 1024 })).toMatch(/^pueue's state file \/p\/state\.json is 94 MB: every pueue add rewrites it whole/);
    expect(stateFileWarning({ path: null, why: 'no state.json' })).toBeUndefined();
  });
});
