/**
 * Parameter values can never alter SQL structure: hostile strings rendered by
 * generate and run on the real server come back byte for byte.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Manifest } from '../../src/format/manifest.js';
import { lacks } from '../harness/components.js';
import { chQuery } from '../harness/clickhouse.js';
import { runSweep, tempDir } from '../helpers/cli.js';

const HOSTILE = [
  "it's a 'quote'",
  'double "quotes"',
  'back\\slash \\\' and \\n literal',
  'semi; DROP TABLE system.one; --',
  'line one\nline two\r\n',
  'tab\tseparated\tvalues',
  '$(touch /tmp/pwned) `id` ${HOME}',
  'Ünïcödé: 東京, ₿, 🚀',
  '/* not a comment */ -- nor this',
  '{v:String} stays literal',
  'nul\u0000byte and \u0001 control',
];

describe('generate: hostile String values', () => {
  let t: { dir: string; cleanup: () => void };
  beforeAll(() => {
    t = tempDir();
  });
  afterAll(() => t.cleanup());

  it.skipIf(lacks('clickhouse'))('render so that the real server returns them byte-identical', async () => {
    const url = inject('clickhouseUrl');
    writeFileSync(join(t.dir, 'q.sql'), 'SELECT {v:String} AS v, hex({v:String}) AS h, length({v:String}) AS n;\n');
    const values = HOSTILE.map((v) => JSON.stringify(v)).join(', ');
    writeFileSync(join(t.dir, 'sweep.yaml'), `name: hostile\ntemplate: q.sql\nparams:\n  v: [${values}]\n`);
    const res = await runSweep(['generate', 'sweep.yaml', '--json'], { cwd: t.dir });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = join(t.dir, 'out', 'hostile');
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.configs).toHaveLength(HOSTILE.length);
    const seen = new Set<string>();
    for (const c of manifest.configs) {
      const value = c.params['v'] as string;
      seen.add(value);
      const sql = readFileSync(join(out, 'sql', c.unit, `${c.id}.sql`), 'utf8').replace(/;\s*$/, '');
      const row = JSON.parse(await chQuery(url, `${sql} FORMAT JSONEachRow`)) as { v: string; h: string; n: string | number };
      expect(row.h, value).toBe(Buffer.from(value, 'utf8').toString('hex').toUpperCase());
      expect(Number(row.n), value).toBe(Buffer.byteLength(value));
      expect(row.v, value).toBe(value);
    }
    expect([...seen].sort()).toEqual([...HOSTILE].sort());
  });
});
