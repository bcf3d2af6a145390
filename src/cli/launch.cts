#!/usr/bin/env node
/**
 * The `sweep` binary: sizes libuv's thread pool, then loads the CLI (bin.js).
 *
 * Why a CommonJS launcher: the embedded engine (chDB) runs each query on
 * libuv's thread pool, 4 threads unless UV_THREADPOOL_SIZE is set before the
 * pool first starts, so `sweep run --jobs 2` (16 queries in flight per unit)
 * ran 4 at a time. Node's ESM loader reads module files through that pool,
 * so an ES module is too late to set it; a CommonJS entry is read
 * synchronously and runs before anything touches the pool. Measured on the
 * demo (`npm run bench` notes the figure); re-exec of node measured slower
 * (a second process start). More threads than two per core measured slower
 * still (queries thrash), so the size is capped there. A value the user set is kept.
 */
const argv = process.argv.slice(2);
if (process.env['UV_THREADPOOL_SIZE'] === undefined && argv[0] === 'run') {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i >= 0) return argv[i + 1];
    const eq = argv.find((a) => a.startsWith(`${flag}=`));
    return eq?.slice(flag.length + 1);
  };
  const jobs = Number(value('--jobs') ?? 1) || 1;
  // The spec's concurrency is not read here (it needs the YAML parser): a number on the
  // command line, else room for the default 16 and auto's 32.
  const concurrency = Number(value('--concurrency')) || 32;
  // Plus the engine's own control sessions (version, KILL QUERY). Capped at two per core:
  // embedded queries are CPU work in this process, and on 2 cores a pool of 132 (--jobs 4,
  // concurrency 32) ran the demo at 0.62x the default 4 threads (npm run bench -- demo).
  // This file is CommonJS by design (see above), so require is its import.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cores = (require('node:os') as typeof import('node:os')).availableParallelism();
  process.env['UV_THREADPOOL_SIZE'] = String(Math.max(4, Math.min(1024, jobs * concurrency + 4, 2 * cores)));
}
void import('./bin.js');
