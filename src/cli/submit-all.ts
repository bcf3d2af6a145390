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
  rebalance?: boolean;
  skipUnreachable?: boolean;
  json?: boolean;
}

export function registerSubmitAll(program: Command, io: CliIo): void {
  program
    .command('submit-all <spec>')
    .description('ship the generated sweep to its hosts and queue one pueue task per unfinished unit, each on the host it is placed on')
    .option('--out <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('--dry-run', 'check the host and print the plan (and whether setup would run); change nothing anywhere')
    .option('--fresh', "move the host's results aside (results/.previous/<time>/) and run every config again")
    .option('--rerun <what>', 'run again besides configs without a record: errors (default), skipped, all')
    .option('--only <key=value,...>', 'only configs with these params (repeat for alternatives)', collectValues, [] as string[])
    .option('--setup', "run the spec's setup again on each host's server (never while units of the sweep are queued or running)")
    .option('--skip-unreachable', 'go on without hosts that do not answer (ssh fails or pueue daemon down): units not yet placed go to the others; units already there wait for them')
    .option('--rebalance', 'move units that are neither complete nor running off hosts that do not answer, spread over the others by parallelism (implies --skip-unreachable)')
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
        rebalance: flags.rebalance === true,
        skipUnreachable: flags.skipUnreachable === true,
        log: (line) => io.stderr(`${line}\n`),
      });
      if (flags.json) io.stdout(`${JSON.stringify(report)}\n`);
      else io.stdout(formatSubmit(report));
      if (report.failed.length > 0 || report.after.some((a) => a.message !== undefined)) {
        const afterFailed = report.after.filter((a) => a.message !== undefined).length;
        throw new WorkFailed(
          `${report.failed.length} unit(s)${afterFailed ? ` and ${afterFailed} after step(s)` : ''} could not be queued on ${[...new Set([...report.failed, ...report.after.filter((a) => a.message !== undefined)].map((f) => f.host))].join(', ')} (see above); the rest are queued`,
        );
      }
    });
}

const LIST_MAX = 12;

export function formatSubmit(r: SubmitReport): string {
  const out: string[] = [];
  const several = r.hosts.length > 1;
  if (several) out.push(`sweep ${r.sweep} -> ${r.hosts.length} hosts (pueue group ${r.group} on each)`);
  for (const h of r.hosts) formatHost(out, r, h, several);
  if (several) {
    const counts = Object.entries(r.placement.counts).map(([host, n]) => `${host} ${n}`).join(', ');
    out.push(`placement: ${counts}${r.placement.path ? ` (recorded in ${r.placement.path})` : ''}`);
  }
  if (r.placement.unreachable.length > 0) out.push(`unreachable, skipped: ${r.placement.unreachable.join(', ')}; new units were placed on the other hosts only`);
  if (r.placement.moved.length > 0) list(out, `moved ${r.placement.moved.length} unfinished unit(s) off unreachable hosts`, r.placement.moved.map((m) => `${m.unit}: ${m.from} -> ${m.to}`));
  if (r.placement.waiting.length > 0) list(out, `${r.placement.waiting.length} unit(s) wait for their unreachable host`, r.placement.waiting.map((w) => `${w.unit} on ${w.host}`));
  for (const w of r.warnings) out.push(`warning: ${w}`);
  const hosts = r.hosts.map((h) => h.host).join(', ');
  const record = r.record ? `; recorded in ${r.record}` : '';
  out.push(`${r.connections} connection(s) to ${hosts} in ${(r.timings.total_ms / 1000).toFixed(1)} s${record}`);
  if (!r.dry_run && r.queued.length > 0) out.push(`next: sweep status ${r.spec} --watch, then sweep collect ${r.spec}`);
  return `${out.join('\n')}\n`;
}

