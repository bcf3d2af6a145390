/**
 * The dispatcher: runs jobs through p-queue at an adaptive concurrency.
 *
 * - Jobs are pulled from an iterator as slots free up (the queue holds at most a
 *   couple of rounds), so 300K configs never become 300K pending promises.
 * - `retry` outcomes come back after their back-off delay, ahead of new jobs; the
 *   concurrency is halved while such pressure persists and raised again, one
 *   step per round of successes, once it stops (AIMD, like TCP).
 * - `outage` outcomes (the server did not answer) pause the queue; one probe at
 *   a time asks the server with growing pauses until it answers, then the queue
 *   resumes. An outage longer than `outageTimeoutMs` ends the run.
 * - `busy` outcomes (the server refused the query at its own limit, e.g.
 *   TOO_MANY_SIMULTANEOUS_QUERIES) are back-pressure, not a config's failure:
 *   the concurrency is halved and the job comes back after a pause, without
 *   touching the config's retry budget. Busy answers with no success in between
 *   for longer than `outageTimeoutMs` end the run like an outage.
 * - stop(): no new attempts; running ones see the shared AbortSignal (the engine
 *   cancels them on the server); run() resolves once they have settled.
 *
 * p-queue's own task timeout is not used: it rejects without stopping the work.
 * Deadlines live in the engine, which can cancel the query.
 */
import PQueue from 'p-queue';
import { ThroughputSeeker, type AutoDecision, type AutoOptions } from './autotune.js';
import { backoffMs } from './retry.js';
import { sleep } from '../sleep.js';

export type AttemptOutcome =
  /** The job reached its end (a terminal record, or nothing to do). */
  | { kind: 'done'; success: boolean }
  /** Retry after `delayMs`; the server is under pressure. */
  | { kind: 'retry'; delayMs: number }
  /** The server did not answer: requeue, pause, probe. */
  | { kind: 'outage'; reason: string }
  /** The server refused it at its limit (not run): lower the concurrency, requeue after a pause. */
  | { kind: 'busy'; reason: string }
  /** Stopped by stop(): no record. */
  | { kind: 'aborted' };

export interface DispatcherOptions<J> {
  /** Queries in flight; with `auto`, the ceiling (auto's max). */
  concurrency: number;
  /** Seek the concurrency that gives the most configs per second (autotune.ts) instead of holding `concurrency`. */
  auto?: AutoOptions;
  /** Each change `auto` makes. */
  onAuto?: (decision: AutoDecision) => void;
  attempt: (job: J, signal: AbortSignal) => Promise<AttemptOutcome>;
  /** Resolves when the server answers, rejects when it does not. */
  probe: (signal: AbortSignal) => Promise<void>;
  outageTimeoutMs: number;
  onOutage?: (event: { state: 'down' | 'up'; downForMs: number; reason: string }) => void;
  onConcurrency?: (current: number, target: number) => void;
  /** Probe pauses (default 250 ms doubling to 5 s). */
  probeBackoff?: { baseMs: number; capMs: number };
  /** Pauses before a job refused as busy comes back (default 100 ms doubling to 3 s). */
  busyBackoff?: { baseMs: number; capMs: number };
  now?: () => number;
}

export interface DispatchResult {
  /** Why the run ended early: stop() was called, the server stayed away (or busy), or the caller halted it. */
  stopped?: StopReason;
  /** For `unreachable`: what the last probe said; for `halted`: the caller's words. */
  reason?: string;
}

export type StopReason = 'requested' | 'unreachable' | 'halted';

/** Additive increase, multiplicative decrease of the number of queries in flight. */
export class ConcurrencyGovernor {
  readonly target: number;
  current: number;
  private lastDecrease = Number.NEGATIVE_INFINITY;
  private lastIncrease = Number.NEGATIVE_INFINITY;
  private successes = 0;

