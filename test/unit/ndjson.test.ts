import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cutTornTail,
  forEachLine,
  NdjsonAppender,
  readNdjson,
  rewriteKeeping,
  scanRecordHeads,
} from '../../src/results/ndjson.js';
import { makeRecord, type ResultRecord } from '../../src/results/record.js';

const SHA = 'a'.repeat(64);

function rec(config: string, status: ResultRecord['status'], extra: Partial<ResultRecord> = {}): ResultRecord {
  return makeRecord({
    config,
    status,
    sql_sha256: SHA,
    target: 'http://127.0.0.1:8123/default',
    setup: null,
    sweep: 's',
    unit: 'u',
    params: { x: 1 },
    shape: null,
    rows: status === 'ok' ? [{ a: 1 }] : [],
    rows_read: 0,
    bytes_read: 0,
    elapsed_ms: 1.5,
    attempts: 1,
    query_id: 'q',
    max_threads: 1,
    engine: 'http 18.16.1',
    host: 'h',
    worker: '0.1.0',
    started_at: '2024-01-01T00:00:00.000Z',
    finished_at: '2024-01-01T00:00:00.001Z',
    ...extra,
  });
}

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sweep-ndjson-'));
  file = join(dir, 'u.ndjson');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const line = (v: unknown): string => `${JSON.stringify(v)}\n`;

describe('forEachLine', () => {
  it('visits complete lines with byte offsets, across chunk boundaries, and reports the torn tail', async () => {
    const lines = ['{"a":1}', 'é'.repeat(50), '', 'x'.repeat(300)];
    writeFileSync(file, `${lines.join('\n')}\n{"torn`);
    const seen: Array<{ text: string; offset: number }> = [];
    const scan = await forEachLine(file, (buf, s, e, offset) => seen.push({ text: buf.toString('utf8', s, e), offset }), 16);
    expect(seen.map((l) => l.text)).toEqual(lines);
    let off = 0;
    for (const [i, l] of lines.entries()) {
      expect(seen[i]?.offset).toBe(off);
      off += Buffer.byteLength(l) + 1;
    }
    expect(scan.torn).toEqual({ offset: off, length: 6, preview: '{"torn' });
    expect(scan.size).toBe(off + 6);
  });

  it('treats a missing file as empty', async () => {
    expect(await forEachLine(join(dir, 'nope'), () => {})).toEqual({ size: 0, lines: 0 });
  });
});

describe('readNdjson (the reader collect builds on)', () => {
  it('sees every line: values, bad lines and the torn tail, nothing dropped', async () => {
    writeFileSync(file, `${line({ a: 1 })}not json\n${line([1])}\r\n{"b":`);
    const out = await readNdjson(file);
    expect(out.map((l) => l.kind)).toEqual(['value', 'bad', 'value', 'bad', 'torn']);
    expect(out[0]).toMatchObject({ kind: 'value', value: { a: 1 }, lineNo: 1, offset: 0 });
    expect(out[1]).toMatchObject({ kind: 'bad', text: 'not json', lineNo: 2 });
    expect(out[4]).toMatchObject({ kind: 'torn', text: '{"b":', lineNo: 5 });
  });
});

describe('cutTornTail', () => {
  it('cuts an incomplete last line and nothing else', async () => {
    const good = line(rec('a', 'ok')) + line(rec('b', 'skipped'));
    writeFileSync(file, `${good}{"v":1,"config":"c","sta`);
    const cut = await cutTornTail(file);
    expect(cut).toMatchObject({ offset: Buffer.byteLength(good), length: 24 });
    expect(readFileSync(file, 'utf8')).toBe(good);
    expect(await cutTornTail(file)).toBeUndefined();
  });

  it('handles a file that is one torn line, a long torn tail, an empty and a missing file', async () => {
    writeFileSync(file, 'x'.repeat(200_000));
    expect((await cutTornTail(file))?.length).toBe(200_000);
    expect(readFileSync(file, 'utf8')).toBe('');
    expect(await cutTornTail(file)).toBeUndefined();
    expect(await cutTornTail(join(dir, 'missing'))).toBeUndefined();
    const good = line(rec('a', 'ok'));
    writeFileSync(file, `${good}${'y'.repeat(150_000)}`);
    expect((await cutTornTail(file))?.length).toBe(150_000);
    expect(readFileSync(file, 'utf8')).toBe(good);
  });

  it('cuts trailing NUL garbage (a crash after the size grew but before the data landed)', async () => {
    const good = line(rec('a', 'ok'));
    writeFileSync(file, Buffer.concat([Buffer.from(good), Buffer.alloc(4096)]));
    expect((await cutTornTail(file))?.length).toBe(4096);
    expect(readFileSync(file, 'utf8')).toBe(good);
  });
});

