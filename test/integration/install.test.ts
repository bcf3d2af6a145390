/**
 * The ways a user gets `sweep`, tried for real: `npx sweep` in the checkout
 * (no registry involved), `npm install -g .` into a private prefix puts
 * `sweep` on PATH, and the package `npm pack` makes holds the CLI, the worker
 * bundle and the example sweep (installing that tarball on a clean prefix,
 * which downloads the dependencies, is done by .ci/run).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from '../helpers/cli.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function run(file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: opts.cwd, env: opts.env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** npm with its cache and config in the temp dir's hands: offline, so nothing can come from the registry. */
function npmEnv(dir: string, path: string): NodeJS.ProcessEnv {
  return {
    PATH: path,
    HOME: process.env['HOME'] ?? '/root',
    npm_config_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    npm_config_userconfig: join(dir, 'npmrc'),
  };
}

describe('installing sweep', () => {
  let t: { dir: string; cleanup: () => void };
  beforeAll(() => {
    t = tempDir('sweep-install-');
  });
  afterAll(() => t.cleanup());

  it('npx sweep runs the checkout\'s own CLI, offline', async () => {
    const res = await run('npx', ['sweep', '--version'], { cwd: REPO_ROOT, env: npmEnv(t.dir, process.env['PATH'] ?? '') });
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe(VERSION);
  });

  it('npm install -g . puts sweep on PATH (a private prefix), and it finds its worker bundle and runs generate', async () => {
    const prefix = join(t.dir, 'prefix');
    const installed = await run('npm', ['install', '-g', '--prefix', prefix, '.'], { cwd: REPO_ROOT, env: npmEnv(t.dir, process.env['PATH'] ?? '') });
    expect(installed.code, installed.stderr).toBe(0);
    const bin = join(prefix, 'bin', 'sweep');
    expect(existsSync(bin)).toBe(true);
    // Only the prefix's bin and node's dir on PATH: `sweep` is found there, from anywhere.
    const work = join(t.dir, 'work');
    mkdirSync(work);
    const env = { PATH: `${join(prefix, 'bin')}:${join(process.execPath, '..')}:/usr/bin:/bin`, HOME: process.env['HOME'] ?? '/root' };
    const version = await run('sweep', ['--version'], { cwd: work, env });
    expect(version.stdout.trim()).toBe(VERSION);
    const generated = await run('sweep', ['generate', join(REPO_ROOT, 'sql', 'breakout.yaml'), '--out', join(work, 'out'), '--json'], { cwd: work, env });
    expect(generated.code, generated.stderr).toBe(0);
    expect(JSON.parse(generated.stdout)).toMatchObject({ configs: 36, units: 12 });
    expect(existsSync(join(work, 'out', 'worker.mjs'))).toBe(true);
  });

  it('npm pack holds the CLI, the worker bundle and the example sweep, and no tests', async () => {
    // --ignore-scripts: npm test built dist already (prepack would build it again under the other tests' feet).
    const res = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, env: npmEnv(t.dir, process.env['PATH'] ?? '') });
    expect(res.code, res.stderr).toBe(0);
    const [pack] = JSON.parse(res.stdout) as Array<{ files: Array<{ path: string }> }>;
    const files = (pack?.files ?? []).map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/src/cli/bin.js', 'dist/worker.mjs', 'sql/breakout.yaml', 'sql/breakout.sql', 'sql/breakout-setup.sql']));
    expect(files.filter((f) => f.startsWith('dist/test/') || f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  });
});
