import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flattenRows, NdjsonFileWriter } from '../../src/results/merge.js';
import { readNdjson } from '../../src/results/ndjson.js';
import { makeRecord, type ResultRecord, type TerminalStatus } from '../../src/results/record.js';
import { validateUnit, type ExpectedConfig } from '../../src/results/validate.js';

const dir = mkdtempSync(join(tmpdir(), 'sweep-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHA = (n: number): string => n.toString(16).padStart(64, '0');
const expected: ExpectedConfig[] = ['c1', 'c2', 'c3', 'c4', 'c5'].map((id, i) => ({ id, sql_sha256: SHA(i + 1), params: { k: id, n: i } }));

function rec(config: string, status: TerminalStatus, opts: Partial<ResultRecord> = {}): ResultRecord {
  const i = Number(config.slice(1)) - 1;
  return makeRecord({
    config,
    status,
    sql_sha256: SHA(i + 1),
    target: 'http://127.0.0.1:8123/default',
    setup: null,
    sweep: 'demo',
    unit: 'u1',
    params: { k: config, n: i },
    shape: null,
    rows: status === 'ok' ? [{ x: i, k: config }] : [],
    rows_read: 1,
    bytes_read: 1,
    elapsed_ms: 1,
    attempts: 1,
    query_id: `q-${config}`,
    max_threads: 1,
    engine: 'http',
    host: 'h',
    worker: '0.1.0',
    started_at: '2026-01-01T00:00:00.000Z',
    finished_at: '2026-01-01T00:00:01.000Z',
    ...(status === 'error' ? { error: { code: 60, name: 'UNKNOWN_TABLE', message: "Table x doesn't exist" } } : {}),
    ...opts,
  });
}

/** Lines as the real reader sees them, from a real file. */
async function linesOf(name: string, text: string) {
  const path = join(dir, name);
  writeFileSync(path, text);
  return readNdjson(path);
}
const line = (r: unknown): string => `${JSON.stringify(r)}\n`;

describe('validateUnit', () => {
  it('accounts for a complete unit', async () => {
    const lines = await linesOf('complete.ndjson', ['c1', 'c2', 'c3', 'c4', 'c5'].map((c) => line(rec(c, c === 'c5' ? 'skipped' : 'ok'))).join(''));
    const v = validateUnit('demo', 'u1', expected, lines);
    expect(v.counts).toEqual({ configs: 5, ok: 4, skipped: 1, error: 0, missing: 0, duplicate: 0, torn: 0, bad: 0, stale: 0, unknown: 0, foreign: 0 });
    expect(v.kept.map((r) => r.config)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(v.missing).toEqual([]);
  });

  it('counts missing, errors, duplicates (keeping the latest), stale, unknown, foreign, bad and torn lines', async () => {
    const text =
      line(rec('c1', 'error')) + // retried below: the ok wins
      line(rec('c1', 'ok', { query_id: 'second' })) +
      line(rec('c2', 'ok', { query_id: 'first' })) +
      line(rec('c2', 'ok', { query_id: 'latest' })) + // duplicate: keep the latest
      line(rec('c3', 'error')) +
      line(rec('c4', 'ok', { sql_sha256: SHA(999) })) + // SQL changed since: stale, c4 missing
      line(rec('c9', 'ok')) + // not in the unit
      line(rec('c5', 'ok', { unit: 'other' })) + // foreign
      'this is not json\n' +
      line({ v: 1, config: 'c5' }) + // JSON, not a record
      '{"v":1,"config":"c5","status":"ok","sql_sha2'; // torn tail
    const v = validateUnit('demo', 'u1', expected, await linesOf('messy.ndjson', text));
    expect(v.counts).toEqual({ configs: 5, ok: 2, skipped: 0, error: 1, missing: 2, duplicate: 2, torn: 1, bad: 2, stale: 1, unknown: 1, foreign: 1 });
    expect(v.kept.map((r) => [r.config, r.status, r.query_id])).toEqual([
      ['c1', 'ok', 'second'],
      ['c2', 'ok', 'latest'],
      ['c3', 'error', 'q-c3'],
    ]);
    expect(v.missing).toEqual(['c4', 'c5']);
    expect(v.errors).toEqual([{ config: 'c3', error: { code: 60, name: 'UNKNOWN_TABLE', message: "Table x doesn't exist" } }]);
    expect(v.notes.join('\n')).toMatch(/line 11: incomplete last line/);
    expect(v.notes.join('\n')).toMatch(/line 9: not JSON/);
  });

  it('keeps an ok record over a later error of the same SQL (the worker counts the config done)', async () => {
    const v = validateUnit('demo', 'u1', expected.slice(0, 1), await linesOf('okerr.ndjson', line(rec('c1', 'ok')) + line(rec('c1', 'error'))));
    expect(v.kept[0]?.status).toBe('ok');
    expect(v.counts.duplicate).toBe(1);
  });

  it('reports every config missing for a missing or empty file', () => {
    const v = validateUnit('demo', 'u1', expected, []);
    expect(v.counts.missing).toBe(5);
    expect(v.missing).toHaveLength(5);
  });
});

describe('flattenRows', () => {
  it('puts config, unit and params in front of every row; skipped and error records have none', () => {
    const r = rec('c1', 'ok', { rows: [{ x: 1, y: 'a' }, { x: 2, y: 'b' }] });
    expect(flattenRows(r)).toEqual([
      { config: 'c1', unit: 'u1', k: 'c1', n: 0, x: 1, y: 'a' },
      { config: 'c1', unit: 'u1', k: 'c1', n: 0, x: 2, y: 'b' },
    ]);
    expect(flattenRows(rec('c2', 'skipped'))).toEqual([]);
    expect(flattenRows(rec('c3', 'error'))).toEqual([]);
  });

  it('writes a column equal to a param once, and keeps a different one as row_<name>', () => {
    const collisions = { count: 0 };
    const r = rec('c1', 'ok', { params: { k: 'c1', n: 7 }, rows: [{ k: 'c1', n: '7', unit: 'elsewhere', v: 1 }] });
    expect(flattenRows(r, collisions)).toEqual([{ config: 'c1', unit: 'u1', k: 'c1', n: 7, row_unit: 'elsewhere', v: 1 }]);
    expect(collisions.count).toBe(1);
  });
});

describe('NdjsonFileWriter', () => {
  it('writes via a temp file and renames on commit; abort leaves the old file', async () => {
    const path = join(dir, 'out.ndjson');
    writeFileSync(path, 'old\n');
    const w = new NdjsonFileWriter(path);
    for (let i = 0; i < 10_000; i++) await w.write({ i, pad: 'x'.repeat(100) });
    expect(readFileSync(path, 'utf8')).toBe('old\n');
    await w.commit();
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines).toHaveLength(10_001);
    expect(JSON.parse(lines[9_999] as string)).toMatchObject({ i: 9_999 });

    const w2 = new NdjsonFileWriter(path);
    await w2.write({ new: true });
    await w2.abort();
    expect(readFileSync(path, 'utf8').split('\n')).toHaveLength(10_001);
  });
});
