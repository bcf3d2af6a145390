/**
 * The last lines of `npm test`: how many tests were skipped and which
 * components this machine lacks (with how to install each), then the plain
 * closing line "N passed, N failed, N skipped" that CI reads. A test file that
 * failed outside its tests (an import error, a beforeAll that threw, or
 * `lacks()` under CI=true) counts as one failure, so it never reads "0 failed".
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
      let failedHere = 0;
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else if (state === 'skipped') skipped++;
      }
      // A file or suite that failed outside its tests (import error, a beforeAll
      // that threw, `lacks()` under CI=true) leaves its tests "skipped": count it.
      failed += failedHere === 0 && m.state() === 'failed' ? 1 : failedHere;
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
