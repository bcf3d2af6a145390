import { existsSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { chQuery, startClickHouse } from '../harness/clickhouse.js';
import { lacks } from '../harness/components.js';

describe.skipIf(lacks('clickhouse'))('ClickHouse harness', () => {
  it('serves the shared server to every test file', async () => {
    const url = inject('clickhouseUrl');
    expect(url).toMatch(/^http/);
    expect((await chQuery(url, 'SELECT 40 + 2')).trim()).toBe('42');
  });

  it('starts a private server that survives pause/resume and leaves nothing behind', async () => {
    const ch = await startClickHouse();
    try {
      expect(ch.version).toMatch(/^\d+\.\d+/);
      await chQuery(ch.url, 'CREATE TABLE default.t (x UInt8) ENGINE = Log');
      await chQuery(ch.url, 'INSERT INTO default.t VALUES (7)');
      if (ch.kind === 'binary') {
        await ch.pause();
        await expect(chQuery(ch.url, 'SELECT 1')).rejects.toThrow();
        await ch.resume();
        expect((await chQuery(ch.url, 'SELECT x FROM default.t')).trim()).toBe('7');
      }
    } finally {
      await ch.stop();
    }
    if (ch.kind === 'binary') {
      await expect(chQuery(ch.url, 'SELECT 1')).rejects.toThrow();
      expect(ch.dir).toBeDefined();
      expect(existsSync(ch.dir ?? '')).toBe(false);
    }
  });
});
