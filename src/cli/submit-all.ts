import type { Command } from 'commander';
import { WorkFailed } from '../errors.js';
import type { SubmitReport } from '../remote/submit.js';
import { rerunFlag } from '../flags.js';
import { collectValues } from './flags.js';
import type { CliIo } from './io.js';

interface SubmitFlags {
  out?: string;
  dryRun?: boolean;
  fresh?: boolean;
  rerun?: string;
  only: string[];
  setup?: boolean;
  json?: boolean;
}

export function registerSubmitAll(program: Command, io: CliIo): void {
  program
    .command('submit-all <spec>')
    .description('ship the generated sweep to remote.host and queue one pueue task per unfinished unit')
    .option('--out <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('--dry-run', 'check the host and print the plan (and whether setup would run); change nothing anywhere')
    .option('--fresh', "move the host's results aside (results/.previous/<time>/) and run every config again")
    .option('--rerun <what>', 'run again besides configs without a record: errors (default), skipped, all')
    .option('--only <key=value,...>', 'only configs with these params (repeat for alternatives)', collectValues, [] as string[])
    .option('--setup', "run the spec's setup again on the host's server (never while units of the sweep are queued or running)")
    .option('--json', 'print the report as JSON on stdout')
    .action(async (spec: string, flags: SubmitFlags) => {
      const { submitAll } = await import('../remote/submit.js');
      const report = await submitAll({
        specPath: spec,
        outDir: flags.out,
        dryRun: flags.dryRun === true,
        fresh: flags.fresh === true,
        rerun: rerunFlag(flags.rerun),
        only: flags.only,
        setup: flags.setup === true,
        log: (line) => io.stderr(`${line}\n`),
      });
      if (flags.json) io.stdout(`${JSON.stringify(report)}\n`);
      else io.stdout(formatSubmit(report));
      if (report.failed.length > 0 || report.after.some((a) => a.message !== undefined)) {
        const afterFailed = report.after.filter((a) => a.message !== undefined).length;
        throw new WorkFailed(
          `${report.failed.length} unit(s)${afterFailed ? ` and ${afterFailed} after step(s)` : ''} could not be queued on ${report.host} (see above); the rest are queued`,
        );
      }
    });
}

const LIST_MAX = 12;

export function formatSubmit(r: SubmitReport): string {
  const out: string[] = [];
  const p = r.preflight;
  out.push(`sweep ${r.sweep} -> ${r.host}:${r.dir} (pueue group ${r.group})`);
  out.push(`  node ${p.node.version} ${p.node.path} | pueue ${p.pueue.version} ${p.pueue.path} | ClickHouse ${p.clickhouse.version} at ${p.clickhouse.url}`);
  if (p.memory_cap) out.push(`  memory cap ${p.memory_cap.memory_max}: ${p.memory_cap.enforced ? 'enforced with systemd-run --user --scope' : 'NOT enforced (see warning)'}`);
  out.push(`  target: ${r.target}`);
  out.push(
    `  setup: ${r.setup.action === 'none' ? 'none in the spec' : r.setup.action === 'current' ? `already ran on this target (${r.setup.reason})` : r.dry_run ? `would run (${r.setup.reason})` : `ran ${r.setup.statements} statement(s) in ${((r.setup.elapsed_ms ?? 0) / 1000).toFixed(1)} s (${r.setup.reason})`}`,
  );
  if (r.moved_aside) out.push(`  --fresh: the host's results moved aside to ${r.moved_aside}`);
  out.push(`  password: ${p.password === 'sent' ? 'from CLICKHOUSE_PASSWORD, stored 0600 on the host' : p.password === 'stored-earlier' ? 'none given; the host keeps the one from an earlier submission' : 'none'}`);
  if (r.dry_run) {
    out.push('dry run: nothing was changed, here or on the host.');
    list(out, `would queue ${r.plan.queue.length} unit(s)`, r.plan.queue.map((q) => `${q.unit} (${q.reason}${q.previous ? `; last task ${q.previous}` : ''})`));
  } else {
    list(
      out,
      `queued ${r.queued.length} unit(s)`,
      r.queued.map((q) => {
        const why = r.plan.queue.find((x) => x.unit === q.unit);
        return `#${q.id} ${q.label}${why ? ` (${why.reason}${why.previous ? `; last task ${why.previous}` : ''})` : ''}`;
      }),
    );
    if (r.failed.length > 0) list(out, `FAILED to queue ${r.failed.length} unit(s)`, r.failed.map((f) => `${f.unit}: ${f.message}`));
    if (r.complete_after_sync.length > 0) list(out, `${r.complete_after_sync.length} unit(s) found complete after the sync, not queued`, r.complete_after_sync);
  }
  if (r.plan.active.length > 0) list(out, `skipped ${r.plan.active.length} unit(s) already in pueue`, r.plan.active.map((a) => `${a.unit} (${a.state})`));
  if (r.plan.complete.length > 0) list(out, `skipped ${r.plan.complete.length} complete unit(s)`, r.plan.complete);
  if (r.dry_run) {
    if (r.plan.remove > 0) out.push(`would remove ${r.plan.remove} finished task(s) of this sweep from pueue`);
    if (r.plan.resume_group) out.push(`would resume the paused group ${r.group}`);
    if (r.plan.queue.length > 0) for (const a of r.plan.after) out.push(`would queue after step ${a.step} after every unit task`);
  } else {
    if (r.removed > 0) out.push(`removed ${r.removed} finished task(s) of this sweep from pueue`);
    for (const a of r.after) out.push(a.id !== undefined ? `after step ${a.step}: #${a.id} (runs when every unit task of this submission succeeds)` : `after step ${a.step}: FAILED to queue: ${a.message ?? ''}`);
    if (r.group_resumed) out.push(`resumed the paused group ${r.group}`);
    if (r.sync) out.push(`synced ${r.sync.files} file(s), ${formatBytes(r.sync.bytes)}, in ${(r.sync.ms / 1000).toFixed(1)} s`);
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  out.push(`${r.connections} connection(s) to ${r.host} in ${(r.timings.total_ms / 1000).toFixed(1)} s${r.record ? `; recorded in ${r.record}` : ''}`);
  if (!r.dry_run && r.queued.length > 0) out.push(`next: sweep status ${r.spec} --watch, then sweep collect ${r.spec}`);
  return `${out.join('\n')}\n`;
}

function list(out: string[], title: string, items: string[]): void {
  out.push(`${title}${items.length > 0 ? ':' : ''}`);
  for (const i of items.slice(0, LIST_MAX)) out.push(`  ${i}`);
  if (items.length > LIST_MAX) out.push(`  ... and ${items.length - LIST_MAX} more (--json lists all)`);
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