function formatHost(out: string[], r: SubmitReport, h: SubmitReport['hosts'][number], several: boolean): void {
  const ind = several ? '  ' : '';
  out.push(several ? `host ${h.host}:${h.dir}: ${h.units} unit(s)${h.reachable ? '' : ` UNREACHABLE (${h.why ?? ''})`}` : `sweep ${r.sweep} -> ${h.host}:${h.dir} (pueue group ${r.group})`);
  const p = h.preflight;
  if (!h.reachable || !p) return;
  out.push(`${ind}  node ${p.node.version} ${p.node.path} | pueue ${p.pueue.version} ${p.pueue.path} | ClickHouse ${p.clickhouse.version} at ${p.clickhouse.url}`);
  if (p.memory_cap) out.push(`${ind}  memory cap ${p.memory_cap.memory_max}: ${p.memory_cap.enforced ? 'enforced with systemd-run --user --scope' : 'NOT enforced (see warning)'}`);
  out.push(`${ind}  target: ${h.target ?? '?'}`);
  if (h.parallel.auto) {
    const a = h.autoscale;
    out.push(`${ind}  parallel: autoscaled within [${h.parallel.min}, ${h.parallel.max}]; controller ${a?.state === 'queued' ? `queued (#${a.id})` : a?.state === 'running' ? `already running (#${a.id})` : a?.state === 'failed' ? `FAILED: ${a.message ?? ''}` : 'not needed (nothing queued)'}`);
  } else if (several) out.push(`${ind}  parallel: ${h.parallel.max}`);
  out.push(
    `${ind}  setup: ${h.setup.action === 'none' ? 'none in the spec' : h.setup.action === 'current' ? `already ran on this target (${h.setup.reason})` : r.dry_run ? `would run (${h.setup.reason})` : `ran ${h.setup.statements} statement(s) in ${((h.setup.elapsed_ms ?? 0) / 1000).toFixed(1)} s (${h.setup.reason})`}`,
  );
  if (h.moved_aside) out.push(`${ind}  --fresh: the host's results moved aside to ${h.moved_aside}`);
  out.push(`${ind}  password: ${p.password === 'sent' ? 'from CLICKHOUSE_PASSWORD, stored 0600 on the host' : p.password === 'stored-earlier' ? 'none given; the host keeps the one from an earlier submission' : 'none'}`);
  if (r.dry_run) {
    out.push(`${ind}dry run: nothing was changed, here or on the host.`);
    list(out, `${ind}would queue ${h.plan.queue.length} unit(s)`, h.plan.queue.map((q) => `${q.unit} (${q.reason}${q.previous ? `; last task ${q.previous}` : ''})`));
  } else {
    list(
      out,
      `${ind}queued ${h.queued.length} unit(s)`,
      h.queued.map((q) => {
        const why = h.plan.queue.find((x) => x.unit === q.unit);
        return `#${q.id} ${q.label}${why ? ` (${why.reason}${why.previous ? `; last task ${why.previous}` : ''})` : ''}`;
      }),
    );
    if (h.failed.length > 0) list(out, `${ind}FAILED to queue ${h.failed.length} unit(s)`, h.failed.map((f) => `${f.unit}: ${f.message}`));
    if (h.complete_after_sync.length > 0) list(out, `${ind}${h.complete_after_sync.length} unit(s) found complete after the sync, not queued`, h.complete_after_sync);
  }
  if (h.plan.active.length > 0) list(out, `${ind}skipped ${h.plan.active.length} unit(s) already in pueue`, h.plan.active.map((a) => `${a.unit} (${a.state})`));
  if (h.plan.complete.length > 0) list(out, `${ind}skipped ${h.plan.complete.length} complete unit(s)`, h.plan.complete);
  if (h.moved_away.removed.length > 0) list(out, `${ind}removed the queued task(s) of ${h.moved_away.removed.length} unit(s) placed on another host now`, h.moved_away.removed);
  if (r.dry_run) {
    if (h.plan.remove > 0) out.push(`${ind}would remove ${h.plan.remove} finished task(s) of this sweep from pueue`);
    if (h.plan.resume_group) out.push(`${ind}would resume the paused group ${r.group}`);
    if (h.plan.queue.length > 0) for (const a of h.plan.after) out.push(`${ind}would queue after step ${a.step} after every unit task`);
  } else {
    if (h.removed > 0) out.push(`${ind}removed ${h.removed} finished task(s) of this sweep from pueue`);
    for (const a of h.after) out.push(a.id !== undefined ? `${ind}after step ${a.step}: #${a.id} (runs when every unit task of this submission succeeds)` : `${ind}after step ${a.step}: FAILED to queue: ${a.message ?? ''}`);
    if (h.group_resumed) out.push(`${ind}resumed the paused group ${r.group}`);
    if (h.sync) out.push(`${ind}synced ${h.sync.files} file(s), ${formatBytes(h.sync.bytes)}, in ${(h.sync.ms / 1000).toFixed(1)} s`);
  }
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
