/**
 * Writing one unit's SQL files: built in <staging>/<unit> (unchanged files
 * hard-linked in, so their mtime is kept and rsync skips them) and swapped in by
 * rename. Runs in a worker thread when it can (see unit-writer-thread.ts), so the
 * kernel work of 300K small writes overlaps the main thread's rendering and
 * hashing; a plain-data job makes that possible.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

export interface UnitWriteJob {
  unit: string;
  files: Array<{ id: string; sql: string; sha: string }>;
  /** config id -> sql sha256 from the previous run's unit index; null: compare contents. */
  before: Array<[string, string]> | null;
  sqlRoot: string;
  staging: string;
}

export interface WriteCounts {
  written: number;
  unchanged: number;
  removed: number;
}

export function writeUnit(job: UnitWriteJob): WriteCounts {
  const counts: WriteCounts = { written: 0, unchanged: 0, removed: 0 };
  const before = job.before ? new Map(job.before) : undefined;
  const target = join(job.sqlRoot, job.unit);
  const exists = existsSync(target);
  const present = exists ? new Set(readdirSync(target)) : new Set<string>();
  const expected = new Set(job.files.map((f) => `${f.id}.sql`));
  if (exists && before && before.size === job.files.length && present.size === expected.size && [...expected].every((f) => present.has(f))) {
    if (job.files.every((f) => before.get(f.id) === f.sha)) {
      counts.unchanged += job.files.length;
      return counts;
    }
  }
  const stage = join(job.staging, job.unit);
  mkdirSync(stage);
  for (const f of job.files) {
    const name = `${f.id}.sql`;
    const current = join(target, name);
    const same = present.has(name) && (before ? before.get(f.id) === f.sha : contentEquals(current, f.sql));
    if (same) {
      linkSync(current, join(stage, name)); // same inode: mtime preserved
      counts.unchanged++;
    } else {
      writeFileSync(join(stage, name), f.sql);
      counts.written++;
    }
  }
  for (const name of present) if (name.endsWith('.sql') && !expected.has(name)) counts.removed++;
  if (exists) {
    const trash = join(job.staging, `${job.unit}.old`);
    renameSync(target, trash);
    renameSync(stage, target);
    rmSync(trash, { recursive: true, force: true });
  } else {
    renameSync(stage, target);
  }
  return counts;
}

function contentEquals(path: string, text: string): boolean {
  try {
    return readFileSync(path, 'utf8') === text;
  } catch {
    return false;
  }
}

export interface UnitWriter {
  /** Resolves when the unit is written and swapped in. */
  write(job: UnitWriteJob): Promise<WriteCounts>;
  close(): Promise<void>;
}

/**
 * A writer thread when the compiled thread module is there (the built CLI);
 * otherwise (tests running the TypeScript source, the worker bundle) the same
 * work inline.
 */
export function openUnitWriter(): UnitWriter {
  const threadFile = fileURLToPath(new URL('./unit-writer-thread.js', import.meta.url));
  if (!existsSync(threadFile) || !existsSync(fileURLToPath(new URL('./unit-writer.js', import.meta.url)))) {
    return { write: (job) => Promise.resolve(writeUnit(job)), close: () => Promise.resolve() };
  }
  // A parent started with `--input-type` (node -e) passes it on; Node refuses it for a file.
  const worker = new Worker(threadFile, { execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')) });
  let nextId = 0;
  const pending = new Map<number, { resolve: (c: WriteCounts) => void; reject: (e: Error) => void }>();
  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (msg: { id: number; counts?: WriteCounts; error?: string }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.counts) p.resolve(msg.counts);
    else p.reject(new Error(msg.error ?? 'unit writer failed'));
  });
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`unit writer thread exited (${code})`)));
  return {
    write(job) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, job });
      });
    },
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