  constructor(
    target: number,
    private readonly opts: { decreaseWindowMs: number; holdAfterDecreaseMs: number; increaseSpacingMs: number } = {
      decreaseWindowMs: 1000,
      holdAfterDecreaseMs: 2000,
      increaseSpacingMs: 200,
    },
  ) {
    this.target = target;
    this.current = target;
  }

  /** A transient failure: halve, once per window (16 queries failing together are one event). */
  onPressure(now: number): boolean {
    if (now - this.lastDecrease < this.opts.decreaseWindowMs) return false;
    this.lastDecrease = now;
    this.successes = 0;
    const next = Math.max(1, Math.floor(this.current / 2));
    if (next === this.current) return false;
    this.current = next;
    return true;
  }

  /** One step up after a full round of successes, not too soon after a decrease. */
  onSuccess(now: number): boolean {
    if (this.current >= this.target) return false;
    this.successes++;
    if (this.successes < this.current) return false;
    if (now - this.lastDecrease < this.opts.holdAfterDecreaseMs || now - this.lastIncrease < this.opts.increaseSpacingMs) return false;
    this.successes = 0;
    this.lastIncrease = now;
    this.current++;
    return true;
  }
}

export class Dispatcher<J> {
  private readonly queue: PQueue;
  private readonly governor: ConcurrencyGovernor;
  private readonly seeker: ThroughputSeeker | undefined;
  private lastAutoPressure = Number.NEGATIVE_INFINITY;
  private readonly stopController = new AbortController();
  private readonly now: () => number;
  private jobs: Iterator<J> | undefined;
  private exhausted = false;
  /** Jobs taken from the iterator that have not ended (queued, running or waiting to retry). */
  private outstanding = 0;
  private running = 0;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private outageSince: number | undefined;
  /** When the first busy answer since the last success came. */
  private busySince: number | undefined;
  private busyStreak = 0;
  private stopped: DispatchResult['stopped'];
  private stopReason: string | undefined;
  private finish: (() => void) | undefined;
  /** Set when attempt() threw: the caller rethrows it after the queue has settled. */
  failure: unknown;

  constructor(private readonly opts: DispatcherOptions<J>) {
    this.governor = new ConcurrencyGovernor(opts.concurrency);
    this.seeker = opts.auto ? new ThroughputSeeker(opts.auto) : undefined;
    this.queue = new PQueue({ concurrency: this.seeker?.current ?? opts.concurrency });
    this.now = opts.now ?? (() => performance.now());
  }

  get signal(): AbortSignal {
    return this.stopController.signal;
  }

  get concurrency(): number {
    return this.seeker?.current ?? this.governor.current;
  }

  get inOutage(): boolean {
    return this.outageSince !== undefined;
  }

  run(jobs: Iterable<J>): Promise<DispatchResult> {
    this.jobs = jobs[Symbol.iterator]();
    const done = new Promise<void>((resolve) => {
      this.finish = resolve;
    });
    this.feed();
    return done.then(() => (this.stopped ? { stopped: this.stopped, ...(this.stopReason ? { reason: this.stopReason } : {}) } : {}));
  }

  /** Take no new attempts, abort the running ones; run() resolves when they have settled. */
  stop(why: StopReason = 'requested', reason?: string): void {
    if (this.stopped) return;
    this.stopped = why;
    this.stopReason = reason;
    this.queue.clear();
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.stopController.abort(new Error(`stopped (${why})`));
    this.maybeFinish();
  }

  private feed(): void {
    // Two rounds queued ahead is enough to keep every slot busy.
    const ahead = Math.max(2 * this.governor.target, 8);
    while (!this.stopped && !this.exhausted && this.queue.size < ahead) {
      const next = this.jobs?.next();
      if (!next || next.done) {
        this.exhausted = true;
        break;
      }
      this.outstanding++;
      this.enqueue(next.value, 0);
    }
    this.maybeFinish();
  }

  private enqueue(job: J, priority: number): void {
    void this.queue.add(() => this.runJob(job), { priority });
  }

