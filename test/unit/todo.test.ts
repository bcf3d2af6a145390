import { describe, expect, it } from 'vitest';
import type { RecordHead } from '../../src/results/ndjson.js';
import { latestByConfig, planTodo, type PlanOptions, type RerunMode, type UnitConfig } from '../../src/worker/todo.js';

const sha = (n: number): string => String(n).repeat(64).slice(0, 64);
const cfg = (id: string, s = 1): UnitConfig => ({ id, params: {}, sql_sha256: sha(s) });
let off = 0;
const T = 'http://127.0.0.1:8123/default';
const head = (config: string, status: RecordHead['status'], s = 1, target: string | null = T, setup: string | null = null): RecordHead => ({
  config,
  status,
  sql_sha256: sha(s),
  target,
  setup,
  offset: (off += 100),
  length: 100,
});
const opts = (rerun: RerunMode = 'errors', extra: Partial<PlanOptions> = {}): PlanOptions => ({ target: T, setup: null, rerun, ...extra });

describe('planTodo (skip-done by linear merge)', () => {
  it('runs configs without a record, skips ok and skipped, retries errors', () => {
    const configs = ['a', 'b', 'c', 'd', 'e'].map((id) => cfg(id));
    const heads = [head('d', 'ok'), head('b', 'skipped'), head('c', 'error')];
    const plan = planTodo(configs, heads, opts());
    expect(plan.todo.map((c) => c.id)).toEqual(['a', 'c', 'e']);
    expect(plan.done).toEqual({ ok: 1, skipped: 1, error: 0 });
    expect(plan.rerun).toEqual({ error: 1, changed: 0, target: 0, setup: 0, requested: 0 });
    expect(plan.drop).toEqual([heads[2]?.offset]);
  });

  it('keeps errors with retryErrors false', () => {
    const plan = planTodo([cfg('a'), cfg('b')], [head('a', 'error')], opts('none'));
    expect(plan.todo.map((c) => c.id)).toEqual(['b']);
    expect(plan.done.error).toBe(1);
    expect(plan.drop).toEqual([]);
  });

  it('reruns a config whose SQL changed since its record, whatever the status', () => {
    const h = head('a', 'ok', 1);
    const plan = planTodo([cfg('a', 2), cfg('b', 1)], [h, head('b', 'ok', 1)], opts('none'));
    expect(plan.todo.map((c) => c.id)).toEqual(['a']);
    expect(plan.rerun.changed).toBe(1);
    expect(plan.drop).toEqual([h.offset]);
  });

  it('lets the latest record win and marks older duplicates for dropping', () => {
    const first = head('a', 'error');
    const second = head('a', 'ok');
    const plan = planTodo([cfg('a')], [first, second], opts());
    expect(plan.todo).toEqual([]);
    expect(plan.done.ok).toBe(1);
    expect(plan.drop).toEqual([first.offset]);
    const back = planTodo([cfg('a')], [head('a', 'ok'), head('a', 'error')], opts());
    expect(back.todo.map((c) => c.id)).toEqual(['a']);
    expect(back.drop).toHaveLength(2);
  });

  it('runs again what was written for another target or setup generation, or by sweep 0.1 (no target), and says why', () => {
    const configs = ['a', 'b', 'c', 'd', 'e'].map((id) => cfg(id));
    const heads = [
      head('a', 'ok', 1, 'embedded:/x/.chdb@h'),
      head('b', 'ok', 1, T, 'gen-1'),
      head('c', 'skipped', 1, null),
      head('d', 'ok', 1, T, 'gen-2'),
      head('e', 'error', 1, T, 'gen-2'),
    ];
    const plan = planTodo(configs, heads, opts('errors', { setup: 'gen-2' }));
    expect(plan.todo.map((c) => c.id)).toEqual(['a', 'b', 'c', 'e']);
    expect(plan.rerun).toEqual({ error: 1, changed: 0, target: 2, setup: 1, requested: 0 });
    expect(plan.done).toEqual({ ok: 1, skipped: 0, error: 0 });
    // Every record that runs again is moved aside; the one that stands is kept.
    expect(plan.drop.sort()).toEqual([heads[0], heads[1], heads[2], heads[4]].map((h) => h?.offset).sort());
  });

  it('--rerun skipped|all runs done configs again; --only leaves the others untouched', () => {
    const configs = ['a', 'b', 'c'].map((id) => ({ ...cfg(id), params: { k: id } }));
    const heads = [head('a', 'ok'), head('b', 'skipped'), head('c', 'error')];
    expect(planTodo(configs, heads, opts('skipped')).todo.map((c) => c.id)).toEqual(['b', 'c']);
    expect(planTodo(configs, heads, opts('all')).todo.map((c) => c.id)).toEqual(['a', 'b', 'c']);
    expect(planTodo(configs, heads, opts('all')).rerun).toEqual({ error: 1, changed: 0, target: 0, setup: 0, requested: 2 });
    const only = planTodo(configs, heads, opts('all', { selected: (c) => c.params['k'] === 'b' }));
    expect(only.todo.map((c) => c.id)).toEqual(['b']);
    expect(only.drop).toEqual([heads[1]?.offset]);
    expect(only.done).toEqual({ ok: 1, skipped: 0, error: 1 });
  });

  it('counts records of configs that left the unit as orphans, at any position', () => {
    const plan = planTodo([cfg('b'), cfg('d')], [head('a', 'ok'), head('c', 'ok'), head('d', 'ok'), head('e', 'ok')], opts());
    expect(plan.orphans).toBe(3);
    expect(plan.todo.map((c) => c.id)).toEqual(['b']);
    expect(plan.done.ok).toBe(1);
  });

  it('agrees with a set-based reference on random inputs', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 50; round++) {
      const ids = [...new Set(Array.from({ length: 60 }, () => `id${String(rand(100)).padStart(3, '0')}`))].sort();
      const configs = ids.map((id) => cfg(id, rand(2) + 1));
      const heads: RecordHead[] = Array.from({ length: rand(80) }, () =>
        head(`id${String(rand(100)).padStart(3, '0')}`, (['ok', 'skipped', 'error'] as const)[rand(3)] ?? 'ok', rand(2) + 1),
      );
      const retryErrors = rand(2) === 0;
      const latest = new Map<string, RecordHead>();
      for (const h of heads) latest.set(h.config, h);
      const expected = configs.filter((c) => {
        const h = latest.get(c.id);
        if (!h || h.sql_sha256 !== c.sql_sha256) return true;
        return h.status === 'error' && retryErrors;
      });
      const plan = planTodo(configs, heads, opts(retryErrors ? 'errors' : 'none'));
      expect(plan.todo.map((c) => c.id)).toEqual(expected.map((c) => c.id));
      const done = plan.done.ok + plan.done.skipped + plan.done.error;
      expect(done + plan.todo.length).toBe(configs.length);
      // After dropping, every config has at most one record left.
      const dropped = new Set(plan.drop);
      const left = heads.filter((h) => !dropped.has(h.offset) && ids.includes(h.config)).map((h) => h.config);
      expect(new Set(left).size).toBe(left.length);
    }
  });

  it('latestByConfig is linear-ish on 300K records', () => {
    const heads = Array.from({ length: 300_000 }, (_, i) => head(`c${String(i).padStart(7, '0')}`, 'ok'));
    const t = performance.now();
    const { latest } = latestByConfig(heads);
    expect(latest).toHaveLength(300_000);
    expect(performance.now() - t).toBeLessThan(1500);
  });
});
