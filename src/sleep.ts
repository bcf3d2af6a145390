/** A wait that ends early, without throwing, when its signal aborts: the pause between polls. */

/**
 * Resolves after `ms` milliseconds, or at once when `signal` is (or becomes) aborted.
 * Never rejects: callers check `signal.aborted` afterwards. `timers/promises`
 * `setTimeout` is not used because it rejects with an AbortError, which every poll
 * loop would then have to catch and tell apart from a real failure.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
