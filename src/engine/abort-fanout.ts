/**
 * One abort listener per caller signal, not one per call: the worker passes a
 * single stop signal to thousands of concurrent calls, and a listener each would
 * pile up past Node's 10-listener warning on one AbortSignal. Both engines use it.
 */
export class AbortFanout<T> {
  private readonly watchers = new WeakMap<AbortSignal, Set<T>>();
  constructor(private readonly onAbort: (item: T) => void) {}

  add(signal: AbortSignal, item: T): void {
    let items = this.watchers.get(signal);
    if (!items) {
      const set = new Set<T>();
      items = set;
      this.watchers.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          for (const it of set) this.onAbort(it);
        },
        { once: true },
      );
    }
    items.add(item);
  }

  remove(signal: AbortSignal, item: T): void {
    this.watchers.get(signal)?.delete(item);
  }
}
