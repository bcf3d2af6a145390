/**
 * How sweep reaches the host that runs a sweep: `ssh` (the system ssh and
 * rsync, with the user's ssh config) or `local` (the same steps on this
 * machine, no ssh). Chosen in one place, `openTransport` (src/remote/context.ts).
 *
 * A command (submit-all, status, collect) opens at most ONE session per host
 * (one ssh connection running `bash -s`) and runs its steps in it one after
 * the other, and at most one rsync per direction per host, whatever the
 * number of units (the shell tier's one-ssh-per-query cost AP-12 cannot come
 * back); the hosts of a sweep are reached all at once (src/remote/fanout.ts). Every step and
 * every rsync has a deadline; every failure is a `RemoteError` naming the host
 * and the step.
 */
import { UserError } from '../errors.js';

export interface StepOptions {
  /** A short name for messages: "preflight", "queue", ... */
  step: string;
  timeoutMs: number;
}

export interface StepResult {
  stdout: string;
  stderr: string;
  /** The step function's exit status. */
  code: number;
}

/** One long-lived shell on the host; shell variables set by a step are seen by the next. */
export interface RemoteSession {
  /** Run `body` as the body of a bash function, stdin from /dev/null. */
  run(body: string, options: StepOptions): Promise<StepResult>;
  close(): Promise<void>;
  /** Kill the connection now (a host past its deadline): the running step fails, nothing more is sent. */
  abort(): void;
}

export interface SyncOptions {
  step: string;
  timeoutMs: number;
  /** rsync filter arguments (--include/--exclude ...), applied in order. */
  filters: readonly string[];
  /** Delete files on the receiving side that the filters include and the sender lacks. */
  delete?: boolean;
  dryRun?: boolean;
}

export interface SyncSummary {
  /** Regular files transferred (created or updated). */
  files: number;
  /** Bytes of file data sent or received over the wire. */
  bytes: number;
  ms: number;
  /** rsync's warnings, e.g. files that vanished while being read (exit 24). */
  warnings: string[];
}

export interface TransportStats {
  /** Connections to the host: sessions opened plus rsync runs. */
  connections: number;
  sessions: number;
  rsyncs: number;
}

export interface Transport {
  readonly kind: 'ssh' | 'local';
  /** For messages: the ssh destination, or "local". */
  readonly host: string;
  readonly stats: TransportStats;
  /** Start the shell; a connection failure surfaces in the first step. */
  openSession(): RemoteSession;
  /** Copy the contents of local dir `from` into remote dir `to` (both absolute). */
  push(from: string, to: string, options: SyncOptions): Promise<SyncSummary>;
  /** Copy the contents of remote dir `from` into local dir `to` (both absolute). */
  pull(from: string, to: string, options: SyncOptions): Promise<SyncSummary>;
}

/** A remote step failed: the host or the tool on it is the user's to fix (exit 2). */
export class RemoteError extends UserError {
  readonly host: string;
  readonly step: string;
  constructor(host: string, step: string, message: string, code = 'REMOTE_FAILED') {
    super(code, `${host}: ${step}: ${message}`);
    this.host = host;
    this.step = step;
  }
}

/** The last few non-empty lines of a tool's stderr, for messages. */
export function tail(text: string, lines = 6): string {
  const kept = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
  return kept.slice(-lines).join('\n');
}
