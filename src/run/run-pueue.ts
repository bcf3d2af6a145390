/**
 * `sweep run --pueue`: the units as tasks of the user's own local pueue
 * daemon (never started for them), through exactly the remote tier's code:
 * submit-all and status with the local transport, the output dir itself as
 * the sweep dir. A signal stops the tasks this run queued (sweep stop's code),
 * unless --detach, which leaves them running and says how to follow them.
 */
import { dirname } from 'node:path';
import { execa } from 'execa';
import { UserError } from '../errors.js';
import { findLocalPueue, localPueueAnswers } from '../pueue/local-daemon.js';
import { parseLabel } from '../pueue/labels.js';
import { isActive, parseStatus } from '../pueue/status.js';
import { loadSweepContext, localRemote } from '../remote/context.js';
import { readStatus } from '../remote/status.js';
import { stopInContext } from '../remote/stop.js';
import { submitAll } from '../remote/submit.js';
import type { RemoteSettings, Spec } from '../spec/schema.js';
import { emptyReasons } from '../worker/todo.js';
import { stopSignalOf, type RunContext, type UnitsOutcome } from './run-sweep.js';
import { createProgressView } from './view.js';
import { sleep } from '../sleep.js';

/**
 * Units of this sweep with a queued, running or paused task in the local
 * daemon, when one answers (by label: `sweep:<name>:<unit>`); [] otherwise.
 */
export async function localSweepTasks(spec: Spec, env: NodeJS.ProcessEnv): Promise<string[]> {
  const pueue = findLocalPueue(env);
  if (!pueue) return [];
  const r = await execa(pueue, ['status', '--json'], { env, reject: false, timeout: 10_000 });
  if (r.exitCode !== 0) return [];
  try {
    const status = parseStatus(JSON.parse(r.stdout));
    const units = new Set<string>();
    for (const t of status.tasks) {
      const l = parseLabel(spec.name, t.label);
      if (l?.kind === 'unit' && isActive(t)) units.add(l.unit);
    }
    return [...units].sort();
  } catch {
    return [];
  }
}

export async function runThroughPueue(ctx: RunContext, onlyFlags: readonly string[]): Promise<UnitsOutcome> {
  const { opts, spec, env, write } = ctx;
  if (!(await localPueueAnswers(env))) {
    throw new UserError(
      'PUEUE_DAEMON_DOWN',
      `--pueue: expected your pueue v4 daemon to answer on this machine ('pueue status'), found none; sweep never starts it: run 'pueued -d' (or 'systemctl --user start pueued'), or drop --pueue to run the units here`,
    );
  }
  // The sweep dir on "the host" is the output dir itself (context.ts maps it so).
  const remote: RemoteSettings = localRemote(dirname(ctx.outDir), { group: spec.remote?.group ?? `sweep-${spec.name}`, parallel: spec.remote?.parallel ?? 1 });
  const submitEnv = { ...env, CLICKHOUSE_URL: ctx.choice.url };
  const submitted = await submitAll({
    specPath: opts.specPath,
    cwd: ctx.cwd,
    outDir: ctx.outDir,
    remote,
    env: submitEnv,
    log: ctx.log,
    rerun: ctx.rerun,
    only: onlyFlags,
    lockHeld: true,
  });
  write(
    `units run in your local pueue daemon, group ${remote.group}: ${submitted.queued.length} queued, ${submitted.plan.active.length} already queued or running, ${submitted.plan.complete.length} complete\n`,
  );
  for (const f of submitted.failed) write(`${f.unit}: could not be queued: ${f.message}\n`);
  const sweepCtx = await loadSweepContext({ specPath: opts.specPath, cwd: ctx.cwd, outDir: ctx.outDir, remote, allowStale: true });
  const view = createProgressView(write, opts.isTTY ?? false);
  const outcome: UnitsOutcome = { ran: 0, rerun: emptyReasons(), halted: [], interrupted: null, detached: false };
  let before: number | undefined;
  let last = { ok: 0, skipped: 0, error: 0 };
  for (;;) {
    if (opts.stop?.aborted) {
      outcome.interrupted = stopSignalOf(opts.stop);
      view.close();
      if (opts.detach) {
        outcome.detached = true;
        write(`--detach: the units keep running in pueue group ${remote.group}; follow them with 'sweep status ${opts.specPath} --watch' and 'sweep logs ${opts.specPath} --follow', end them with 'sweep stop ${opts.specPath}'\n`);
      } else {
        write(`stopping the units this run queued in pueue group ${remote.group} ...\n`);
        const stopped = await stopInContext(sweepCtx, { env: submitEnv, graceS: 20, log: ctx.log });
        write(
          `stopped: ${stopped.removed.length} queued task(s) removed, ${stopped.signalled.length} running unit(s) stopped${stopped.killed.length ? `, ${stopped.killed.length} killed` : ''}; run the same command again to resume\n`,
        );
      }
      break;
    }
    const st = await readStatus(sweepCtx, 12, submitEnv);
    before ??= st.totals.ok + st.totals.skipped + st.totals.error;
    last = st.totals;
    view.update({ total: ctx.configs, ok: st.totals.ok, skipped: st.totals.skipped, error: st.totals.error, unitsDone: st.totals.units_complete, units: ctx.units.length });
    if (st.idle) {
      view.close();
      for (const note of st.notes) if (!note.startsWith('complete:')) write(`${note}\n`); // run merges the results itself: no 'sweep collect' hint
      break;
    }
    await sleep(1000, opts.stop);
  }
  outcome.ran = Math.max(0, last.ok + last.skipped + last.error - (before ?? 0));
  return outcome;
}
