/**
 * The last lines of `npm test`: how many tests were skipped and which
 * components this machine lacks (with how to install each), then the plain
 * closing line "N passed, N failed, N skipped" that CI reads. A test file that
 * failed before any test ran (an import error, or `lacks()` under CI=true)
 * counts as one failure, so it can never pass as "0 failed".
 */
import type { Reporter, TestModule } from 'vitest/node';
import type { ComponentMissing } from './missing.js';
import { missingPrograms } from './programs.js';

// The global setup and this reporter are loaded as separate module instances
// in the same process; a global symbol is what they share.
const RECORDED = Symbol.for('sweep.test.missing-components');

/** The global setup's word that a component (ClickHouse) is missing for this run. */
export function recordMissing(m: ComponentMissing): void {
  const g = globalThis as { [RECORDED]?: ComponentMissing[] };
  (g[RECORDED] ??= []).push(m);
}

export default class SummaryReporter implements Reporter {
  private text = '';

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of testModules) {
      let tests = 0;
      for (const t of m.children.allTests()) {
        tests++;
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else if (state === 'skipped') skipped++;
      }
      if (tests === 0 && m.state() === 'failed') failed++;
    }
    const recorded = (globalThis as { [RECORDED]?: ComponentMissing[] })[RECORDED] ?? [];
    const missing = [...recorded, ...missingPrograms()];
    const out: string[] = [''];
    if (missing.length > 0) {
      out.push(`${skipped} test(s) skipped; components missing on this machine:`);
      for (const m of missing) out.push(`  ${m.component}: ${m.message}`);
      if (process.env['CI'] !== 'true') out.push('  (under CI=true a missing component fails the run instead)');
    }
    out.push(`${passed} passed, ${failed} failed, ${skipped} skipped`);
    this.text = `${out.join('\n')}\n`;
  }

  // Printed from onFinished, which vitest calls after every reporter's
  // onTestRunEnd, so these lines come after the default reporter's summary.
  onFinished(): void {
    process.stdout.write(this.text);
  }
}
