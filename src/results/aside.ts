/**
 * `--fresh`: a sweep's current results moved aside, never deleted, to
 * `results/.previous/<time>/` (per-unit record files, their shapes, and the
 * records compaction had already moved aside). Unit lock files stay where they
 * are: a lock file is never replaced (lock.ts). Node builtins only: the remote
 * host runs this module too (src/host/).
 */
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export const PREVIOUS_DIR = '.previous';

/** Move every result file of `<sweepDir>/results` aside; returns where to and how many entries, or undefined when there was nothing. */
export function moveResultsAside(sweepDir: string, now = new Date()): { dir: string; entries: number } | undefined {
  const results = join(sweepDir, 'results');
  if (!existsSync(results)) return undefined;
  const entries = readdirSync(results).filter((e) => e !== PREVIOUS_DIR && !e.endsWith('.lock') && !e.endsWith('.lock.pid'));
  if (entries.length === 0) return undefined;
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let dir = join(results, PREVIOUS_DIR, stamp);
  for (let n = 2; existsSync(dir); n++) dir = join(results, PREVIOUS_DIR, `${stamp}-${n}`);
  mkdirSync(dir, { recursive: true });
  for (const e of entries) renameSync(join(results, e), join(dir, e));
  return { dir, entries: entries.length };
}
