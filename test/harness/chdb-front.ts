/**
 * Starts the TEST-ONLY chDB-backed HTTP front (chdb-http-front.mjs) in a child
 * process: a current ClickHouse (chDB 26.x) behind the HTTP interface, with
 * current defaults, for the http engine's tests of what current servers send.
 * A child process because chDB allows one data directory per process.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir } from './tmp.js';

export interface ChdbFront {
  url: string;
  stop(): Promise<void>;
}

export async function startChdbFront(): Promise<ChdbFront> {
  const tmp = makeTempDir('chfront');
  const child = spawn(process.execPath, [join(import.meta.dirname, 'chdb-http-front.mjs'), join(tmp.path, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`chDB front did not start within 60 s: ${stderr.slice(-500)}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chDB front exited (${code}): ${stderr.slice(-500)}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await tmp.remove();
    },
  };
}
