/**
 * Every command reaches every host of a sweep at once: one session per host,
 * opened together, each under its own deadline, so a host that is down or
 * hangs costs its deadline once and never holds the others up. What a host
 * answered, or why it did not, is data (`HostOutcome`); the command decides
 * what a failure means (status reports it in the host's row, submit-all
 * refuses unless told to skip it).
 *
 * A host is unreachable when its ssh session fails, when it does not answer
 * before its deadline, or when its pueue daemon does not answer (the work
 * reports that one with the code PUEUE_DAEMON_DOWN).
 */
import { RemoteError, type RemoteSession } from '../transport/transport.js';
import type { HostContext } from './context.js';

export type HostOutcome<T> = { host: HostContext; ok: true; value: T; ms: number } | { host: HostContext; ok: false; error: Error; unreachable: boolean; why: string; ms: number };

const UNREACHABLE = new Set(['REMOTE_UNREACHABLE', 'REMOTE_TIMEOUT', 'PUEUE_DAEMON_DOWN', 'HOST_DEADLINE']);

/** Whether an error means the host could not be reached (as opposed to a host that answered with a problem). */
export function isUnreachable(err: unknown): boolean {
  return err instanceof RemoteError && UNREACHABLE.has(err.code);
}

/** A RemoteError's message without its `host: step: ` prefix. */
export function whyOf(err: Error, host: string): string {
  const m = err.message;
  return err instanceof RemoteError && m.startsWith(`${host}: `) ? m.slice(host.length + 2) : m;
}

/**
 * Run `work` with a fresh session on every host at once; each host gets
 * `deadlineMs` in all (its session is killed when the time is up). Results in
 * host order.
 */
export async function onEveryHost<T>(
  hosts: readonly HostContext[],
  deadlineMs: (h: HostContext) => number,
  step: string,
  work: (h: HostContext, session: RemoteSession) => Promise<T>,
): Promise<Array<HostOutcome<T>>> {
  return Promise.all(
    hosts.map(async (h): Promise<HostOutcome<T>> => {
      const session = h.transport.openSession();
      try {
        return await withDeadline(h, session, deadlineMs(h), step, () => work(h, session));
      } finally {
        await session.close();
      }
    }),
  );
}

/** One host's work under a deadline, on a session the caller owns (killed when the time is up); a failure is data. */
export async function withDeadline<T>(h: HostContext, session: RemoteSession, ms: number, step: string, work: () => Promise<T>): Promise<HostOutcome<T>> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      session.abort();
      reject(new RemoteError(h.host, step, `no answer within ${Math.round(ms / 1000)} s (the session was closed)`, 'HOST_DEADLINE'));
    }, ms);
  });
  try {
    const working = work();
    // Past the deadline the work fails with the killed session: nobody waits for it any more.
    working.catch(() => undefined);
    const value = await Promise.race([working, deadline]);
    return { host: h, ok: true, value, ms: performance.now() - t0 };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return { host: h, ok: false, error, unreachable: isUnreachable(error), why: whyOf(error, h.host), ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}
