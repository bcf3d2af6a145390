/**
 * One rsync run (execa, argv array), with a deadline and errors that name the
 * host and the step. Both transports use it; only the ends differ.
 */
import { execa } from 'execa';
import { RemoteError, tail, type SyncOptions, type SyncSummary } from './transport.js';

/** rsync exit codes worth a sentence (rsync(1) EXIT VALUES). */
const RSYNC_EXIT: Record<number, string> = {
  1: 'syntax or usage error',
  2: 'protocol incompatibility',
  3: 'errors selecting input/output files or dirs',
  5: 'error starting client-server protocol',
  10: 'error in socket I/O',
  11: 'error in file I/O',
  12: 'error in rsync protocol data stream (is rsync installed on the remote?)',
  23: 'partial transfer due to error',
  30: 'timeout in data send/receive',
  35: 'timeout waiting for daemon connection',
  255: 'ssh failed (connection, authentication or host key)',
};

export interface RsyncRun {
  host: string;
  /** Everything after `rsync` except the filters and the two ends. */
  baseArgs: readonly string[];
  source: string;
  dest: string;
  options: SyncOptions;
  env?: NodeJS.ProcessEnv;
}

export async function runRsync(run: RsyncRun): Promise<SyncSummary> {
  const { options } = run;
  const args = [
    ...run.baseArgs,
    '--stats',
    ...(options.delete ? ['--delete'] : []),
    ...(options.dryRun ? ['--dry-run'] : []),
    ...options.filters,
    '--',
    run.source,
    run.dest,
  ];
  const t0 = performance.now();
  let result;
  try {
    result = await execa('rsync', args, {
      reject: false,
      timeout: options.timeoutMs,
      forceKillAfterDelay: 3_000,
      stdin: 'ignore',
      ...(run.env ? { env: run.env, extendEnv: false } : {}),
    });
  } catch (err) {
    throw new RemoteError(run.host, options.step, `could not run rsync: ${(err as Error).message}`, 'RSYNC_MISSING');
  }
  const ms = performance.now() - t0;
  if (result.failed && (result.code === 'ENOENT' || (result.exitCode === undefined && !result.timedOut && !result.isTerminated))) {
    throw new RemoteError(run.host, options.step, `could not run rsync (${result.shortMessage}); install rsync on this machine`, 'RSYNC_MISSING');
  }
  if (result.timedOut) {
    throw new RemoteError(run.host, options.step, `rsync did not finish within ${Math.round(options.timeoutMs / 1000)} s (stopped)`, 'REMOTE_TIMEOUT');
  }
  const stderr = String(result.stderr ?? '');
  const code = result.exitCode ?? -1;
  const warnings: string[] = [];
  if (code === 24) {
    // Files vanished while being read: the worker rewrote a results file (compaction) mid-transfer.
    warnings.push(`rsync: some files vanished during the transfer (a worker rewrote them); run again for a fresh copy:\n${tail(stderr, 3)}`);
  } else if (code !== 0) {
    const meaning = RSYNC_EXIT[code] ?? (result.signal ? `killed by ${result.signal}` : 'failed');
    throw new RemoteError(run.host, options.step, `rsync exited with ${code} (${meaning}):\n${indent(tail(stderr))}`, code === 255 ? 'REMOTE_UNREACHABLE' : 'RSYNC_FAILED');
  }
  const stdout = String(result.stdout ?? '');
  return { files: statNumber(stdout, /Number of regular files transferred: ([\d,.]+)/), bytes: statNumber(stdout, /Total transferred file size: ([\d,.]+)/), ms: Math.round(ms), warnings };
}

function statNumber(text: string, re: RegExp): number {
  const m = re.exec(text);
  return m?.[1] ? Number(m[1].replace(/[,.]/g, '')) : 0;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
