/**
 * The worker's own log file, `<sweep dir>/logs/<unit>.log` on the host that
 * runs the unit: kept across submissions (pueue's task logs go when
 * submit-all removes the finished tasks), bounded in size (past `maxBytes`
 * the file becomes `<unit>.log.1`, replacing the older one), one line per
 * event with an ISO time in front. Appends are synchronous: a handful of
 * lines a minute, and a line must be on disk when the process is killed.
 */
import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const LOGS_DIR = 'logs';
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

export function unitLogPath(sweepDir: string, unit: string): string {
  return join(sweepDir, LOGS_DIR, `${unit}.log`);
}

export class UnitLogFile {
  private size: number;
  private failed = false;

  constructor(
    readonly path: string,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    try {
      this.size = statSync(path).size;
    } catch {
      this.size = 0;
    }
  }

  /** Append one line; a full disk never stops the worker (the line still reached stderr). */
  write(line: string): void {
    if (this.failed) return;
    const text = `${new Date().toISOString()} ${line.replace(/\n/g, '\n  ')}\n`;
    try {
      if (this.size + text.length > this.maxBytes && this.size > 0) {
        renameSync(this.path, `${this.path}.1`);
        this.size = 0;
      }
      appendFileSync(this.path, text);
      this.size += Buffer.byteLength(text);
    } catch {
      this.failed = true;
    }
  }
}
