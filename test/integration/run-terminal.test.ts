/**
 * `sweep run`'s progress line on a real 80x24 terminal (tmux), for a sweep of
 * 200 configs on the embedded engine: at the end the screen and its scrollback
 * hold exactly one progress line, none of its rows is a wrapped fragment, and
 * neither a resize mid-run nor Ctrl-C leaves a stale copy behind.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lacks } from '../harness/components.js';
import { CLI, tempDir } from '../helpers/cli.js';
import { startPty, type Pty } from '../helpers/tmux.js';

const COLUMNS = 80;

/** 20 units x 10 configs; each query sleeps `sleepS` so the run lasts a while. */
function writeSpec(dir: string, sleepS: number): void {
  writeFileSync(join(dir, 'q.sql'), `SELECT {a:UInt32} * {b:UInt32} AS x, sleepEachRow(${sleepS}) AS s FROM system.one\n`);
  const a = Array.from({ length: 20 }, (_, i) => i + 1);
  const b = Array.from({ length: 10 }, (_, i) => i + 1);
  writeFileSync(join(dir, 'sweep.yaml'), `name: pty\ntemplate: q.sql\nparams:\n  a: [${a.join(', ')}]\n  b: [${b.join(', ')}]\nunit: [a]\nworker:\n  concurrency: 2\n`);
}

/** Rows that hold any piece of a progress line. */
const progressRows = (rows: string[]) => rows.filter((r) => /\d+\/200\b|q\/s|\bETA\b|\[[#.]{4,}/.test(r));

describe.skipIf(lacks('tmux'))('sweep run on an 80x24 terminal', () => {
  let t: { dir: string; cleanup: () => void };
  let pty: Pty | undefined;
  beforeAll(() => {
    t = tempDir('sweep-pty-');
  });
  afterAll(async () => {
    await pty?.stop();
    t.cleanup();
  });

  const env = () => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', LANG: 'C.UTF-8' });

  it('200 configs: exactly one progress line at the end, no wrapped fragments', async () => {
    const dir = join(t.dir, 'plain');
    mkdirSync(dir);
    writeSpec(dir, 0.01);
    pty = await startPty([process.execPath, CLI, 'run', 'sweep.yaml'], { cwd: dir, env: env(), columns: COLUMNS, rows: 24 });
    expect(await pty.waitForExit(120_000)).toBe(0);
    const all = await pty.screen({ history: true });
    const progress = progressRows(all);
    expect(progress, all.join('\n')).toHaveLength(1);
    expect(progress[0]).toMatch(/^\[#+\] 200\/200 100% \| ok 200 /);
    // The line fits: a row as wide as the terminal is the first part of a wrapped line.
    expect(progress[0]?.length).toBeLessThan(COLUMNS);
    expect(all.join('\n')).toMatch(/sweep pty: complete/);
    await pty.stop();
    pty = undefined;
  });

  it('resized to 50 columns and back mid-run, then Ctrl-C: still one progress line, the notice above it, exit 130', async () => {
    const dir = join(t.dir, 'resize');
    mkdirSync(dir);
    writeSpec(dir, 0.1);
    await pty?.stop(); // the first test's, if it failed before stopping it
    pty = await startPty([process.execPath, CLI, 'run', 'sweep.yaml'], { cwd: dir, env: env(), columns: COLUMNS, rows: 24 });
    const p = pty;
    await p.waitForScreen('progress past 20 configs', (rows) => progressRows(rows).some((r) => /\b([2-9]\d|1\d\d)\/200\b/.test(r)), 60_000);
    await p.resize(50, 24);
    const narrow = await p.waitForScreen('the line laid out for 50 columns', (rows) => progressRows(rows).some((r) => r.length < 50 && /\/200/.test(r)), 10_000);
    expect(progressRows(narrow), narrow.join('\n')).toHaveLength(1);
    await p.resize(COLUMNS, 24);
    await p.waitForScreen('the bar back at 80 columns', (rows) => progressRows(rows).some((r) => r.startsWith('[') && r.length > 50), 10_000);
    await p.sendKeys('C-c');
    const status = await p.waitForExit(60_000);
    const all = await p.screen({ history: true });
    const text = all.join('\n');
    expect(status, text).toBe(130);
    expect(progressRows(all), text).toHaveLength(1);
    expect(text).toMatch(/\nSIGINT: stopping/);
    expect(text).toMatch(/sweep pty: interrupted \(SIGINT\): run again to resume/);
    // The notice is printed above the progress line, not through it.
    const notice = all.findIndex((r) => r.startsWith('SIGINT:'));
    const bar = all.findIndex((r) => progressRows([r]).length > 0);
    expect(notice).toBeGreaterThanOrEqual(0);
    expect(bar).toBeGreaterThan(notice);
  });
});
