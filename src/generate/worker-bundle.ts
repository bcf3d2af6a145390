/**
 * The worker bundle (dist/worker.mjs, built by esbuild in `npm run build`):
 * generate copies it into the sweep dir so the remote runs exactly this version.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKER_BUNDLE = 'worker.mjs';

/** The package root: the nearest parent of this module holding sweep's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sweep') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the sweep package root');
    dir = parent;
  }
}

export function workerBundlePath(): string {
  return join(packageRoot(), 'dist', WORKER_BUNDLE);
}
