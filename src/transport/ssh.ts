/**
 * The ssh transport: the system `ssh` and `rsync` (execa, argv arrays), so the
 * user's ssh config applies as it does in their terminal: host aliases, User,
 * Port, IdentityFile, ProxyJump, ControlMaster. `remote.ssh_config` adds
 * `-F FILE` (which makes ssh read that file INSTEAD of ~/.ssh/config).
 *
 * Options sweep adds on every connection:
 *  - BatchMode=yes: sweep never types a password or passphrase; a prompt
 *    nobody answers would only hang until the deadline. Use keys or an agent.
 *  - ServerAliveInterval: submit-all keeps its session open while rsync runs;
 *    keepalives stop a NAT or firewall from dropping it as idle.
 *  - ConnectTimeout=30: a host that does not answer fails in 30 s, not the
 *    system's TCP timeout (minutes); every host of a sweep has its deadline.
 *  - -T: no terminal; the remote gets a clean byte stream.
 *
 * The remote command is the constant string `bash --noprofile --norc -s`
 * (the login shell only ever sees that); the steps travel on stdin. rsync
 * runs with -s (--secluded-args, formerly --protect-args; rsync >= 3.0 on both ends), so remote paths go
 * through rsync's protocol, never through the remote shell.
 */
import { execa } from 'execa';
import { UserError } from '../errors.js';
import { sshDestinationProblem } from './destination.js';
import { runRsync } from './rsync.js';
import { ShellSession } from './session.js';
import { rsyncGlobEscape, rsyncRshQuote } from './shell-quote.js';
import type { RemoteSession, SyncOptions, SyncSummary, Transport, TransportStats } from './transport.js';

export interface SshTransportOptions {
  /** ssh destination: a Host alias, host name or user@host. */
  host: string;
  /** `ssh -F` file (absolute), from the spec's remote.ssh_config. */
  sshConfig?: string;
  /** The ssh and rsync binaries (default: from PATH). */
  ssh?: string;
}

/** A destination ssh and rsync both read as one host, never as an option or a path (the spec check names the host entry; this guards other callers). */
export function checkSshHost(host: string): void {
  const problem = sshDestinationProblem(host);
  if (problem) {
    throw new UserError('SPEC_INVALID', `remote.host: expected an ssh destination (a Host alias from your ssh config, a host name, or user@host), found ${JSON.stringify(host)}: ${problem}`);
  }
}

export class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  readonly host: string;
  readonly stats: TransportStats = { connections: 0, sessions: 0, rsyncs: 0 };
  private readonly sshConfig: string | undefined;
  private readonly ssh: string;

  constructor(opts: SshTransportOptions) {
    checkSshHost(opts.host);
    this.host = opts.host;
    this.sshConfig = opts.sshConfig;
    this.ssh = opts.ssh ?? 'ssh';
  }

  /** ssh options, without the destination: shared by sessions and rsync -e. */
  sshOptions(): string[] {
    return [
      ...(this.sshConfig ? ['-F', this.sshConfig] : []),
      '-T',
      '-o',
      'BatchMode=yes',
      '-o',
      'ServerAliveInterval=15',
      '-o',
      'ServerAliveCountMax=4',
      // A host that does not answer must not hold a command for the system's TCP timeout (minutes).
      '-o',
      'ConnectTimeout=30',
    ];
  }

  openSession(): RemoteSession {
    this.stats.sessions++;
    this.stats.connections++;
    const child = execa(this.ssh, [...this.sshOptions(), '--', this.host, 'bash --noprofile --norc -s'], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      forceKillAfterDelay: 2_000,
    });
    return new ShellSession(child, {
        host: this.host,
        describeExit: (code, signal, spawnError) => {
          if (spawnError) return `could not run ${this.ssh} (${spawnError}): is the OpenSSH client installed?`;
          if (code === 255) return `ssh could not connect (exit 255${this.sshConfig ? `; ssh config ${this.sshConfig}` : ''})`;
          if (code === 127) return 'bash not found on the remote';
          return `the ssh session ended unexpectedly (${code !== undefined ? `exit ${code}` : `signal ${signal ?? '?'}`})`;
        },
      });
  }

  push(from: string, to: string, options: SyncOptions): Promise<SyncSummary> {
    this.stats.rsyncs++;
    this.stats.connections++;
    return runRsync({
      host: this.host,
      baseArgs: [...this.rsyncBase(), '-z'],
      source: withSlash(from),
      // A destination path is never globbed; -s keeps it away from the remote shell.
      dest: `${this.rsyncHost()}:${withSlash(to)}`,
      options,
    });
  }

  pull(from: string, to: string, options: SyncOptions): Promise<SyncSummary> {
    this.stats.rsyncs++;
    this.stats.connections++;
    return runRsync({
      host: this.host,
      baseArgs: [...this.rsyncBase(), '-z'],
      // The sending side globs a source path even with -s: escape * ? [ ] \.
      source: `${this.rsyncHost()}:${rsyncGlobEscape(withSlash(from))}`,
      dest: withSlash(to),
      options,
    });
  }

  private rsyncBase(): string[] {
    return ['-rlpt', '-s', '-e', [this.ssh, ...this.sshOptions()].map(rsyncRshQuote).join(' ')];
  }

  /** rsync reads `a:b:path` as host `a`; an IPv6 literal must be bracketed. */
  private rsyncHost(): string {
    return this.host.includes(':') && !this.host.startsWith('[') ? `[${this.host}]` : this.host;
  }
}

export function withSlash(dir: string): string {
  return dir.endsWith('/') ? dir : `${dir}/`;
}
