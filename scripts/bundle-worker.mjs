// Builds dist/worker.mjs: the whole CLI as one file, so `node worker.mjs run-unit ...`
// on the remote runs exactly this version with nothing installed there.
// chdb is a native addon loaded lazily by the embedded engine only: kept external.
// The createRequire banner lets bundled CommonJS dependencies call require() from ESM.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/bin.ts'],
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
