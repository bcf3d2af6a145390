import type { Command } from 'commander';
import { UserError } from '../errors.js';
import type { SweepContext } from '../remote/context.js';
import type { StatusReport } from '../remote/status.js';
import { createLiveRegion, termStreamOf } from '../term/live.js';
import type { CliIo } from './io.js';
import { formatStatus, statusLines, summaryLine, type StatusLayout } from './status-view.js';
import { sleep } from '../sleep.js';

export { formatStatus } from './status-view.js';

interface StatusFlags {
  out?: string;
  watch?: boolean;
  interval?: string;
  all?: boolean;
  quiet?: boolean;
  json?: boolean;
}

export function registerStatus(program: Command, io: CliIo): void {
  program
    .command('status <spec>')
    .description('per-unit and overall progress on the host: pueue state by label, configs done, errors, ETA')
    .option('--out <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('--watch', 'refresh until no task of the sweep is queued or running (a terminal shows one screen, redrawn in place)')
    .option('--interval <seconds>', 'seconds between refreshes with --watch', '5')
    .option('--all', 'list every unit (default: the failed and running ones, and a count of the rest)')
    .option('--quiet', 'print only the one-line summary (with --watch: once, at the end)')
    .option('--json', 'print the report as JSON on stdout (with --watch: the final one)')
    .action(async (spec: string, flags: StatusFlags) => {
      const { loadSweepContext } = await import('../remote/context.js');
      const { readStatus } = await import('../remote/status.js');
      const interval = Number(flags.interval);
      if (!Number.isFinite(interval) || interval < 0.2) {
        throw new UserError('FLAG_INVALID', `--interval: expected a number of seconds >= 0.2, found ${JSON.stringify(flags.interval)}`);
      }
      const ctx = await loadSweepContext({ specPath: spec, outDir: flags.out, allowStale: true, localFallback: true });
      const tty = process.stdout.isTTY === true && !flags.json && !flags.quiet;
      const layout: StatusLayout = { all: flags.all === true, color: tty && !process.env['NO_COLOR'] };
      let report = await readStatus(ctx);
      if (flags.watch && !report.idle) {
        const watched = await watch(ctx, report, { io, interval, layout, tty, json: flags.json === true, quiet: flags.quiet === true });
        if (watched === 'interrupted') {
          process.exitCode = 130;
          return;
        }
        if (watched === 'interrupted-reading') {
          // Ctrl-C reached the refresh's ssh too; nothing is left to wait for but its timeout.
          process.exit(130);
        }
        report = watched;
      }
      if (flags.json) io.stdout(`${JSON.stringify(report)}\n`);
      else if (flags.quiet) io.stdout(`${summaryLine(report)}\n`);
      else io.stdout(formatStatus(report, layout));
      // 0 only when every config is done and every host answered; a sweep still running, with errors, or with a host down is 1.
      if (!report.complete || report.hosts.some((h) => !h.reachable)) process.exitCode = 1;
    });
}

interface WatchOptions {
  io: CliIo;
  interval: number;
  layout: StatusLayout;
  tty: boolean;
  json: boolean;
  quiet: boolean;
}

/**
 * Refresh until the sweep is idle. On a terminal: one screen fitted to it,
 * redrawn in place. Elsewhere (a log, a pipe): one summary line per refresh,
 * and the report again only when a unit changed state, so a long watch stays
 * a short log. With --json: the summary lines go to stderr. Ctrl-C stops
 * watching and leaves the last screen as it was.
 */
async function watch(ctx: SweepContext, first: StatusReport, o: WatchOptions): Promise<StatusReport | 'interrupted' | 'interrupted-reading'> {
  const stop = new AbortController();
  const interrupted = new Promise<'interrupted'>((resolve) => stop.signal.addEventListener('abort', () => resolve('interrupted'), { once: true }));
  const onSignal = () => {
    // A second Ctrl-C while a refresh is under way does not wait for it.
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  const region = o.tty ? createLiveRegion(termStreamOf(o.io.stdout, process.stdout), { hideCursor: true }) : undefined;
  const footer = `every ${o.interval} s; Ctrl-C stops watching`;
  let report = first;
  let lastStates: string | null = null;
  try {
    for (;;) {
      if (region) {
        const shown = report;
        const at = new Date().toTimeString().slice(0, 8);
        region.render((size) => [...statusLines(shown, { ...o.layout, screen: { ...size, rows: size.rows - 1 } }), `${at}: ${footer}`]);
      } else if (o.json) {
        if (!o.quiet) o.io.stderr(`${summaryLine(report)}\n`);
      } else if (!o.quiet) {
        const states = report.units.map((u) => `${u.unit}\t${u.task?.state ?? ''}`).join('\n');
        o.io.stdout(states !== lastStates ? formatStatus(report, o.layout) : `${summaryLine(report)}\n`);
        lastStates = states;
      }
      await sleep(o.interval * 1000, stop.signal);
      if (stop.signal.aborted) return 'interrupted';
      // A refresh is read-only: Ctrl-C does not wait for it (its outcome no longer matters).
      const reading = (await import('../remote/status.js')).readStatus(ctx);
      reading.catch(() => {});
      const next = await Promise.race([reading, interrupted]);
      if (next === 'interrupted') return 'interrupted-reading';
      report = next;
      if (report.idle) {
        // The final report follows as ordinary text (with the log tails of failures).
        region?.clear();
        return report;
      }
    }
  } finally {
    region?.dispose();
    process.off('SIGINT', onSignal);
  }
}
