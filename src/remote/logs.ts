/**
 * `sweep logs`: the workers' own log files (`<sweep dir>/logs/<unit>.log` on
 * the host that ran them; they outlive pueue's task logs), through one session
 * per host, every host at once: their tails, or with `--follow` what they
 * append, polled once a second over the same connections until interrupted.
 * With several hosts each line names its host. A unit that moved has logs on
 * each host it ran on. Never takes the sweep dir's lock.
 */
import { discoveryStep, nodeStep, parseDiscovery, parseNodeResult } from '../host/remote-script.js';
import type { LogsInput, LogsOutput } from '../host/remote-side.js';
import type { RemoteSettings } from '../spec/schema.js';
import { RemoteError, type RemoteSession } from '../transport/transport.js';
import { loadSweepContext, type HostContext } from './context.js';
import { hostWeights, unitsByHost } from './placement.js';
import { sleep } from '../sleep.js';

export interface LogsOptions {
  specPath: string;
  unit?: string;
  cwd?: string;
  outDir?: string;
  remote?: RemoteSettings;
  /** Lines from the end of each file (default 40). */
  lines?: number;
  follow?: boolean;
  /** Ends --follow. */
  stop?: AbortSignal;
  /** Called with each chunk of log text (whole lines), prefixed with its unit (and host) when several files are shown. */
  write: (text: string) => void;
  pollMs?: number;
}

export async function showLogs(opts: LogsOptions): Promise<{ files: number }> {
  const ctx = await loadSweepContext({
    specPath: opts.specPath,
    cwd: opts.cwd,
    outDir: opts.outDir,
    remote: opts.remote,
    allowStale: true,
    localFallback: true,
  });
  const several = ctx.hosts.length > 1;
  if (opts.unit !== undefined && !ctx.units.some((u) => u.id === opts.unit)) {
    const known = ctx.units.slice(0, 5).map((u) => u.id);
    throw new RemoteError(ctx.hosts.map((h) => h.host).join(', '), 'logs', `unit ${JSON.stringify(opts.unit)}: expected a unit of sweep ${ctx.name} (e.g. ${known.join(', ')}), found none of that name`, 'UNIT_MISSING');
  }
  // One unit: the hosts it was placed on; all units: every host.
  const placed = unitsByHost(ctx, hostWeights(ctx, new Map()));
  const wanted = opts.unit === undefined ? ctx.hosts : ctx.hosts.filter((h) => (placed.history.get(opts.unit as string) ?? []).includes(h.host));
  const hosts = wanted.length > 0 ? wanted : ctx.hosts;
  const sessions = new Map<string, RemoteSession>();
  try {
    for (const h of hosts) sessions.set(h.host, h.transport.openSession());
    const open = await Promise.all(
      hosts.map(async (h) => {
        const session = sessions.get(h.host) as RemoteSession;
        try {
          const d = parseDiscovery((await session.run(discoveryStep(), { step: 'connect', timeoutMs: 45_000 })).stdout);
          if (!d.node) throw new RemoteError(h.host, 'logs', `node >= 20 not found on the host (found: ${d.seen.join('; ') || 'nothing'})`);
          return { h, error: null as Error | null };
        } catch (err) {
          return { h, error: err as Error };
        }
      }),
    );
    // One host: its failure is the command's (exit 2 naming it). Several: a line saying so, the others shown.
    if (open.length === 1 && open[0]?.error) throw open[0].error;
    for (const o of open) if (o.error) opts.write(`(${o.h.host} did not answer: ${o.error.message.split('\n')[0] ?? ''})\n`);
    const live = open.filter((o) => !o.error).map((o) => o.h);
    const many = opts.unit === undefined || several;
    const show = (h: HostContext, out: LogsOutput): void => {
      for (const f of out.files) {
        if (f.size < 0) {
          if (!several) opts.write(`(no log for unit ${f.unit} on ${h.host} yet: it has not started)\n`);
          continue;
        }
        if (f.text === '') continue;
        const text = f.text.endsWith('\n') ? f.text : `${f.text}\n`;
        const prefix = several ? `${h.host} | ${f.unit} | ` : `${f.unit} | `;
        opts.write(many ? text.replace(/^(?=.)/gm, prefix) : text);
      }
    };
    const offsets = new Map<string, Record<string, number> | null>(live.map((h) => [h.host, null]));
    const call = async (h: HostContext): Promise<LogsOutput> => {
      const input: LogsInput = { sweepDir: h.sweepDir, unit: opts.unit ?? null, lines: opts.lines ?? 40, offsets: offsets.get(h.host) ?? null };
      return parseNodeResult<LogsOutput>(h.host, 'logs', await (sessions.get(h.host) as RemoteSession).run(nodeStep('logs', input), { step: 'logs', timeoutMs: 60_000 }));
    };
    let files = 0;
    for (;;) {
      const outs = await Promise.all(live.map(async (h) => ({ h, out: await call(h) })));
      for (const { h, out } of outs) {
        show(h, out);
        const seen = offsets.get(h.host) ?? {};
        for (const f of out.files) if (f.size >= 0) seen[f.unit] = f.size;
        offsets.set(h.host, seen);
      }
      files = [...offsets.values()].reduce((n, o) => n + Object.keys(o ?? {}).length, 0);
      if (!opts.follow) {
        if (files === 0 && opts.unit === undefined) opts.write(`(no worker logs in ${hosts.map((h) => `${h.host}:${h.sweepDir}/logs`).join(', ')} yet)\n`);
        return { files };
      }
      await sleep(opts.pollMs ?? 1000, opts.stop);
      if (opts.stop?.aborted) return { files };
    }
  } finally {
    await Promise.all([...sessions.values()].map((s) => s.close()));
  }
}
