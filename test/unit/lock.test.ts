import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { acquireUnitLock } from '../../src/worker/lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sweep-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.each(['flock', 'pidfile'] as const)('unit lock (%s)', (method) => {
  it('is exclusive, names its holder, and is free again after release', async () => {
    const path = join(dir, 'u.lock');
    const a = await acquireUnitLock(path, { method });
    const err = await acquireUnitLock(path, { method }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe('LOCK_HELD');
    expect((err as UserError).message).toContain(`${hostname()} pid ${process.pid}`);
    await a.release();
    const b = await acquireUnitLock(path, { method });
    await b.release();
  });

  it('does not let a dead holder block the next worker', async () => {
    const path = join(dir, 'u.lock');
    // A holder process that dies by SIGKILL while holding the lock.
    // Node 20 cannot run TypeScript: bundle lock.ts for the holder process.
    const bundle = join(dir, 'lock.mjs');
    await build({ entryPoints: [new URL('../../src/worker/lock.ts', import.meta.url).pathname], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'error' });
    const script = `
      const { acquireUnitLock } = await import(${JSON.stringify(bundle)});
      await acquireUnitLock(${JSON.stringify(path)}, { method: ${JSON.stringify(method)} });
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
      child.on('exit', (c) => reject(new Error(`holder exited ${c}`)));
    });
    child.removeAllListeners('exit');
    const held = await acquireUnitLock(path, { method }).catch((e: unknown) => e);
    expect((held as UserError).message).toContain(`pid ${child.pid}`);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const next = await acquireUnitLock(path, { method });
    expect(JSON.parse(readFileSync(method === 'flock' ? path : `${path}.pid`, 'utf8'))).toMatchObject({ pid: process.pid });
    await next.release();
  });
});

it('the pid-file fallback takes over a file whose holder never recorded itself', async () => {
  const path = join(dir, 'u.lock');
  writeFileSync(`${path}.pid`, '');
  const { utimesSync } = await import('node:fs');
  utimesSync(`${path}.pid`, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  const lock = await acquireUnitLock(path, { method: 'pidfile' });
  await lock.release();
});
