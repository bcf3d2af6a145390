/**
 * `sweep logs`: the workers' own log files (`<sweep dir>/logs/<unit>.log` on
 * the host that ran them; they outlive pueue's task logs), through one
 * session: their tails, or with `--follow` what they append, polled once a
 * second over the same connection until interrupted. Never takes the sweep
 * dir's lock.
 */
import { discoveryStep, nodeStep, parseDiscovery, parseNodeResult } from '../host/remote-script.js';
import type { LogsInput, LogsOutput } from '../host/remote-side.js';
import type { RemoteSettings } from '../spec/schema.js';
import { RemoteError, type Transport } from '../transport/transport.js';
import { loadSweepContext } from './context.js';

export interface LogsOptions {
  specPath: string;
  unit?: string;
  cwd?: string;
  outDir?: string;
  remote?: RemoteSettings;
  transport?: Transport;
  /** Lines from the end of each file (default 40). */
  lines?: number;
  follow?: boolean;
  /** Ends --follow. */
  stop?: AbortSignal;
  /** Called with each chunk of log text (whole lines), prefixed with its unit when several files are shown. */
  write: (text: string) => void;
  pollMs?: number;
}

export async function showLogs(opts: LogsOptions): Promise<{ files: number }> {
  const ctx = await loadSweepContext({
    specPath: opts.specPath,
    cwd: opts.cwd,
    outDir: opts.outDir,
    transport: opts.transport,
    remote: opts.remote,
    allowStale: true,
    localFallback: true,
  });
  const host = ctx.transport.host;
  if (opts.unit !== undefined && !ctx.units.some((u) => u.id === opts.unit)) {
    const known = ctx.units.slice(0, 5).map((u) => u.id);
    throw new RemoteError(host, 'logs', `unit ${JSON.stringify(opts.unit)}: expected a unit of sweep ${ctx.name} (e.g. ${known.join(', ')}), found none of that name`, 'UNIT_MISSING');
  }
  const session = ctx.transport.openSession();
  try {
    const d = parseDiscovery((await session.run(discoveryStep(), { step: 'connect', timeoutMs: 45_000 })).stdout);
    if (!d.node) throw new RemoteError(host, 'logs', `node >= 20 not found on the host (found: ${d.seen.join('; ') || 'nothing'})`);
    const many = opts.unit === undefined;
    const show = (out: LogsOutput): void => {
      for (const f of out.files) {
        if (f.size < 0) {
          opts.write(`(no log for unit ${f.unit} on ${host} yet: it has not started)\n`);
          continue;
        }
        if (f.text === '') continue;
        const text = f.text.endsWith('\n') ? f.text : `${f.text}\n`;
        opts.write(many ? text.replace(/^(?=.)/gm, `${f.unit} | `) : text);
      }
    };
    const call = async (offsets: Record<string, number> | null): Promise<LogsOutput> => {
      const input: LogsInput = { sweepDir: ctx.sweepDir, unit: opts.unit ?? null, lines: opts.lines ?? 40, offsets };
      return parseNodeResult<LogsOutput>(host, 'logs', await session.run(nodeStep('logs', input), { step: 'logs', timeoutMs: 60_000 }));
    };
    let out = await call(null);
    show(out);
    if (!opts.follow) {
      if (out.files.length === 0) opts.write(`(no worker logs in ${ctx.sweepDir}/logs on ${host} yet)\n`);
      return { files: out.files.length };
    }
    const offsets: Record<string, number> = {};
    for (;;) {
      for (const f of out.files) if (f.size >= 0) offsets[f.unit] = f.size;
      await sleep(opts.pollMs ?? 1000, opts.stop);
      if (opts.stop?.aborted) return { files: Object.keys(offsets).length };
      out = await call(offsets);
      // New files (units that started since) come back whole: show only their tail.
      show(out);
    }
  } finally {
    await session.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
