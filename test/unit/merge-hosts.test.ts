/**
 * Collect's merge over several hosts: each host's results in its own dir, a
 * unit read from every host it was placed on (a moved unit keeps one record
 * per config), records counting only for those hosts' targets, and one setup
 * generation per target.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeResults } from '../../src/results/merge.js';
import { makeRecord, type ResultRecord, type TerminalStatus } from '../../src/results/record.js';

const root = mkdtempSync(join(tmpdir(), 'sweep-merge-hosts-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SHA = (c: string): string => c.padStart(64, '0');
const A = 'http://127.0.0.1:9001/default@m';
const B = 'http://127.0.0.1:9002/default@m';

function rec(unit: string, config: string, status: TerminalStatus, target: string, setup: string | null = null): ResultRecord {
  return makeRecord({
    config,
    status,
    sql_sha256: SHA(config),
    target,
    setup,
    sweep: 's',
    unit,
    params: { c: config },
    shape: null,
    rows: status === 'ok' ? [{ x: 1, from: target }] : [],
    rows_read: 1,
    bytes_read: 1,
    elapsed_ms: 1,
    attempts: 1,
    query_id: 'q',
    max_threads: 1,
    engine: 'http',
    host: 'h',
    worker: '0.1.0',
    started_at: '2026-01-01T00:00:00.000Z',
    finished_at: '2026-01-01T00:00:01.000Z',
    ...(status === 'error' ? { error: { code: 241, name: 'MEMORY_LIMIT_EXCEEDED', message: 'x' } } : {}),
  });
}

function sweepDir(name: string, units: Record<string, string[]>): string {
  const out = join(root, name);
  mkdirSync(join(out, 'units'), { recursive: true });
  for (const [u, configs] of Object.entries(units)) {
    writeFileSync(join(out, 'units', `${u}.json`), JSON.stringify({ v: 1, sweep: 's', unit: u, configs: configs.map((c) => ({ id: c, sql_sha256: SHA(c), params: { c } })) }));
  }
  return out;
}

function results(dir: string, unit: string, records: ResultRecord[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${unit}.ndjson`), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

describe('mergeResults over several hosts', () => {
  it("a unit that moved from A to B keeps one record per config (ok wins over the other host's error); files of one unit never collide", async () => {
    const out = sweepDir('moved', { u1: ['1', '2', '3'], u2: ['4'] });
    const a = join(out, 'hosts', 'a', 'results');
    const b = join(out, 'hosts', 'b', 'results');
    // u1 ran partly on A (1 ok, 2 error), then moved to B and ran whole there.
    results(a, 'u1', [rec('u1', '1', 'ok', A), rec('u1', '2', 'error', A)]);
    results(b, 'u1', [rec('u1', '1', 'ok', B), rec('u1', '2', 'ok', B), rec('u1', '3', 'ok', B)]);
    results(a, 'u2', [rec('u2', '4', 'ok', A)]);
    const history: Record<string, string[]> = { u1: ['a', 'b'], u2: ['a'] };
    const dirs: Record<string, string> = { a, b };
    const targets: Record<string, string> = { a: A, b: B };
    const m = await mergeResults({
      sweep: 's',
      outDir: out,
      units: [{ id: 'u1' }, { id: 'u2' }],
      sources: (u) => (history[u] ?? []).map((h) => ({ host: h, dir: dirs[h] as string })),
      accept: (u) => ({ targets: (history[u] ?? []).map((h) => targets[h] as string) }),
      hosts: 2,
    });
    expect(m.totals).toMatchObject({ configs: 4, ok: 4, error: 0, missing: 0, duplicate: 2, stale: 0 });
    expect(m.complete).toBe(true);
    expect(m.mixed_origins).toBe(false);
    expect(m.files.records).toBe(4);
  });

  it("records from a target outside the unit's hosts do not count, and say so; a target under two setup generations is a mix", async () => {
    const out = sweepDir('foreign', { u1: ['1', '2'] });
    const a = join(out, 'hosts', 'a', 'results');
    results(a, 'u1', [rec('u1', '1', 'ok', A, 'g1'), rec('u1', '2', 'ok', 'http://elsewhere:8123/default', 'g1')]);
    const m = await mergeResults({ sweep: 's', outDir: out, units: [{ id: 'u1' }], sources: () => [{ host: 'a', dir: a }], accept: () => ({ targets: [A] }), hosts: 2 });
    expect(m.totals).toMatchObject({ ok: 1, missing: 1, stale: 1 });
    expect(m.units[0]?.notes.join('\n')).toMatch(/line 2: written for http:\/\/elsewhere:8123\/default, not the target of a host this unit was placed on \(http:\/\/127\.0\.0\.1:9001\/default@m\): runs again/);
    expect(m.complete).toBe(false);

    results(a, 'u1', [rec('u1', '1', 'ok', A, 'g1'), rec('u1', '2', 'ok', A, 'g2')]);
    const mixed = await mergeResults({ sweep: 's', outDir: out, units: [{ id: 'u1' }], sources: () => [{ host: 'a', dir: a }], accept: () => ({ targets: [A] }), hosts: 2 });
    expect(mixed.totals).toMatchObject({ ok: 2, missing: 0 });
    expect(mixed.mixed_origins).toBe(true);
    expect(mixed.complete).toBe(false);
  });

  it('two hosts, two targets, one generation each: complete; with one host two targets are a mix', async () => {
    const out = sweepDir('two', { u1: ['1'], u2: ['2'] });
    const a = join(out, 'a');
    const b = join(out, 'b');
    results(a, 'u1', [rec('u1', '1', 'ok', A)]);
    results(b, 'u2', [rec('u2', '2', 'ok', B)]);
    const src = (u: string) => [{ host: u === 'u1' ? 'a' : 'b', dir: u === 'u1' ? a : b }];
    expect((await mergeResults({ sweep: 's', outDir: out, units: [{ id: 'u1' }, { id: 'u2' }], sources: src, hosts: 2 })).complete).toBe(true);
    expect((await mergeResults({ sweep: 's', outDir: out, units: [{ id: 'u1' }, { id: 'u2' }], sources: src, hosts: 1 })).complete).toBe(false);
  });
});
