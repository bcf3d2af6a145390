/**
 * SIGTERM (pueue kill, systemd stop, `sweep stop`), SIGINT (Ctrl-C) and SIGHUP
 * (the terminal closed, the ssh session dropped) stop gracefully: the first one
 * asks for a stop, a second one means "now". Without a SIGHUP handler Node
 * exits at once and leaves the queries running on the server.
 * Exit codes follow the shell convention, 128 + signal number.
 */
export type StopSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

export const STOP_SIGNALS: readonly StopSignal[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export const SIGNAL_EXIT_CODE: Record<StopSignal, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** Call `handler` on each SIGTERM/SIGINT/SIGHUP (with how many arrived so far); returns the uninstaller. */
export function onStopSignals(handler: (signal: StopSignal, count: number) => void): () => void {
  let count = 0;
  const listeners = STOP_SIGNALS.map((sig) => {
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
