/**
 * `sweep status --watch` for a sweep of 200 units, on a real 80x24 terminal
 * (tmux) against the e2e remote (private sshd, isolated pueue daemon, the
 * shared ClickHouse): the screen fits, with the header and totals on top and
 * the failed and running units visible; nothing scrolls away and no row
 * wraps; Ctrl-C leaves the last screen and exits 130. Without a terminal the
 * same watch writes one summary line per refresh, and the report only when a
 * unit changed state.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lacks } from '../harness/components.js';
import { CLI } from '../helpers/cli.js';
import { startPty, type Pty } from '../helpers/tmux.js';
import { cliEnv, startRemoteEnv, waitFor, writeSweep, type RemoteEnv, type Sweep } from './remote-fixture.js';

const chUrl = inject('clickhouseUrl');
const UNITS = 200;

describe.skipIf(lacks('clickhouse', 'sshd', 'pueue', 'tmux'))('status --watch with 200 units', () => {
  let env: RemoteEnv;
  let s: Sweep;
  let pty: Pty | undefined;
  beforeAll(async () => {
    env = await startRemoteEnv(chUrl);
    // Every unit takes 3 s (sleep's limit on 18.16), two at a time; u-1, u-10 and u-100,
    // the first three in id order, then fail: a permanent error, so their worker exits 1.
    s = writeSweep(env, {
      name: 'watch',
      template: 'SELECT {u:UInt32} AS u, sleep(3) AS s, throwIf({u:UInt32} = 1 OR {u:UInt32} = 10 OR {u:UInt32} = 100) AS t\n',
      params: { u: Array.from({ length: UNITS }, (_, i) => i + 1) },
      unit: ['u'],
      parallel: 2,
      concurrency: 1,
      retries: 0,
    });
    expect((await s.run(['generate', 'sweep.yaml'])).code).toBe(0);
    const submitted = await s.run(['submit-all', 'sweep.yaml'], { timeoutMs: 180_000 });
    expect(submitted.code, submitted.stderr).toBe(0);
    // Wait until the three failures are in: the screen below is taken mid-sweep.
    await waitFor(
      'three failed units',
      async () => Object.values((await env.pueue.status(s.group)).tasks).filter((t) => 'Done' in t.status && t.status.Done.result !== 'Success').length >= 3,
      90_000,
    );
  }, 300_000);
  afterAll(async () => {
    await pty?.stop();
    await env?.stop();
  });

  const env2 = () => cliEnv({ LANG: 'C.UTF-8', ...(env.ch.password !== undefined ? { CLICKHOUSE_PASSWORD: env.ch.password } : {}) });

  it('fits the 80x24 screen: header and totals on top, the failed and running units, a count of the rest; Ctrl-C exits 130', async () => {
    pty = await startPty([process.execPath, CLI, 'status', 'sweep.yaml', '--watch', '--interval', '1'], { cwd: s.local, env: env2(), columns: 80, rows: 24 });
    const p = pty;
    const screen = await p.waitForScreen(
      'a screen with the failed and running units',
      (rows) => rows.filter((r) => /^u-\d+\s+Failed\(1\)/.test(r)).length === 3 && rows.some((r) => /^u-\d+\s+Running/.test(r)),
      40_000,
    );
    const text = screen.join('\n');
    expect(screen.length).toBeLessThanOrEqual(24);
    expect(screen[0]).toMatch(/^sweep watch \| pueue group sweep-watch: Running \(parallel 2\)$/);
    expect(screen[1]).toMatch(/^\[[#-]{20}\] \d+\.\d% {2}\d+\/200 configs, 3 error\(s\)/);
    expect(screen[2]).toMatch(/^host sweep-test-remote: 200 units: (\d+ done, )?[12] running, \d+ queued, 3 failed( \| (\/tmp\/|…).*)?$/);
    expect(text).toMatch(/\nthe other units: (\d+ done, )?\d+ queued \(--all lists every unit\)\n/);
    expect(screen.at(-1)).toMatch(/every 1 s; Ctrl-C stops watching$/);
    // Never a row as wide as the terminal (the first part of a wrapped line), never a queued unit's row.
    for (const row of screen) expect(row.length, row).toBeLessThan(80);
    expect(screen.some((r) => /^u-\d+\s+Queued/.test(r))).toBe(false);
    // Redrawn in place: nothing scrolled into the history above the screen.
    const history = await p.screen({ history: true });
    expect(history.filter((r) => r.startsWith('sweep watch |'))).toHaveLength(1);

    await p.sendKeys('C-c');
    expect(await p.waitForExit(30_000)).toBe(130);
    // The last screen stays, once, whole (the echoed ^C drawn over), and the cursor waits below it.
    const after = await p.screen();
    expect(after.filter((r) => r.startsWith('sweep watch |')), after.join('\n')).toHaveLength(1);
    expect(after.filter((r) => /^u-\d+\s+Failed\(1\)/.test(r))).toHaveLength(3);
    expect(await p.cursorRow()).toBeGreaterThan(after.findIndex((r) => /Ctrl-C stops watching$/.test(r)));
  });

  it('resized to 60x16 and back: laid out again for each size at once, nothing wraps', async () => {
    await pty?.stop();
    pty = await startPty([process.execPath, CLI, 'status', 'sweep.yaml', '--watch', '--interval', '1'], { cwd: s.local, env: env2(), columns: 80, rows: 24 });
    const p = pty;
    await p.waitForScreen('the first screen', (rows) => rows.filter((r) => /^u-\d+\s+Failed\(1\)/.test(r)).length === 3, 40_000);
    await p.resize(60, 16);
    const small = await p.waitForScreen('the screen laid out for 60x16', (rows) => rows.length > 0 && rows.every((r) => r.length < 60) && /every 1 s/.test(rows.at(-1) ?? ''), 15_000);
    expect(small.length).toBeLessThanOrEqual(16);
    expect(small[0]).toMatch(/^sweep watch \| pueue group sweep-watch/);
    expect(small.filter((r) => /^u-\d+\s+Failed\(1\)/.test(r)).length).toBeGreaterThanOrEqual(1);
    // (What the terminal itself pushed into its scrollback while reflowing the old screen
    // is beyond any program's reach: the visible screen is what is checked.)
    await p.resize(80, 24);
    const big = await p.waitForScreen('the screen laid out for 80x24 again', (rows) => rows.some((r) => /^the other units: /.test(r) && r.length > 59), 15_000);
    expect(big.filter((r) => r.startsWith('sweep watch |'))).toHaveLength(1);
    expect(big.filter((r) => /^u-\d+\s+Failed\(1\)/.test(r))).toHaveLength(3);
    for (const row of big) expect(row.length, row).toBeLessThan(80);
  });

  it('without a terminal: one summary line per refresh, the report again only when a unit changed state', async () => {
    // A paused group: no unit changes state while we watch.
    expect((await env.pueue.pueue(['pause', '-g', s.group])).exitCode).toBe(0);
    // Watched through a pipe until two summary lines follow the report (or 60 s), then stopped.
    const child = spawn(process.execPath, [CLI, 'status', 'sweep.yaml', '--watch', '--interval', '0.3'], { cwd: s.local, env: env2(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 60_000);
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if ((stdout.match(/^watch: /gm) ?? []).length >= 2) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const res = { stdout };
    const lines = res.stdout.split('\n').filter((l) => l !== '');
    const reports = lines.filter((l) => l.startsWith('sweep watch |'));
    const summaries = lines.filter((l) => /^watch: \d+\.\d% \(\d+\/200\), \d+ running, \d+ waiting, 3 failed, 3 config error\(s\)/.test(l));
    expect(reports, res.stdout).toHaveLength(1);
    expect(summaries.length, res.stdout).toBeGreaterThanOrEqual(2);
    expect(lines.indexOf(reports[0] ?? '')).toBe(0);
    // The report lists the failed and running (here paused) units, not one row per unit.
    expect(lines.filter((l) => /^u-\d+\s+Failed\(1\)/.test(l))).toHaveLength(3);
    expect(lines.filter((l) => /^u-\d+\s+Queued/.test(l))).toHaveLength(0);
    expect(res.stdout.includes('\u001b')).toBe(false);
  });
});
