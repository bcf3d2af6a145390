// Builds dist/worker.mjs: the whole CLI as one file, so `node worker.mjs run-unit ...`
// on the remote runs exactly this version with nothing installed there.
// chdb is a native addon loaded lazily by the embedded engine only: kept external.
// vega and vega-lite draw `sweep report`'s charts, imported on first use; the worker
// never draws (2 MB it would ship and parse for nothing): kept external too.
// The createRequire banner lets bundled CommonJS dependencies call require() from ESM.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/bin.ts'],
  outfile: 'dist/worker.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['chdb', 'vega', 'vega-lite'],
  banner: {
    js: "import { createRequire as __sweepCreateRequire } from 'node:module'; const require = __sweepCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
