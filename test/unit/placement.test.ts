/**
 * Placement: deterministic, weighted by parallelism, recorded, and moved only
 * by --rebalance (or for units never placed, by --skip-unreachable).
 */
import { describe, expect, it } from 'vitest';
import { knownPlacement, planPlacement, spreadUnits, type PlacementFile } from '../../src/remote/placement.js';

const units = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
const hosts = (aUp = true, bUp = true) => [
  { host: 'a', weight: 2, reachable: aUp },
  { host: 'b', weight: 1, reachable: bUp },
];
const file = (u: Record<string, string[]>): PlacementFile => ({ v: 1, sweep: 's', updated_at: 'x', hosts: {}, units: u });
const now = (p: { units: Map<string, string[]> }) => Object.fromEntries([...p.units].map(([u, h]) => [u, h[h.length - 1]]));

describe('placement', () => {
  it('spreads 6 units 4 / 2 over parallelism 2 / 1, the same way every time', () => {
    const p = planPlacement({ units, hosts: hosts(), previous: undefined, mode: 'strict' });
    expect(now(p)).toEqual({ u1: 'a', u2: 'a', u3: 'b', u4: 'a', u5: 'a', u6: 'b' });
    expect(p.placed).toHaveLength(6);
    expect(planPlacement({ units, hosts: hosts(), previous: undefined, mode: 'strict' }).units).toEqual(p.units);
    const counts = (m: Map<string, string>) => [...m.values()].reduce<Record<string, number>>((c, h) => ({ ...c, [h]: (c[h] ?? 0) + 1 }), {});
    expect(counts(spreadUnits(Array.from({ length: 30 }, (_, i) => `u${i}`), [{ host: 'x', weight: 3 }, { host: 'y', weight: 2 }]))).toEqual({ x: 18, y: 12 });
  });

  it('a resubmission sends each unit where it was; units new to the grid continue the spread', () => {
    const prev = file({ u1: ['b'], u2: ['b'], u3: ['a'] });
    const p = planPlacement({ units: [...units, 'u7'], hosts: hosts(), previous: prev, mode: 'strict' });
    expect(now(p)).toMatchObject({ u1: 'b', u2: 'b', u3: 'a' });
    // a has 1 (weight 2), b has 2 (weight 1): the new ones go to a until the shares even out.
    expect([p.units.get('u4'), p.units.get('u5'), p.units.get('u6'), p.units.get('u7')].map((h) => h?.at(-1))).toEqual(['a', 'a', 'a', 'a']);
    expect(p.moved).toEqual([]);
  });

  it('a unit whose host left the spec is placed again', () => {
    const p = planPlacement({ units: ['u1'], hosts: hosts(), previous: file({ u1: ['gone'] }), mode: 'strict' });
    expect(p.units.get('u1')).toEqual(['gone', 'a']);
    expect(p.placed).toEqual([{ unit: 'u1', host: 'a', why: 'host-left-spec' }]);
  });

  it('--skip-unreachable: new units skip the unreachable host; units already there wait for it', () => {
    const first = planPlacement({ units, hosts: hosts(true, false), previous: undefined, mode: 'skip-unreachable' });
    expect(Object.values(now(first))).toEqual(['a', 'a', 'a', 'a', 'a', 'a']);
    const again = planPlacement({ units, hosts: hosts(true, false), previous: file({ u1: ['a'], u3: ['b'], u6: ['b'] }), mode: 'skip-unreachable' });
    expect(again.waiting).toEqual([
      { unit: 'u3', host: 'b' },
      { unit: 'u6', host: 'b' },
    ]);
    expect(again.moved).toEqual([]);
    expect(now(again)).toMatchObject({ u3: 'b', u6: 'b', u2: 'a' });
  });

  it('--rebalance: unfinished units move off the unreachable host, spread by parallelism; complete or running ones stay; the move is remembered', () => {
    const prev = file({ u1: ['a'], u2: ['b'], u3: ['b'], u4: ['a'], u5: ['b'], u6: ['b'] });
    const three = [
      { host: 'a', weight: 2, reachable: true },
      { host: 'b', weight: 1, reachable: false },
      { host: 'c', weight: 1, reachable: true },
    ];
    const p = planPlacement({ units, hosts: three, previous: prev, mode: 'rebalance', stays: (u, h) => h === 'b' && u === 'u5' });
    expect(p.moved).toEqual([
      { unit: 'u2', from: 'b', to: 'a' },
      { unit: 'u3', from: 'b', to: 'a' },
      { unit: 'u6', from: 'b', to: 'c' },
    ]);
    expect(p.units.get('u3')).toEqual(['b', 'a']);
    expect(p.units.get('u5')).toEqual(['b']);
    expect(p.waiting).toEqual([{ unit: 'u5', host: 'b' }]);
    // Back to a host it ran on before: its history keeps each host once, the current last.
    const back = planPlacement({ units: ['u3'], hosts: [{ host: 'a', weight: 1, reachable: false }, { host: 'b', weight: 1, reachable: true }], previous: file({ u3: ['b', 'a'] }), mode: 'rebalance' });
    expect(back.units.get('u3')).toEqual(['a', 'b']);
  });

  it('status and collect of a sweep never submitted see the first submission\'s spread', () => {
    const k = knownPlacement(units, hosts(), undefined);
    expect([...k.values()].map((h) => h.at(-1))).toEqual(['a', 'a', 'b', 'a', 'a', 'b']);
    expect(knownPlacement(['u1', 'u2'], hosts(), file({ u1: ['b'] })).get('u1')).toEqual(['b']);
  });
});

describe('setup once per target', () => {
  it('hosts of one target: the first that must run it runs it, the others take its record; a host only missing the record takes a current one', async () => {
    const { setupRoles } = await import('../../src/remote/submit.js');
    const run = { action: 'run' as const, reason: 'never ran on this target' };
    const current = { action: 'current' as const, reason: 'ran 2026-01-01' };
    const roles = setupRoles(
      [
        { host: 'a', target: 'T', decision: run },
        { host: 'b', target: 'T', decision: run },
        { host: 'c', target: 'U', decision: run },
        { host: 'd', target: 'V', decision: current },
        { host: 'e', target: 'V', decision: run },
      ],
      false,
    );
    expect(roles.get('a')).toMatchObject({ action: 'run', runsSql: true, copyFrom: null });
    expect(roles.get('b')).toMatchObject({ action: 'run', runsSql: false, copyFrom: 'a', reason: 'runs once for this target, on a' });
    expect(roles.get('c')).toMatchObject({ runsSql: true });
    expect(roles.get('d')).toMatchObject({ action: 'current', runsSql: false, copyFrom: null });
    expect(roles.get('e')).toMatchObject({ action: 'current', runsSql: false, copyFrom: 'd' });
    // --setup: it runs again, once per target.
    const forced = setupRoles([{ host: 'd', target: 'V', decision: { action: 'run', reason: '--setup' } }, { host: 'e', target: 'V', decision: { action: 'run', reason: '--setup' } }], true);
    expect([forced.get('d')?.runsSql, forced.get('e')?.copyFrom]).toEqual([true, 'd']);
  });
});