describe('scanRecordHeads', () => {
  it('reads config, status and sha from canonical lines without losing any', async () => {
    const records = [rec('a', 'ok'), rec('b', 'skipped'), rec('c', 'error', { error: { code: 62, name: 'SYNTAX_ERROR', message: 'x' } })];
    writeFileSync(file, records.map(line).join(''));
    const scan = await scanRecordHeads(file);
    expect(scan.heads.map((h) => [h.config, h.status, h.sql_sha256])).toEqual([
      ['a', 'ok', SHA],
      ['b', 'skipped', SHA],
      ['c', 'error', SHA],
    ]);
    expect(scan.bad).toEqual([]);
    let off = 0;
    for (const [i, r] of records.entries()) {
      expect(scan.heads[i]).toMatchObject({ offset: off, length: Buffer.byteLength(line(r)) });
      off += Buffer.byteLength(line(r));
    }
  });

  it('falls back to JSON.parse for other key orders and escaped ids, and reports non-records as bad', async () => {
    const reordered = { status: 'ok', v: 1, sql_sha256: SHA, config: 'r' };
    const escaped = '{"v":1,"config":"e\\u0073c","status":"ok","sql_sha256":"' + SHA + '","rows":[]}';
    writeFileSync(file, `${line(reordered)}${escaped}\n${line({ v: 2, config: 'x' })}garbage\n${line(rec('z', 'ok'))}`);
    const scan = await scanRecordHeads(file);
    expect(scan.heads.map((h) => h.config)).toEqual(['r', 'esc', 'z']);
    expect(scan.bad.map((b) => b.lineNo)).toEqual([3, 4]);
  });

  it('never takes two records glued by an old torn write for the first one', async () => {
    const torn = line(rec('a', 'ok')).slice(0, 120);
    writeFileSync(file, `${torn}${line(rec('b', 'ok'))}`);
    const scan = await scanRecordHeads(file);
    expect(scan.heads).toEqual([]);
    expect(scan.bad).toHaveLength(1);
  });

  it('does not trust a canonical prefix on a line that does not end the object', async () => {
    writeFileSync(file, `${line(rec('a', 'ok')).slice(0, -3)}\n`);
    const scan = await scanRecordHeads(file);
    expect(scan.heads).toEqual([]);
    expect(scan.bad).toHaveLength(1);
  });

  it('takes the slow path, correctly, when a row has columns named v and config', async () => {
    const r = rec('a', 'ok', { rows: [{ v: 1, config: 'inner' }] });
    writeFileSync(file, line(r));
    const scan = await scanRecordHeads(file);
    expect(scan.heads.map((h) => h.config)).toEqual(['a']);
  });
});

describe('rewriteKeeping', () => {
  it('drops exactly the chosen lines and keeps the rest byte for byte', async () => {
    const lines = ['a', 'b', 'c', 'd'].map((c) => line(rec(c, 'ok')));
    writeFileSync(file, lines.join(''));
    const scan = await scanRecordHeads(file);
    const drop = new Set([scan.heads[1]?.offset, scan.heads[3]?.offset]);
    expect(await rewriteKeeping(file, (o) => !drop.has(o))).toEqual({ kept: 2, dropped: 2 });
    expect(readFileSync(file, 'utf8')).toBe(`${lines[0]}${lines[2]}`);
  });
});

describe('NdjsonAppender', () => {
  it('appends whole lines in order, in batches, and syncs on close', async () => {
    const w = NdjsonAppender.open(file, { maxLines: 3, maxDelayMs: 10_000 });
    for (let i = 0; i < 9; i++) w.append({ i });
    await new Promise((r) => setTimeout(r, 50));
    // Full batches go out on their own (lines appended while one is in flight join the next).
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(9);
    w.append({ i: 9 });
    await new Promise((r) => setTimeout(r, 50));
    // A partial batch waits for the timer or close.
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(9);
    await w.close();
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(10).keys()]);
  });

  it('flushes a partial batch after maxDelayMs', async () => {
    const w = NdjsonAppender.open(file, { maxLines: 100, maxDelayMs: 20 });
    w.append({ a: 1 });
    expect(readFileSync(file, 'utf8')).toBe('');
    await new Promise((r) => setTimeout(r, 120));
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n');
    await w.close();
  });

  it('appends to what is there and flushSync writes what is buffered', () => {
    appendFileSync(file, '{"old":true}\n');
    const w = NdjsonAppender.open(file, { maxLines: 100, maxDelayMs: 10_000 });
    w.append({ n: 'é\n"\t' });
    w.flushSync();
    expect(readFileSync(file, 'utf8')).toBe('{"old":true}\n{"n":"é\\n\\"\\t"}\n');
    void w.close();
  });
});
