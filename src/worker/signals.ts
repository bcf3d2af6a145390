/**
 * SIGTERM (pueue kill, systemd stop) and SIGINT (Ctrl-C) stop the worker
 * gracefully: the first one asks for a stop, a second one means "now".
 * Exit codes follow the shell convention, 128 + signal number.
 */
export type StopSignal = 'SIGTERM' | 'SIGINT';

export const SIGNAL_EXIT_CODE: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

/** Call `handler` on each SIGTERM/SIGINT (with how many arrived so far); returns the uninstaller. */
export function onStopSignals(handler: (signal: StopSignal, count: number) => void): () => void {
  let count = 0;
  const listeners = (['SIGTERM', 'SIGINT'] as const).map((sig) => {
    const listener = (): void => {
      count++;
      handler(sig, count);
    };
    process.on(sig, listener);
    return () => process.off(sig, listener);
  });
  return () => {
    for (const off of listeners) off();
  };
}
