// Builds dist/src/grid/math-instance.bundle.mjs: the mathjs factories `where:` uses
// (src/grid/math-instance.ts), tree-shaken into one file. Loading mathjs's number
// build as separate modules takes 0.5 to 1 s (hundreds of files through the ESM
// loader) on every generate with a `where:`; this one file loads in about 20 ms.
// src/grid/where.ts falls back to the unbundled module when this file is absent
// (tests on the TypeScript source, the worker bundle).
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/grid/math-instance.js'],
  outfile: 'dist/src/grid/math-instance.bundle.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
});
