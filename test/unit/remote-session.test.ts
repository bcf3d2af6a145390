/**
 * The step protocol and the node steps, through the local transport (a real
 * `bash -s` speaking exactly what ssh carries).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRecord } from '../../src/results/record.js';

const TARGET = 'http://127.0.0.1:8123/default';
import { LocalTransport } from '../../src/transport/local.js';
import { discoveryStep, nodeStep, parseDiscovery, parseNodeResult, remoteModules, runtimeImports } from '../../src/host/remote-script.js';
import type { UnitProbe } from '../../src/host/remote-side.js';
import { shQuote } from '../../src/transport/shell-quote.js';
import { RemoteError } from '../../src/transport/transport.js';

const scratch = mkdtempSync(join(tmpdir(), 'sweep-session-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('ShellSession (local bash -s)', () => {
  it('runs steps in order in one shell: variables persist, stdout/stderr/exit status come back per step', async () => {
    const t = new LocalTransport();
    const s = t.openSession();
    try {
      const a = await s.run('X=42; printf out1; echo err1 >&2; return 3', { step: 'a', timeoutMs: 5_000 });
      expect(a).toEqual({ stdout: 'out1', stderr: 'err1\n', code: 3 });
      const b = await s.run('printf "%s\\n" "$X"', { step: 'b', timeoutMs: 5_000 });
      expect(b).toEqual({ stdout: '42\n', stderr: '', code: 0 });
    } finally {
      await s.close();
    }
    expect(t.stats).toMatchObject({ sessions: 1 });
  });

  it('gives a step stdin from /dev/null, so a command that reads stdin cannot swallow the next step', async () => {
    const s = new LocalTransport().openSession();
    try {
      const a = await s.run('cat; echo "read: $(head -c 10)"', { step: 'a', timeoutMs: 5_000 });
      expect(a.stdout).toBe('read: \n');
      const b = await s.run('echo still here', { step: 'b', timeoutMs: 5_000 });
      expect(b.stdout).toBe('still here\n');
    } finally {
      await s.close();
    }
  });

  it('brings large outputs back whole, with no pipeline in between to lose them (bash tier: SIGPIPE 141, while-read in a subshell)', async () => {
    const s = new LocalTransport().openSession();
    try {
      const a = await s.run(`head -c 5000000 /dev/zero | tr '\\0' x; printf end`, { step: 'big', timeoutMs: 20_000 });
      expect(a.stdout.length).toBe(5_000_003);
      expect(a.stdout.endsWith('xend')).toBe(true);
      expect(a.code).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('is not fooled by output that imitates an end marker', async () => {
    const s = new LocalTransport().openSession();
    try {
      const a = await s.run("printf '\\n__SWEEP_END_0000 0\\n'; echo after", { step: 'a', timeoutMs: 5_000 });
      expect(a.stdout).toBe('\n__SWEEP_END_0000 0\nafter\n');
    } finally {
      await s.close();
    }
  });

  it('runs nothing of a step that does not parse (a whole function is parsed before it runs)', async () => {
    const s = new LocalTransport().openSession();
    const ran = join(scratch, 'ran');
    const err = await s.run(`touch ${shQuote(ran)}\nif then fi`, { step: 'bad', timeoutMs: 5_000 }).catch((e: unknown) => e);
    // A non-interactive bash exits on a syntax error: the session is over, and says so.
    expect((err as Error).message).toMatch(/^local: bad: .*\n.*syntax error/s);
    expect(existsSync(ran)).toBe(false);
    await s.close();
  });

  it('times out a step with an error naming the host and the step, and kills the session', async () => {
    const s = new LocalTransport().openSession();
    const err = await s.run('sleep 30', { step: 'slow-step', timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(String((err as Error).message)).toMatch(/^local: slow-step: no answer within 0\.3 s/);
    const t0 = Date.now();
    await s.close();
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('turns a session that dies mid-step into an error naming the host and the step', async () => {
    const s = new LocalTransport().openSession();
    const err = await s.run('echo dying >&2; exit 7', { step: 'doomed', timeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as Error).message).toMatch(/^local: doomed: the local shell ended unexpectedly \(exit 7\):\n {2}dying/);
    const again = await s.run('true', { step: 'next', timeoutMs: 1_000 }).catch((e: unknown) => e);
    expect((again as Error).message).toMatch(/^local: next:/);
    await s.close();
  });
});

describe('discovery', () => {
  it('finds node >= 20 and pueue 4 off PATH (~/.local/bin, ~/.cargo/bin) and reports what it skipped', async () => {
    const home = join(scratch, 'home');
    const fake = (path: string, script: string): void => {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, `#!/bin/sh\n${script}\n`);
      chmodSync(path, 0o755);
    };
    const pathDir = join(scratch, 'pathbin');
    fake(join(pathDir, 'node'), 'printf 18.19.0'); // too old, first on PATH
    fake(join(pathDir, 'pueue'), 'echo "pueue 3.4.1"'); // v3, first on PATH
    fake(join(home, '.local', 'bin', 'node'), 'printf 20.11.1');
    fake(join(home, '.cargo', 'bin', 'pueue'), 'echo "pueue 4.0.4"');
    fake(join(home, '.cargo', 'bin', 'pueued'), 'true');
    const s = new LocalTransport().openSession();
    try {
      const body = `export HOME=${shQuote(home)} PATH=${shQuote(`${pathDir}:/usr/bin:/bin`)}\n${discoveryStep()}`;
      const d = parseDiscovery((await s.run(body, { step: 'connect', timeoutMs: 10_000 })).stdout);
      expect(d.node).toEqual({ path: join(home, '.local', 'bin', 'node'), version: '20.11.1' });
      expect(d.pueue).toEqual({ path: join(home, '.cargo', 'bin', 'pueue'), version: '4.0.4' });
      expect(d.pueued).toBe(join(home, '.cargo', 'bin', 'pueued'));
      expect(d.seen).toContain(`${join(pathDir, 'node')}: node 18.19.0`);
      expect(d.seen).toContain(`${join(pathDir, 'pueue')}: pueue 3.4.1`);
    } finally {
      await s.close();
    }
  });
});

describe('node steps', () => {
  it('ships only modules whose runtime imports are node: builtins', () => {
    const m = remoteModules();
    for (const text of [m.ndjson, m.remoteSide, m.runSql]) {
      const imports = runtimeImports(text);
      expect(imports.every((s) => s.startsWith('node:'))).toBe(true);
    }
    expect(runtimeImports(`import { x } from './y.js';\nimport 'z';\nconst a = await import('w');`)).toEqual(['./y.js', 'z', 'w']);
  });

  it('audits a unit on the host with the shared NDJSON reader: done, errors, stale SQL, another target, torn tail', async () => {
    const dir = join(scratch, 'sweepdir');
    mkdirSync(join(dir, 'units'), { recursive: true });
    mkdirSync(join(dir, 'results'), { recursive: true });
    const sha = (n: number): string => n.toString(16).padStart(64, '0');
    const index = JSON.stringify({ v: 1, sweep: 's', unit: 'u', params: {}, configs: [1, 2, 3, 4].map((n) => ({ id: `c${n}`, params: {}, sql_sha256: sha(n) })) });
    writeFileSync(join(dir, 'units', 'u.json'), index);
    const rec = (c: number, status: 'ok' | 'skipped' | 'error', s = sha(c), target = TARGET): string =>
      `${JSON.stringify(
        makeRecord({ config: `c${c}`, status, sql_sha256: s, target, setup: null, sweep: 's', unit: 'u', params: {}, shape: null, rows: [], rows_read: 0, bytes_read: 0, elapsed_ms: 1, attempts: 1, query_id: 'q', max_threads: 1, engine: 'http', host: 'h', worker: '0', started_at: '', finished_at: '' }),
      )}\n`;
    writeFileSync(join(dir, 'results', 'u.ndjson'), rec(1, 'ok') + rec(2, 'error') + rec(3, 'ok', sha(99)) + rec(4, 'skipped', sha(4), 'embedded:/elsewhere/.chdb@h') + '{"v":2,"conf');
    const { createHash } = await import('node:crypto');
    const indexSha = createHash('sha256').update(index).digest('hex');
    const s = new LocalTransport().openSession();
    try {
      await s.run(`SWEEP_NODE=${shQuote(process.execPath)}`, { step: 'setup', timeoutMs: 5_000 });
      const input = { sweep: 's', group: 'g', sweepDir: dir, node: process.execPath, pueue: { bin: '/nonexistent/pueue', config: null }, units: [{ id: 'u', indexSha256: indexSha }, { id: 'gone', indexSha256: sha(1) }],
        origin: { target: TARGET, setupSha: null, setupRecordPath: join(dir, '.sweep', 'setup', 'none.json'), forceSetup: false },
      };
      const out = parseNodeResult<{ units: Record<string, UnitProbe>; daemon: { ok: boolean; message?: string }; dirExists: boolean }>(
        'local',
        'inspect',
        await s.run(nodeStep('inspect', input), { step: 'inspect', timeoutMs: 20_000 }),
      );
      // c3: its SQL changed; c4: written for another target. Neither counts.
      expect(out.units['u']).toEqual({ index: 'same', total: 4, ok: 1, skipped: 0, error: 1, remaining: 2, torn: true, bad: 0, bytes: expect.any(Number) });
      expect(out.units['gone']?.index).toBe('missing');
      expect(out.daemon.ok).toBe(false);
      expect(out.dirExists).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('passes a secret to node only through its environment, and reports a remote exception as an error naming the step', async () => {
    const s = new LocalTransport().openSession();
    try {
      await s.run(`SWEEP_NODE=${shQuote(process.execPath)}`, { step: 'setup', timeoutMs: 5_000 });
      const res = await s.run(nodeStep('prepare', { sweepDir: '/etc/passwd/not-a-dir', group: 'g', pueue: { bin: 'x', config: null }, removeIds: [], files: [], writePassword: true, fresh: false }, { SWEEP_CLICKHOUSE_PASSWORD: "it's $(secret)" }), {
        step: 'prepare',
        timeoutMs: 20_000,
      });
      expect(() => parseNodeResult('local', 'prepare', res)).toThrow(/^local: prepare: failed on the remote:/);
    } finally {
      await s.close();
    }
  });
});
