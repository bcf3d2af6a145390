import type { Command } from 'commander';
import type { StopReport } from '../remote/stop.js';
import { secondsFlag } from '../flags.js';
import type { CliIo } from './io.js';

interface StopFlags {
  out?: string;
  grace?: string;
  json?: boolean;
}

export function registerStop(program: Command, io: CliIo): void {
  program
    .command('stop <spec>')
    .description("stop a sweep on every host (or in your local pueue daemon): queued units removed, running ones stopped gracefully, the sweep's queries killed on the servers, autoscale controllers ended")
    .option('--out <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('--grace <seconds>', 'how long running workers get to cancel their queries and write what finished before they are killed', '30')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (spec: string, flags: StopFlags) => {
      const { stopSweep } = await import('../remote/stop.js');
      const report = await stopSweep({ specPath: spec, outDir: flags.out, graceS: secondsFlag('--grace', flags.grace ?? '30', 0), log: (l) => io.stderr(`${l}\n`) });
      if (flags.json) io.stdout(`${JSON.stringify(report)}\n`);
      else io.stdout(formatStop(report, spec));
      if (report.errors.length > 0 || (report.queries?.remaining ?? 0) > 0) process.exitCode = 1;
    });
}

export function formatStop(r: StopReport, spec: string): string {
  const out: string[] = [];
  const nothing = r.removed.length + r.signalled.length + r.killed.length === 0 && !r.local_run;
  out.push(`sweep ${r.sweep} on ${r.hosts.map((h) => `${h.host}:${h.dir}${h.reachable ? '' : ' (did not answer)'}`).join(', ')}: ${nothing ? 'nothing was queued or running' : 'stopped'}`);
  if (r.local_run) out.push(`  sent SIGTERM to ${r.local_run.command} (pid ${r.local_run.pid})`);
  if (r.removed.length > 0) out.push(`  removed ${r.removed.length} queued task(s): ${names(r.removed)}`);
  if (r.signalled.length > 0) {
    out.push(
      `  stopped ${r.signalled.length} running unit(s) with SIGTERM${r.ended_ms !== null ? ` (all ended within ${(r.ended_ms / 1000).toFixed(1)} s)` : ''}: ${names(r.signalled)}`,
    );
  }
  if (r.killed.length > 0) out.push(`  killed ${r.killed.length} task(s) still running after the grace period: ${names(r.killed)}`);
  if (r.queries) {
    if (r.queries.error) out.push(`  could not check the server for the sweep's queries: ${r.queries.error}`);
    else out.push(`  server: ${r.queries.killed} query(ies) of the sweep killed; ${r.queries.remaining} still listed in system.processes after ${(r.queries.waited_ms / 1000).toFixed(1)} s`);
  }
  for (const e of r.errors) out.push(`  error: ${e}`);
  if (!nothing) out.push(`finished records are kept; 'sweep submit-all ${spec}' (or 'sweep run') resumes`);
  return `${out.join('\n')}\n`;
}

function names(tasks: Array<{ label: string; host: string }>): string {
  const several = new Set(tasks.map((t) => t.host)).size > 1;
  const units = tasks.map((t) => `${t.label.split(':').slice(2).join(':')}${several ? ` (${t.host})` : ''}`);
  return units.length > 6 ? `${units.slice(0, 6).join(', ')}, ... (${units.length})` : units.join(', ');
}
