// Builds dist/worker.mjs: the worker (run-unit, setup-target) as one file, so
// `node worker.mjs run-unit ...` on the remote runs exactly this version with nothing
// installed there. Its entry is src/worker/main.ts, not the CLI: a unit task loads only
// what a unit needs (measured by `npm run bench -- worker`).
// chdb is a native addon loaded lazily by the embedded engine only: kept external.
// The createRequire banner lets bundled CommonJS dependencies call require() from ESM.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/worker/main.ts'],
  outfile: 'dist/worker.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['chdb'],
  banner: {
    js: "import { createRequire as __sweepCreateRequire } from 'node:module'; const require = __sweepCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
