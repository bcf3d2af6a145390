/**
 * Short temp dirs for test daemons, removed by `remove()` or, failing that, when
 * the test process exits.
 *
 * Always directly under /tmp, not os.tmpdir(): a unix socket path must fit in
 * sun_path (108 bytes on Linux, 104 on macOS), and TMPDIR can be long (macOS
 * /var/folders/..., CI runners' workspace dirs). `/tmp/sweep-pq-XXXXXX/run/pueue.sock`
 * stays under 40 bytes.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';

export interface TempDir {
  /** Absolute, symlink-free path (so it compares equal to what tools like pueue print). */
  path: string;
  /** Remove the dir and everything in it; safe to call twice. */
  remove(): Promise<void>;
}

const pending = new Set<string>();
let exitHookInstalled = false;

/** Create `/tmp/sweep-<tag>-XXXXXX`; `tag` is a few letters saying who owns it. */
export function makeTempDir(tag: string): TempDir {
  if (!/^[a-z0-9-]{1,12}$/.test(tag)) throw new Error(`temp dir tag must be 1-12 of [a-z0-9-], got ${JSON.stringify(tag)}`);
  const path = realpathSync(mkdtempSync(`/tmp/sweep-${tag}-`));
  pending.add(path);
  installExitHook();
  return {
    path,
    remove: async () => {
      pending.delete(path);
      await rm(path, { recursive: true, force: true });
    },
  };
}

// A test that throws before its afterAll, or a worker torn down early, must not
// leave dirs behind. 'exit' handlers must be synchronous, hence rmSync.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const path of pending) {
      try {
        rmSync(path, { recursive: true, force: true });
      } catch {
        // Best effort at exit: nothing left to report to.
      }
    }
  });
}
