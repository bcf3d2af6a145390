import { describe, expect, it } from 'vitest';
import { afterLabel, currentTask, parseLabel, tasksByLabel, unitLabel } from '../../src/pueue/labels.js';
import { describeState, isActive, parseStatus, PueueFormatError, type TaskView } from '../../src/pueue/status.js';

// Recorded from pueue 4.0.4 (`pueue status --json`), envs trimmed: one task of
// every kind, before and after a daemon restart (kill -9).
const RECORDED = {
  tasks: {
    '0': task(0, 'ok', { Done: { enqueued_at: 't0', start: 't1', end: 't2', result: 'Success' } }),
    '1': task(1, 'fail', { Done: { enqueued_at: 't0', start: 't1', end: 't2', result: { Failed: 3 } } }),
    '2': task(2, 'notfound', { Done: { enqueued_at: 't0', start: 't1', end: 't2', result: { Failed: 127 } } }),
    '3': task(3, 'dep', { Done: { enqueued_at: 't0', start: 't1', end: 't1', result: 'DependencyFailed' } }, [1]),
    '5': task(5, 'stashed', { Stashed: { enqueue_at: null } }),
    '6': task(6, 'run', { Running: { enqueued_at: 't0', start: 't1' } }, [], 'g2'),
    '7': task(7, 'queued', { Queued: { enqueued_at: 't0' } }, [], 'g2'),
    '8': task(8, 'kill', { Done: { enqueued_at: 't0', start: 't1', end: 't2', result: 'Killed' } }),
    '9': task(9, 'spawn', { Done: { enqueued_at: 't0', start: 't1', end: 't2', result: { FailedToSpawn: 'No such file or directory (os error 2)' } } }),
    '10': task(10, 'paused', { Paused: { enqueued_at: 't0', start: 't1' } }),
    '11': task(11, 'locked', { Locked: { previous_status: { Running: { enqueued_at: 't0', start: 't1' } } } }),
    '12': task(12, null, { Done: { enqueued_at: 't0', start: 't1', end: 't2', result: 'Errored' } }),
  },
  groups: { default: { status: 'Running', parallel_tasks: 1 }, g2: { status: 'Paused', parallel_tasks: 1 } },
};

function task(id: number, label: string | null, status: unknown, dependencies: number[] = [], group = 'default'): unknown {
  return {
    id,
    created_at: `2026-11-22T03:15:${String(10 + id).padStart(2, '0')}Z`,
    original_command: 'true',
    command: 'true',
    path: '/tmp',
    envs: { PATH: '/usr/bin' },
    group,
    dependencies,
    priority: 0,
    label,
    status,
  };
}

