/**
 * The worker as a real process (the CLI bundled from these sources) under the
 * things that happen to it in the field: kill -9 at random moments, a second
 * worker on the same unit, SIGTERM and SIGINT mid-run.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ResultRecord } from '../../src/results/record.js';
import { lacks } from '../harness/components.js';
import { chQuery } from '../harness/clickhouse.js';
import { bundleCli, byConfig, essence, makeSweep, readRecords, removeBundle, runWorker, spawnWorker, type SweepFixture } from './worker-fixtures.js';

const url = inject('clickhouseUrl');
let cli: string;

beforeAll(async () => {
  cli = await bundleCli();
});
afterAll(() => removeBundle());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Processes (flock, cat, node) still running with this path in their command line. */
function strays(path: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(path) && !/\sZ/.test(l.slice(0, 16)));
}

async function running(prefix: string): Promise<number> {
  return Number((await chQuery(url, `SELECT count() FROM system.processes WHERE startsWith(query_id, '${prefix}')`)).trim());
}

// 150 x 4 = 600 configs with ok (kind 0), skipped (1) and error (2: parse error, 3:
// division by zero) outcomes; kinds 0 and 2 take ~150 ms on the server, so that a
// run lasts a few seconds and a kill always lands mid-run.
const MIX_TEMPLATE = `SELECT n, toUInt32(s) AS v, {i:UInt32} AS i, toUInt64(18446744073709551615) - n AS big
FROM (SELECT number AS n, sleep(0.15) AS z, if({kind:UInt8} = 2 AND number = 2, concat('bad', unhex('FF'), '\\t"q'), toString(number * {i:UInt32})) AS s
      FROM system.numbers LIMIT 3)
WHERE z = 0 AND {kind:UInt8} != 1 AND (n < 2 OR {kind:UInt8} = 2) AND intDiv(10, if({kind:UInt8} = 3, 0, 1)) > 0
`;
const mixSpec = (name: string): string => `name: ${name}\ntemplate: q.sql\nparams:\n  i: [${Array.from({ length: 150 }, (_, i) => i).join(', ')}]\n  kind: [0, 1, 2, 3]\n`;

