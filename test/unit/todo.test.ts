import { describe, expect, it } from 'vitest';
import type { RecordHead } from '../../src/results/ndjson.js';
import { latestByConfig, planTodo, type UnitConfig } from '../../src/worker/todo.js';

const sha = (n: number): string => String(n).repeat(64).slice(0, 64);
const cfg = (id: string, s = 1): UnitConfig => ({ id, params: {}, sql_sha256: sha(s) });
let off = 0;
const head = (config: string, status: RecordHead['status'], s = 1): RecordHead => ({ config, status, sql_sha256: sha(s), offset: (off += 100), length: 100 });

describe('planTodo (skip-done by linear merge)', () => {
  it('runs configs without a record, skips ok and skipped, retries errors', () => {
    const configs = ['a', 'b', 'c', 'd', 'e'].map((id) => cfg(id));
    const heads = [head('d', 'ok'), head('b', 'skipped'), head('c', 'error')];
    const plan = planTodo(configs, heads, { retryErrors: true });
    expect(plan.todo.map((c) => c.id)).toEqual(['a', 'c', 'e']);
    expect(plan.done).toEqual({ ok: 1, skipped: 1, error: 0 });
    expect(plan.rerun).toEqual({ error: 1, changed: 0 });
    expect(plan.drop).toEqual([heads[2]?.offset]);
  });

  it('keeps errors with retryErrors false', () => {
    const plan = planTodo([cfg('a'), cfg('b')], [head('a', 'error')], { retryErrors: false });
    expect(plan.todo.map((c) => c.id)).toEqual(['b']);
    expect(plan.done.error).toBe(1);
    expect(plan.drop).toEqual([]);
  });

  it('reruns a config whose SQL changed since its record, whatever the status', () => {
    const h = head('a', 'ok', 1);
    const plan = planTodo([cfg('a', 2), cfg('b', 1)], [h, head('b', 'ok', 1)], { retryErrors: false });
    expect(plan.todo.map((c) => c.id)).toEqual(['a']);
    expect(plan.rerun.changed).toBe(1);
    expect(plan.drop).toEqual([h.offset]);
  });

  it('lets the latest record win and marks older duplicates for dropping', () => {
    const first = head('a', 'error');
    const second = head('a', 'ok');
    const plan = planTodo([cfg('a')], [first, second], { retryErrors: true });
    expect(plan.todo).toEqual([]);
    expect(plan.done.ok).toBe(1);
    expect(plan.drop).toEqual([first.offset]);
    const back = planTodo([cfg('a')], [head('a', 'ok'), head('a', 'error')], { retryErrors: true });
    expect(back.todo.map((c) => c.id)).toEqual(['a']);
    expect(back.drop).toHaveLength(2);
  });

  it('counts records of configs that left the unit as orphans, at any position', () => {
    const plan = planTodo([cfg('b'), cfg('d')], [head('a', 'ok'), head('c', 'ok'), head('d', 'ok'), head('e', 'ok')], { retryErrors: true });
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
      const plan = planTodo(configs, heads, { retryErrors });
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
