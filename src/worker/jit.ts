/**
 * V8 tiering for the worker process: TurboFan only once a unit is long enough
 * to repay it.
 *
 * Why: in the short-query workload the worker's main thread is the bottleneck
 * (it shares 2 cores with the server), and in a fresh process TurboFan's
 * compilations of the hot paths (http client, streams, our per-config code)
 * cost more CPU than they save for the first few thousand queries. Measured on
 * the 2-core bench machine, node 20.20, 2,000 short queries against 18.16:
 *   default tiering:           1.02-1.10 s wall, 0.95-1.03 s CPU (first 2,000)
 *   Sparkplug only (max-opt=1): 0.82-0.91 s wall, 0.80-0.85 s CPU
 * while in steady state TurboFan code is ~65 us of CPU per query cheaper, so it
 * pays for its ~0.4 s of compiling after roughly 6,000 queries. Typical units hold
 * ~1,400 configs: they never need it; a 300K-config unit gets it after 5,000.
 *
 * Only `--max-opt` and `--turbofan` change, before any hot code runs and once
 * more later: tiering decisions, not semantics. V8 re-derives flag implications on
 * each change (`--max-opt=1` turns `--turbofan` off, so restoring sets both).
 * Node 20 does not freeze V8 flags after start-up (`--no-freeze-flags-after-init`
 * is its default); where a runtime would refuse, we simply keep the default tiering.
 * Only the CLI's worker process uses this (never a process embedding runUnit), and
 * SWEEP_JIT=default turns it off.
 */
import { setFlagsFromString } from 'node:v8';

export const TURBOFAN_AFTER_CONFIGS = 5000;

/** Node >= 22 also ships Maglev on by default; `--max-opt=1` turns it off too. */
const RESTORE = Number(process.versions.node.split('.')[0]) >= 22 ? '--max-opt=999 --turbofan --maglev' : '--max-opt=999 --turbofan';

export interface JitPolicy {
  /** Tell it how many configs this run has finished; it restores TurboFan past the threshold. */
  progress(finished: number): void;
  /** Back to default tiering (end of the run). */
  restore(): void;
}

export function deferOptimizingCompiler(afterConfigs = TURBOFAN_AFTER_CONFIGS): JitPolicy {
  let deferred = false;
  try {
    setFlagsFromString('--max-opt=1');
    deferred = true;
  } catch {
    // a runtime that refuses flag changes: default tiering
  }
  const restore = (): void => {
    if (!deferred) return;
    deferred = false;
    try {
      setFlagsFromString(RESTORE);
    } catch {
      // as above
    }
  };
  return {
    progress: (finished) => {
      if (deferred && finished >= afterConfigs) restore();
    },
    restore,
  };
}
