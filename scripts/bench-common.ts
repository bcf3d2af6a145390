/** What the bench scripts share: their flag readers and the measured child process. */
import { execFileSync } from 'node:child_process';

/** `--name value` from a bench's argv, or `fallback` when absent. */
export function flagText(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
}

/** `--name N` from a bench's argv as a number, or `fallback` when absent. */
export function flagNumber(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

/** One measurement a child process reports as the last line of its stdout. */
export interface ChildMeasure {
  /** Wall time of the measured step, ms. */
  ms: number;
  /** Peak resident set of the child, MB. */
  maxRssMb: number;
  /** CPU seconds of the whole process, every thread (chDB's included). */
  cpuS?: number;
  detail?: unknown;
}

/**
 * Runs `code` as an ES module in a fresh node process (so its RSS is its own) and
 * parses the JSON measurement it prints last. Throws when the child fails.
 */
export function measureChild(code: string): ChildMeasure {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop() as string) as ChildMeasure;
}
