/**
 * The step protocol spoken to one `bash -s` (over ssh, or local). Each step is
 * sent as a whole bash function definition followed by its call, so bash
 * parses the step completely before running any of it: a connection cut
 * mid-script runs nothing of the cut step. The call gets stdin from
 * /dev/null, so no command can swallow the rest of the script, which bash is
 * reading from the same stdin. After the call the session prints an end
 * marker with the exit status on stdout and on stderr; the marker carries a
 * random nonce, so no output of a step can fake it.
 */
import { randomBytes } from 'node:crypto';
import type { ResultPromise } from 'execa';
import { RemoteError, tail, type RemoteSession, type StepOptions, type StepResult } from './transport.js';

const CLOSE_TIMEOUT_MS = 5_000;

interface Pending {
  step: string;
  resolve: (r: StepResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ShellProcessInfo {
  host: string;
  /** The shell leads its own process group (local bash): kill the group, so its children go too. */
  processGroup?: boolean;
  /** Words for "could not connect" messages, e.g. "ssh exited with 255". */
  describeExit: (code: number | undefined, signal: string | undefined, spawnError: string | undefined) => string;
}

export class ShellSession implements RemoteSession {
  private readonly child: ResultPromise;
  private readonly info: ShellProcessInfo;
  private readonly nonce = randomBytes(12).toString('hex');
  private stdout = '';
  private stderr = '';
  private outScanned = 0;
  private errScanned = 0;
  /** All stderr seen, for the message when the process dies. */
  private stderrAll = '';
  private pending: Pending | undefined;
  private exited: { code: number | undefined; signal: string | undefined; spawnError: string | undefined } | undefined;
  private steps = 0;
  private closing = false;

  constructor(child: ResultPromise, info: ShellProcessInfo) {
    this.child = child;
    this.info = info;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      this.stdout += d;
      this.check();
    });
    child.stderr?.on('data', (d: string) => {
      this.stderr += d;
      this.stderrAll = (this.stderrAll + d).slice(-16_384);
      this.check();
    });
    // A write to a dead process must surface as the step's error, not crash us.
    child.stdin?.on('error', () => undefined);
    const spawnError = (r: { exitCode?: number; signal?: string; code?: string }): string | undefined =>
      r.exitCode === undefined && r.signal === undefined ? (r.code ?? 'failed to start') : undefined;
    child.then(
      (r) => this.onExit(r.exitCode, r.signal, spawnError(r as { code?: string })),
      (err: { exitCode?: number; signal?: string; code?: string }) => this.onExit(err.exitCode, err.signal, spawnError(err)),
    );
  }

  run(body: string, options: StepOptions): Promise<StepResult> {
    if (this.pending) return Promise.reject(new Error(`session: step ${options.step} started while ${this.pending.step} is running`));
    if (this.exited) return Promise.reject(this.deadError(options.step));
    const fn = `__sweep_step_${++this.steps}`;
    const marker = `__SWEEP_END_${this.nonce}`;
    const script =
      `${fn}() {\n${body}\n}\n` +
      `${fn} </dev/null\n` +
      `__sweep_rc=$?\n` +
      `printf '\\n%s %s\\n' '${marker}' "$__sweep_rc"\n` +
      `printf '\\n%s\\n' '${marker}' >&2\n`;
    return new Promise<StepResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.kill();
        reject(new RemoteError(this.info.host, options.step, `no answer within ${formatSeconds(options.timeoutMs)} s (timed out; the session was closed)`, 'REMOTE_TIMEOUT'));
      }, options.timeoutMs);
      this.pending = { step: options.step, resolve, reject, timer };
      this.child.stdin?.write(script);
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.exited) {
      this.child.stdin?.end();
      const timer = setTimeout(() => this.kill(), CLOSE_TIMEOUT_MS);
      await this.child.catch(() => undefined);
      clearTimeout(timer);
    }
    // A killed shell's children may still hold its pipes open: stop reading them.
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }

  abort(): void {
    if (this.exited) return;
    this.kill();
  }

  private check(): void {
    const p = this.pending;
    if (!p) return;
    const marker = `\n__SWEEP_END_${this.nonce}`;
    // Search only what arrived since the last look (outputs can be megabytes).
    const outIdx = this.stdout.indexOf(`${marker} `, this.outScanned);
    const outEnd = outIdx === -1 ? -1 : this.stdout.indexOf('\n', outIdx + marker.length + 1);
    const errIdx = this.stderr.indexOf(`${marker}\n`, this.errScanned);
    if (outEnd === -1) this.outScanned = Math.max(0, (outIdx === -1 ? this.stdout.length : outIdx) - marker.length - 1);
    if (errIdx === -1) this.errScanned = Math.max(0, this.stderr.length - marker.length - 1);
    if (outEnd === -1 || errIdx === -1) return;
    const code = Number(this.stdout.slice(outIdx + marker.length + 1, outEnd));
    const stdout = this.stdout.slice(0, outIdx);
    const stderr = this.stderr.slice(0, errIdx);
    this.stdout = this.stdout.slice(outEnd + 1);
    this.stderr = this.stderr.slice(errIdx + marker.length + 1);
    this.outScanned = 0;
    this.errScanned = 0;
    clearTimeout(p.timer);
    this.pending = undefined;
    p.resolve({ stdout, stderr, code });
  }

  private onExit(code: number | undefined, signal: string | undefined, spawnError: string | undefined): void {
    this.exited = { code, signal, spawnError };
    const p = this.pending;
    if (!p) return;
    // Output may still be buffered in the stream: let 'data' events drain first.
    setImmediate(() => {
      this.check();
      if (this.pending !== p) return;
      clearTimeout(p.timer);
      this.pending = undefined;
      p.reject(this.deadError(p.step));
    });
  }

  private deadError(step: string): RemoteError {
    const e = this.exited;
    const why = this.info.describeExit(e?.code, e?.signal, e?.spawnError);
    const detail = tail(this.stderrAll);
    return new RemoteError(this.info.host, step, `${why}${detail ? `:\n${indent(detail)}` : ''}`, 'REMOTE_UNREACHABLE');
  }

  private kill(): void {
    try {
      if (this.info.processGroup && this.child.pid !== undefined) process.kill(-this.child.pid, 'SIGKILL');
      else this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000));
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
