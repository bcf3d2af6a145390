import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

// In a child process (V8 flags are per process, and %GetOptimizationStatus needs
// --allow-natives-syntax): a hot function stays unoptimized while TurboFan is
// deferred, and gets optimized once the threshold is passed.
it('keeps TurboFan off until the run has finished enough configs, then turns it back on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sweep-jit-'));
  try {
    const bundle = join(dir, 'jit.mjs');
    await build({ entryPoints: [new URL('../../src/worker/jit.ts', import.meta.url).pathname], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'error' });
    const script = join(dir, 'check.mjs');
    writeFileSync(
      script,
      `const { deferOptimizingCompiler } = await import(${JSON.stringify(bundle)});
      const hot = (x) => { let s = 0; for (let i = 0; i < 100; i++) s += (x * i) % 7; return s; };
      const warm = async () => { for (let k = 0; k < 20; k++) { for (let i = 0; i < 20000; i++) hot(i); await new Promise((r) => setTimeout(r, 5)); } };
      const optimized = () => (%GetOptimizationStatus(hot) & 16) !== 0; // V8's kOptimized bit
      const jit = deferOptimizingCompiler(1000);
      await warm();
      const deferred = optimized();
      jit.progress(999);
      await warm();
      const stillDeferred = optimized();
      jit.progress(1000);
      await warm();
      console.log(JSON.stringify({ deferred, stillDeferred, restored: optimized() }));`,
    );
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ deferred: false, stillDeferred: false, restored: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
