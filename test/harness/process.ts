/**
 * Process plumbing shared by the harnesses: running a program with an argv
 * array (never a shell string) and finding a free loopback port.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** null when the process was killed by a signal (or by our timeout). */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

/**
 * Run a program to its end; a non-zero exit is a result, not an error (only a
 * program that cannot start rejects). Its stdin gets `input`, then EOF, so a
 * program like ssh never waits on ours.
 */
export function runFile(
  file: string,
  args: string[],
  options: { env: Record<string, string>; timeoutMs: number; cwd?: string; input?: string },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env: options.env, cwd: options.cwd, timeout: options.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          reject(new Error(`could not run ${file}: ${err.message}`));
          return;
        }
        resolve({
          stdout,
          stderr,
          exitCode: err ? (typeof err.code === 'number' ? err.code : null) : 0,
          signal: (err?.signal as NodeJS.Signals | undefined) ?? null,
          timedOut: err?.killed === true && err.signal === 'SIGKILL',
        });
      },
    );
    if (options.input === undefined) child.stdin?.end();
    else child.stdin?.end(options.input);
  });
}

/** A port free on 127.0.0.1 right now (it can be taken before use: callers retry). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