  private maybeFinish(): void {
    const idle = this.stopped ? this.running === 0 : this.exhausted && this.outstanding === 0;
    if (idle && this.finish) {
      const f = this.finish;
      this.finish = undefined;
      f();
    }
  }

  private async runJob(job: J): Promise<void> {
    if (this.stopped) return;
    this.running++;
    let outcome: AttemptOutcome;
    try {
      outcome = await this.opts.attempt(job, this.stopController.signal);
    } catch (err) {
      // attempt() turns every query failure into an outcome; reaching here is a bug
      // or a write failure (disk full): stop everything rather than lose records.
      this.running--;
      this.failure ??= err;
      this.stop('requested', String(err));
      return;
    }
    this.running--;
    const now = this.now();
    switch (outcome.kind) {
      case 'done':
        this.outstanding--;
        if (outcome.success) {
          this.busySince = undefined;
          this.busyStreak = 0;
          if (this.seeker) this.applyAuto(this.seeker.onCompletion(now));
          else if (this.governor.onSuccess(now)) this.applyConcurrency();
        }
        break;
      case 'busy': {
        this.busySince ??= now;
        this.busyStreak++;
        this.pressure(now);
        if (this.stopped) break;
        if (now - this.busySince >= this.opts.outageTimeoutMs) {
          this.outstanding--;
          this.stop('unreachable', `the server stayed at its limit for ${Math.round((now - this.busySince) / 1000)} s (${outcome.reason})`);
          break;
        }
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          if (!this.stopped) this.enqueue(job, 1);
        }, backoffMs(Math.min(this.busyStreak, 6), this.opts.busyBackoff ?? { baseMs: 100, capMs: 3000 }));
        this.retryTimers.add(t);
        break;
      }
      case 'aborted':
        this.outstanding--;
        break;
      case 'retry': {
        this.pressure(now);
        if (this.stopped) break;
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          if (!this.stopped) this.enqueue(job, 1);
        }, outcome.delayMs);
        this.retryTimers.add(t);
        break;
      }
      case 'outage':
        if (!this.stopped) {
          this.enqueue(job, 1); // waits in the paused queue
          this.enterOutage(outcome.reason);
        }
        break;
    }
    this.feed();
  }

  private applyConcurrency(): void {
    this.queue.concurrency = this.governor.current;
    this.opts.onConcurrency?.(this.governor.current, this.governor.target);
  }

  /** Pressure halves the concurrency: auto's level, or the governor's (once per window either way). */
  private pressure(now: number): void {
    if (!this.seeker) {
      if (this.governor.onPressure(now)) this.applyConcurrency();
      return;
    }
    // Failures that arrive together (16 in flight, one overload) are one event.
    if (now - this.lastAutoPressure < 1000) return;
    this.lastAutoPressure = now;
    this.applyAuto(this.seeker.onPressure(now));
  }

  private applyAuto(decision: AutoDecision | undefined): void {
    if (!decision) return;
    this.queue.concurrency = decision.to;
    this.opts.onAuto?.(decision);
  }

  private enterOutage(reason: string): void {
    if (this.outageSince !== undefined) return;
    this.outageSince = this.now();
    this.queue.pause();
    this.pressure(this.outageSince);
    this.opts.onOutage?.({ state: 'down', downForMs: 0, reason });
    void this.probeUntilBack(reason);
  }

  private async probeUntilBack(firstReason: string): Promise<void> {
    const since = this.outageSince ?? this.now();
    const signal = this.stopController.signal;
    let reason = firstReason;
    for (let n = 1; !this.stopped; n++) {
      await sleep(backoffMs(n, this.opts.probeBackoff ?? { baseMs: 250, capMs: 5000 }), signal);
      if (this.stopped) return;
      try {
        await this.opts.probe(signal);
        this.outageSince = undefined;
        this.opts.onOutage?.({ state: 'up', downForMs: this.now() - since, reason });
        this.queue.start();
        return;
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      }
      if (this.now() - since >= this.opts.outageTimeoutMs) {
        this.stop('unreachable', reason);
        return;
      }
    }
  }
}