describe('parseStatus (pueue v4 object statuses)', () => {
  const view = parseStatus(RECORDED);
  const byLabel = (l: string | null): TaskView => {
    const t = view.tasks.find((x) => x.label === l);
    if (!t) throw new Error(`no task ${l}`);
    return t;
  };

  it('reads every status and result kind', () => {
    expect(view.tasks.map((t) => [t.label, describeState(t)])).toEqual([
      ['ok', 'Success'],
      ['fail', 'Failed(3)'],
      ['notfound', 'Failed(127)'],
      ['dep', 'DependencyFailed'],
      ['stashed', 'Stashed'],
      ['run', 'Running'],
      ['queued', 'Queued'],
      ['kill', 'Killed'],
      ['spawn', 'FailedToSpawn'],
      ['paused', 'Paused'],
      ['locked', 'Running (locked)'],
      [null, 'Errored'],
    ]);
    expect(byLabel('fail').result).toEqual({ kind: 'failed', code: 3 });
    expect(byLabel('spawn').result).toEqual({ kind: 'failed-to-spawn', message: 'No such file or directory (os error 2)' });
    expect(byLabel('dep').dependencies).toEqual([1]);
    expect(byLabel('run').start).toBe('t1');
    expect(byLabel('ok').end).toBe('t2');
  });

  it('sorts tasks by id numerically, not as the string keys pueue uses', () => {
    expect(view.tasks.map((t) => t.id)).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('treats a Locked task as its previous status, flagged', () => {
    const t = byLabel('locked');
    expect(t.state).toBe('running');
    expect(t.locked).toBe(true);
    expect(isActive(t)).toBe(true);
  });

  it('counts queued, stashed, running, paused and locked tasks as active, done ones as not', () => {
    const active = view.tasks.filter(isActive).map((t) => t.label);
    expect(active).toEqual(['stashed', 'run', 'queued', 'paused', 'locked']);
  });

  it('reads groups, including a Paused one after a daemon restart', () => {
    expect(view.groups).toEqual({ default: { status: 'Running', parallel: 1 }, g2: { status: 'Paused', parallel: 1 } });
  });

  it('refuses the pueue v3 string statuses instead of matching nothing', () => {
    const v3 = { tasks: { '0': { ...(task(0, 'x', 'Running') as object) } }, groups: {} };
    expect(() => parseStatus(v3)).toThrow(PueueFormatError);
    expect(() => parseStatus(v3)).toThrow(/pueue v3 format/);
  });

  it('names what it found for unknown shapes', () => {
    expect(() => parseStatus({ tasks: [], groups: {} })).toThrow(/"tasks" and "groups"/);
    expect(() => parseStatus({ tasks: { '0': task(0, 'x', { Sleeping: {} }) }, groups: {} })).toThrow(/unknown status "Sleeping"/);
    expect(() => parseStatus({ tasks: { '0': task(0, 'x', { Done: { result: { Exploded: 1 } } }) }, groups: {} })).toThrow(
      /unknown task result \{"Exploded":1\}/,
    );
    expect(() => parseStatus({ tasks: {}, groups: { g: { status: 'Sleeping', parallel_tasks: 1 } } })).toThrow(/group "g"/);
  });
});

describe('labels', () => {
  it('round-trips unit and after labels and ignores other sweeps', () => {
    expect(unitLabel('demo', 'symbol-A__t-1')).toBe('sweep:demo:symbol-A__t-1');
    expect(parseLabel('demo', 'sweep:demo:symbol-A__t-1')).toEqual({ kind: 'unit', unit: 'symbol-A__t-1' });
    expect(parseLabel('demo', afterLabel('demo', 'optimize'))).toEqual({ kind: 'after', step: 'optimize' });
    expect(parseLabel('demo', 'sweep:demo2:x')).toBeUndefined();
    expect(parseLabel('demo', 'sweep:dem:x')).toBeUndefined();
    expect(parseLabel('demo', null)).toBeUndefined();
    expect(parseLabel('demo', 'sweep:demo:')).toBeUndefined();
  });

  it('picks the active task for a label, else the newest by creation time (ids are reused)', () => {
    const mk = (id: number, createdAt: string, status: unknown): TaskView =>
      parseStatus({ tasks: { [id]: { ...(task(id, 'sweep:d:u', status) as object), created_at: createdAt } }, groups: {} }).tasks[0] as TaskView;
    const oldDone = mk(9, '2026-01-01T00:00:00Z', { Done: { enqueued_at: 'a', start: 'b', end: 'c', result: 'Killed' } });
    const newDone = mk(1, '2026-01-02T00:00:00Z', { Done: { enqueued_at: 'a', start: 'b', end: 'c', result: 'Success' } });
    const queued = mk(0, '2025-12-31T00:00:00Z', { Queued: { enqueued_at: 'a' } });
    expect(currentTask([oldDone, newDone])?.id).toBe(1);
    expect(currentTask([oldDone, queued, newDone])?.id).toBe(0);
    expect(currentTask([])).toBeUndefined();
    const grouped = tasksByLabel('d', [oldDone, newDone, queued]);
    expect([...grouped.units.keys()]).toEqual(['u']);
    expect(grouped.units.get('u')).toHaveLength(3);
  });
});