describe.skipIf(lacks('clickhouse'))('the worker process', () => {
  it('survives kill -9 at random moments: after reruns, one terminal record per config, no torn line, the same results as an uninterrupted run', async () => {
    const reference = await makeSweep({ spec: mixSpec('wref'), template: MIX_TEMPLATE, tag: 'wref' });
    const victim = await makeSweep({ spec: mixSpec('wref'), template: MIX_TEMPLATE, tag: 'wkill' });
    try {
      const args = (f: SweepFixture): string[] => ['--dir', f.out, '--unit', 'all', '--clickhouse-url', url];
      const ref = await runWorker(cli, args(reference));
      expect(ref.code, ref.stderr).toBe(1); // errors remain by design of the template
      const expected = new Map(readRecords(reference.results('all')).map((r) => [r.config, essence(r)]));
      expect(expected.size).toBe(600);

      const progress: number[] = [];
      for (let k = 0; k < 5; k++) {
        const w = spawnWorker(cli, args(victim));
        await w.waitFor(/configs to run/);
        await sleep(100 + Math.random() * 900);
        w.child.kill('SIGKILL');
        const { signal } = await w.exit;
        expect(signal, `run ${k}: ${w.stderr()}`).toBe("SIGKILL");
        expect(w.stderr()).not.toMatch(/LOCK_HELD|held by/);
        if (k === 3) expect(w.stderr()).toMatch(/cut a torn last line/);
        if (k === 2) {
          // A crash in the middle of a write leaves a torn last line: the next run must cut it.
          appendFileSync(victim.results('all'), '{"v":1,"config":"i-99__kind-0","status":"ok","sql_sha');
        } else {
          const text = readRecords(victim.results('all'));
          progress.push(new Set(text.filter((r) => r.status !== 'error').map((r) => r.config)).size);
        }
      }
      // Each run added to what the previous ones finished (kills land after at least 100 ms of work).
      expect(progress.at(-1)).toBeGreaterThan(0);

      const last = await runWorker(cli, [...args(victim), '--json']);
      expect(last.code, last.stderr).toBe(1);
      const records = readRecords(victim.results('all')); // throws on a torn or bad line
      const per = byConfig(records);
      expect(per.size).toBe(600);
      for (const [id, list] of per) {
        expect(list, id).toHaveLength(1);
        expect(essence(list[0] as ResultRecord), id).toEqual(expected.get(id));
      }
      const summary = JSON.parse(last.stdout) as { ok: number; skipped: number; error: number; missing: number };
      expect(summary).toMatchObject({ ok: 150, skipped: 150, error: 300, missing: 0 });
      expect(strays(victim.tmp.path)).toEqual([]);
    } finally {
      await reference.tmp.remove();
      await victim.tmp.remove();
    }
  });

  it('refuses a second worker on the same unit with exit 2 naming the holder; nothing is duplicated', async () => {
    const f = await makeSweep({
      spec: `name: wtwo\ntemplate: q.sql\nparams:\n  i: [${Array.from({ length: 200 }, (_, i) => i).join(', ')}]\n`,
      template: 'SELECT {i:UInt32} AS i, sleep(0.04) AS z\n',
      tag: 'wtwo',
    });
    try {
      const args = ['--dir', f.out, '--unit', 'all', '--clickhouse-url', url];
      const first = spawnWorker(cli, args);
      await first.waitFor(/configs to run/);
      const second = await runWorker(cli, args);
      expect(second.code).toBe(2);
      expect(second.stderr).toContain(`held by ${hostname()} pid ${first.child.pid}`);
      expect(second.stderr).toContain('results/all.lock');
      expect((await first.exit).code, first.stderr()).toBe(0);
      const per = byConfig(readRecords(f.results('all')));
      expect(per.size).toBe(200);
      for (const list of per.values()) expect(list).toHaveLength(1);
      // And once the first is gone, the unit is free again (and complete).
      const third = await runWorker(cli, args);
      expect(third.code).toBe(0);
      expect(third.stderr).toMatch(/0 of 200 configs to run/);
      expect(strays(f.tmp.path)).toEqual([]);
    } finally {
      await f.tmp.remove();
    }
  });

  // Slow configs take 2 s in 20 blocks of one row, so a KILL takes effect within ~0.1 s.
  const SLOW_TEMPLATE = 'SELECT {i:UInt32} AS i, sum(sleep(0.1)) AS z FROM numbers({blocks:UInt32}) SETTINGS max_block_size = 1\n';
  const slowSpec = (name: string): string => `name: ${name}\ntemplate: q.sql\nparams:\n  i: [${Array.from({ length: 20 }, (_, i) => i).join(', ')}]\n  blocks: [1, 20]\n`;

  it('on SIGTERM: no new queries, running ones gone from system.processes within 2 s, finished records kept, exit 143; a rerun completes', async () => {
    const f = await makeSweep({ spec: slowSpec('wterm'), template: SLOW_TEMPLATE, tag: 'wterm' });
    try {
      const args = ['--dir', f.out, '--unit', 'all', '--clickhouse-url', url];
      const w = spawnWorker(cli, args);
      const deadline = Date.now() + 15_000;
      while ((await running('wterm:')) < 8 && Date.now() < deadline) await sleep(50);
      await sleep(300); // let the fast configs finish
      w.child.kill('SIGTERM');
      const t0 = Date.now();
      let left = await running('wterm:');
      while (left > 0 && Date.now() - t0 < 5000) {
        await sleep(50);
        left = await running('wterm:');
      }
      const goneAfter = Date.now() - t0;
      expect(left).toBe(0);
      expect(goneAfter).toBeLessThan(2000);
      const { code } = await w.exit;
      expect(code, w.stderr()).toBe(143);
      expect(w.stderr()).toMatch(/SIGTERM: stopping/);
      const partial = readRecords(f.results('all'));
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.length).toBeLessThan(40);
      // Cancelled queries leave no record at all, certainly not an error.
      expect(partial.every((r) => r.status === 'ok')).toBe(true);

      const rerun = await runWorker(cli, [...args, '--json']);
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(JSON.parse(rerun.stdout)).toMatchObject({ ok: 40, error: 0, missing: 0, already_done: partial.length });
      const per = byConfig(readRecords(f.results('all')));
      expect(per.size).toBe(40);
      for (const list of per.values()) expect(list).toHaveLength(1);
      expect(strays(f.tmp.path)).toEqual([]);
    } finally {
      await f.tmp.remove();
    }
  });

  it('exits 2 on bad flags and input, naming the flag or path', async () => {
    const f = await makeSweep({ spec: 'name: wflags\ntemplate: q.sql\nparams:\n  i: [1]\n', template: 'SELECT {i:UInt32} AS i\n', tag: 'wflags' });
    try {
      const cases: Array<[string[], RegExp]> = [
        [['--dir', f.out], /required option '--unit <unit>'/],
        [['--dir', f.out, '--unit', 'all', '--max-threads', 'lots'], /--max-threads: expected a positive integer or 'auto', found "lots"/],
        // The bundle's parser (node's parseArgs) refuses a value that looks like a flag, naming the flag.
        [['--dir', f.out, '--unit', 'all', '--concurrency', '-3'], /--concurrency' argument is ambiguous/],
        [['--dir', f.out, '--unit', 'all', '--concurrency=0'], /--concurrency: expected a positive integer or 'auto', found "0"/],
        [['--dir', f.out, '--unit', 'all', '--bogus'], /Unknown option '--bogus'/],
        [['--dir', f.out, '--unit', 'all', '--clickhouse-url', 'not a url'], /--clickhouse-url: expected an http\(s\):\/\/ URL/],
        [['--dir', `${f.out}/nope`, '--unit', 'all'], /--dir .*nope: expected a sweep directory/],
        [['--dir', f.out, '--unit', 'other'], /--unit other: expected .*units\/other\.json, found no such file; units here: all/],
      ];
      for (const [args, message] of cases) {
        const r = await runWorker(cli, args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toMatch(message);
      }
      // --json: one JSON document on stdout, nothing else; exit 0 when everything is ok.
      const ok = await runWorker(cli, ['--dir', f.out, '--unit', 'all', '--clickhouse-url', url, '--json', '--max-threads', '2']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ sweep: 'wflags', unit: 'all', ok: 1, max_threads: 2 });
      expect(ok.stdout.trim().split('\n')).toHaveLength(1);
    } finally {
      await f.tmp.remove();
    }
  });

  it('on SIGINT: the same, with exit 130', async () => {
    const f = await makeSweep({ spec: slowSpec('wint'), template: SLOW_TEMPLATE, tag: 'wint' });
    try {
      const w = spawnWorker(cli, ['--dir', f.out, '--unit', 'all', '--clickhouse-url', url]);
      const deadline = Date.now() + 15_000;
      while ((await running('wint:')) < 8 && Date.now() < deadline) await sleep(50);
      w.child.kill('SIGINT');
      const t0 = Date.now();
      while ((await running('wint:')) > 0 && Date.now() - t0 < 5000) await sleep(50);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect((await w.exit).code).toBe(130);
      expect(readRecords(f.results('all')).every((r) => r.status === 'ok')).toBe(true);
    } finally {
      await f.tmp.remove();
    }
  });
});
