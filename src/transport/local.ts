/**
 * The local transport (`remote.host: local`): the same steps as over ssh, on
 * this machine. The session is a local `bash -s` speaking the same step
 * protocol; the syncs are local rsyncs between the output dir and the sweep
 * dir under remote.dir, so a local submission goes through exactly the code
 * paths of a remote one.
 */
import { existsSync, realpathSync } from 'node:fs';
import { execa } from 'execa';
import { runRsync } from './rsync.js';
import { ShellSession } from './session.js';
import { withSlash } from './ssh.js';
import type { RemoteSession, SyncOptions, SyncSummary, Transport, TransportStats } from './transport.js';

/** What a fresh ssh login would have: this user's basics, none of sweep's own settings or secrets. */
export function sessionEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || /^(CLICKHOUSE_|SWEEP_)/.test(k)) continue;
    out[k] = v;
  }
  return out;
}

export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  readonly host = 'local';
  readonly stats: TransportStats = { connections: 0, sessions: 0, rsyncs: 0 };

  openSession(): RemoteSession {
    this.stats.sessions++;
    const child = execa('bash', ['--noprofile', '--norc', '-s'], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      env: sessionEnv(),
      extendEnv: false,
      cwd: process.env['HOME'] ?? '/',
      // Its own process group, so a timeout kills the step's children with it.
      detached: true,
      forceKillAfterDelay: 2_000,
    });
    return new ShellSession(child, {
      host: this.host,
      processGroup: true,
      describeExit: (code, signal, spawnError) =>
        spawnError ? `could not run bash (${spawnError})` : `the local shell ended unexpectedly (${code !== undefined ? `exit ${code}` : `signal ${signal ?? '?'}`})`,
    });
  }

  push(from: string, to: string, options: SyncOptions): Promise<SyncSummary> {
    return this.sync(from, to, options);
  }

  pull(from: string, to: string, options: SyncOptions): Promise<SyncSummary> {
    return this.sync(from, to, options);
  }

  private async sync(from: string, to: string, options: SyncOptions): Promise<SyncSummary> {
    // remote.dir/<name> may be the output dir itself: nothing to copy.
    if (existsSync(from) && existsSync(to) && realpathSync(from) === realpathSync(to)) return { files: 0, bytes: 0, ms: 0, warnings: [] };
    this.stats.rsyncs++;
    return runRsync({ host: this.host, baseArgs: ['-rlpt'], source: withSlash(from), dest: withSlash(to), options });
  }
}
