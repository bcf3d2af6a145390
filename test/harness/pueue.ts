/**
 * An isolated pueue v4 daemon for tests: its own config, state, socket and secret
 * in a short temp dir under /tmp. It never reads or touches ~/.config/pueue or the
 * user's default daemon: every call passes `-c CFG`, and PUEUE_CONFIG_PATH is set
 * to the same file so that a `pueue` run from inside a task lands here too.
 *
 * Verified against pueue 4.0.4 (`cargo install --locked pueue`):
 *  - pueued creates pueue_directory (and its task_logs/, certs/, log/) and the
 *    shared secret itself, but NOT the parent dir of pid_path: start fails with
 *    "Failed to create pid file ... No such file or directory". We create run/.
 *  - after `kill -9` of the daemon, a new pueued starts over the stale pid file
 *    and socket, and reports the task that was running as Done/Killed.
 *  - tasks run in the daemon's session (each in its own process group), which is
 *    how we find the ones a killed daemon leaves behind.
 *  - `pueue add` joins its argv with spaces and hands the result to `sh -c`, so
 *    pass a task's shell command as ONE argument.
 *
 * A missing (or non-v4) pueue skips the tests that need it, except under CI=true
 * (test/harness/components.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { ComponentMissing, findProgram } from './missing.js';
import { makeTempDir } from './tmp.js';
import { runFile, type CommandResult } from './process.js';

// ---- Types of `pueue status --json` / `pueue log --json` (pueue v4) ----

export type PueueTaskResult =
  | 'Success'
  | 'Killed'
  | 'Errored'
  | 'DependencyFailed'
  | { Failed: number }
  | { FailedToSpawn: string };

export type PueueTaskStatus =
  | { Queued: { enqueued_at: string } }
  | { Stashed: { enqueue_at: string | null } }
  | { Running: { enqueued_at: string; start: string } }
  | { Paused: { enqueued_at: string; start: string } }
  | { Done: { enqueued_at: string; start: string; end: string; result: PueueTaskResult } }
  | { Locked: { previous_status: PueueTaskStatus } };

export interface PueueTask {
  id: number;
  created_at: string;
  original_command: string;
  command: string;
  path: string;
  /** The whole environment of the `pueue add` client (empty in `log --json`). */
  envs: Record<string, string>;
  group: string;
  dependencies: number[];
  priority: number;
  label: string | null;
  status: PueueTaskStatus;
}

export interface PueueGroup {
  status: 'Running' | 'Paused' | 'Reset';
  parallel_tasks: number;
}

export interface PueueStatus {
  /** Keyed by the task id as a string. */
  tasks: Record<string, PueueTask>;
  groups: Record<string, PueueGroup>;
}

export interface PueueLogEntry {
  task: PueueTask;
  /** stdout and stderr merged. */
  output: string;
}

export type { CommandResult } from './process.js';

export interface PueueCallOptions {
  /** Merged over the harness's minimal env (PATH, HOME=dir, PUEUE_CONFIG_PATH). Tasks inherit it. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface PueueHandle {
  /** The private temp dir holding config, state, socket, secret and the daemon log. */
  readonly dir: string;
  readonly configPath: string;
  readonly socketPath: string;
  /** stdout+stderr of pueued (all incarnations, appended). */
  readonly logPath: string;
  /** `pueue --version` output, e.g. "pueue 4.0.4". */
  readonly version: string;
  /** pid of the current daemon (changes after restartDaemon). */
  readonly pid: number;
  /** Run `pueue -c CFG ...args`; never throws on a non-zero exit. */
  pueue(args: string[], options?: PueueCallOptions): Promise<CommandResult>;
  /** `pueue status --json [-g group]`, parsed; throws if the daemon does not answer. */
  status(group?: string): Promise<PueueStatus>;
  /** `pueue log --json --full ids...`, keyed by id as a string. */
  log(ids: number[]): Promise<Record<string, PueueLogEntry>>;
  /** Poll until no task of `group` is Queued, Running, Paused or Locked; returns that status. */
  waitForGroupIdle(group: string, timeoutMs: number): Promise<PueueStatus>;
  /**
   * Stop the daemon and start a new one on the same config and state.
   * mode 'kill' (default): SIGKILL the daemon and the tasks it left running, like a
   * crash or reboot. mode 'shutdown': a clean `pueue shutdown`.
   */
  restartDaemon(options?: { mode?: 'kill' | 'shutdown' }): Promise<void>;
  /** `pueue shutdown`, wait for the daemon to exit (SIGKILL fallback), kill stray tasks, remove dir. */
  stop(): Promise<void>;
}

export interface PueueBinaries {
  pueue: string;
  pueued: string;
  version: string;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const CALL_TIMEOUT_MS = 30_000;

let located: PueueBinaries | undefined;

/**
 * Find pueue and pueued on PATH or in ~/.cargo/bin and check they are v4;
 * throws ComponentMissing if not (test/harness/components.ts makes that a skip,
 * or a failure under CI=true).
 */
export function locatePueue(): PueueBinaries {
  if (located) return located;
  const cargoBin = join(homedir(), '.cargo', 'bin');
  const pueue = findProgram('pueue', ['pueue'], [cargoBin]);
  const pueued = findProgram('pueue', ['pueued'], [cargoBin]);
  // v3 and v4 cannot talk to each other and a v4 daemon discards v3 state.
  const versions = [pueue, pueued].map((bin) => execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim());
  for (const [i, v] of versions.entries()) {
    if (!/^pueued? 4\./.test(v)) throw new ComponentMissing('pueue', `${i === 0 ? pueue : pueued} reports "${v}"; this project needs pueue 4.x`);
  }
  located = { pueue, pueued, version: versions[0] ?? '' };
  return located;
}

/** Start an isolated pueue v4 daemon in a fresh temp dir. */
export async function startPueue(): Promise<PueueHandle> {
  const bins = locatePueue();
  const tmp = makeTempDir('pq');
  const dir = tmp.path;
  const configPath = join(dir, 'pueue.yml');
  const runDir = join(dir, 'run');
  const socketPath = join(runDir, 'pueue.sock');
  const pidPath = join(runDir, 'pueue.pid');
  const logPath = join(dir, 'pueued.log');
  await mkdir(runDir);
  await writeFile(configPath, renderConfig(dir, runDir, socketPath, pidPath));

  // A minimal, explicit env: tasks get exactly the client's env, and it all lands
  // in state.json. node's dir is on PATH so tasks can run the worker.
  const baseEnv: Record<string, string> = {
    PATH: [dirname(bins.pueue), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(delimiter),
    HOME: dir,
    PUEUE_CONFIG_PATH: configPath,
  };

  let daemon: { pid: number; sid: number } | undefined;
  let stopped = false;

  const pueue = (args: string[], options: PueueCallOptions = {}): Promise<CommandResult> =>
    runFile(bins.pueue, ['-c', configPath, ...args], {
      env: { ...baseEnv, ...options.env },
      cwd: dir,
      timeoutMs: options.timeoutMs ?? CALL_TIMEOUT_MS,
    });

  const status = async (group?: string): Promise<PueueStatus> => {
    const res = await pueue(['status', '--json', ...(group === undefined ? [] : ['-g', group])]);
    if (res.exitCode !== 0) throw new Error(`pueue status failed (exit ${res.exitCode ?? res.signal}): ${res.stderr.trim()}`);
    return parseStatus(res.stdout);
  };

  const launch = async (): Promise<void> => {
    daemon = await launchDaemon(bins.pueued, configPath, pidPath, logPath, baseEnv, pueue);
  };

  const killDaemon = async (graceful: boolean): Promise<void> => {
    const current = daemon;
    if (!current) return;
    if (graceful && isProcessAlive(current.pid)) {
      // shutdown kills the running tasks and removes the socket and pid file.
      await pueue(['shutdown'], { timeoutMs: STOP_TIMEOUT_MS }).catch(() => undefined);
      await waitUntil(() => !isProcessAlive(current.pid) && !existsSync(socketPath), STOP_TIMEOUT_MS);
    }
    if (isProcessAlive(current.pid)) {
      killQuietly(current.pid);
      if (!(await waitUntil(() => !isProcessAlive(current.pid), STOP_TIMEOUT_MS))) {
        throw new Error(`pueued (pid ${current.pid}) survived SIGKILL for ${STOP_TIMEOUT_MS} ms`);
      }
    }
    // Tasks survive a SIGKILLed daemon as orphans; they are still in its session.
    await killSession(current.sid);
    daemon = undefined;
  };

  await launch().catch(async (err: unknown) => {
    await tmp.remove();
    throw err;
  });
  const currentDaemon = (): { pid: number; sid: number } | undefined => daemon;
  liveDaemons.add(currentDaemon);

  return {
    dir,
    configPath,
    socketPath,
    logPath,
    version: bins.version,
    get pid(): number {
      if (!daemon) throw new Error('pueue daemon is not running');
      return daemon.pid;
    },
    pueue,
    status,
    log: async (ids) => {
      const res = await pueue(['log', '--json', '--full', ...ids.map(String)]);
      if (res.exitCode !== 0) throw new Error(`pueue log failed (exit ${res.exitCode ?? res.signal}): ${res.stderr.trim()}`);
      return JSON.parse(res.stdout) as Record<string, PueueLogEntry>;
    },
    waitForGroupIdle: async (group, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const st = await status(group);
        const busy = Object.values(st.tasks).filter((t) => t.group === group && isBusy(t.status));
        if (busy.length === 0) return st;
        if (Date.now() > deadline) {
          const summary = busy.map((t) => `#${t.id} ${t.label ?? ''} ${Object.keys(t.status)[0] ?? '?'}`).join(', ');
          throw new Error(`pueue group ${group} not idle after ${timeoutMs} ms: ${summary}`);
        }
        await sleep(100);
      }
    },
    restartDaemon: async (options = {}) => {
      if (stopped) throw new Error('restartDaemon after stop()');
      await killDaemon(options.mode === 'shutdown');
      // The dead daemon is gone (we checked, zombies included): clear what it left so
      // the new one cannot mistake a recycled pid for a live daemon.
      await rm(pidPath, { force: true });
      await rm(socketPath, { force: true });
      await launch();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await killDaemon(true);
      liveDaemons.delete(currentDaemon);
      await tmp.remove();
    },
  };
}

function renderConfig(dir: string, runDir: string, socketPath: string, pidPath: string): string {
  // JSON strings are valid YAML scalars, so paths need no further escaping.
  const q = (s: string): string => JSON.stringify(s);
  return [
    'shared:',
    `  pueue_directory: ${q(join(dir, 'data'))}`,
    `  runtime_directory: ${q(runDir)}`,
    '  use_unix_socket: true',
    `  unix_socket_path: ${q(socketPath)}`,
    `  pid_path: ${q(pidPath)}`,
    `  alias_file: ${q(join(dir, 'pueue_aliases.yml'))}`,
    `  shared_secret_path: ${q(join(dir, 'shared_secret'))}`,
    '',
  ].join('\n');
}

/**
 * `setsid -f pueued -c CFG`, stdio to a log file, then poll `status` until it answers.
 * Not `pueued -d`: that forks and returns 0 even when the child then fails, and the
 * child keeps our stdio (over ssh that hangs the session). setsid -f returns at once,
 * the daemon is nobody's child and leads its own session, so its tasks share that
 * session id, which is how killSession() finds them.
 */
async function launchDaemon(
  pueued: string,
  configPath: string,
  pidPath: string,
  logPath: string,
  env: Record<string, string>,
  pueue: (args: string[], options?: PueueCallOptions) => Promise<CommandResult>,
): Promise<{ pid: number; sid: number }> {
  const logFd = openSync(logPath, 'a');
  // The log spans restarts; judge this start only by what it writes.
  const logStart = fstatSync(logFd).size;
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('setsid', ['-f', pueued, '-c', configPath], { stdio: ['ignore', logFd, logFd], env });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`setsid -f pueued exited with ${code ?? signal}`)),
      );
    });
  } finally {
    closeSync(logFd);
  }

  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  for (;;) {
    const res = await pueue(['status', '--json'], { timeoutMs: 5_000 });
    if (res.exitCode === 0) break;
    last = res.stderr.trim();
    const log = await readLog(logPath, logStart);
    // pueued reports a fatal start error with color-eyre's "Error:" header and exits.
    const failed = /^Error:/m.test(log);
    if (failed || Date.now() > deadline) {
      // A daemon that started but never answered must not outlive the attempt.
      const stalePid = Number((await readFile(pidPath, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(stalePid) && stalePid > 0 && commandLine(stalePid).includes(configPath)) killQuietly(stalePid);
      throw new Error(
        `isolated pueued (config ${configPath}) ${failed ? 'failed to start' : `did not answer within ${START_TIMEOUT_MS} ms`}.\n` +
          `last client error: ${stripAnsi(last)}\ndaemon log ${logPath}:\n${log.slice(-3000)}`,
      );
    }
    await sleep(100);
  }
  const pid = Number((await readFile(pidPath, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid)) {
    throw new Error(`pueued answered but its pid file ${pidPath} does not name a live process`);
  }
  // setsid -f makes pueued the leader of a new session (sid == pid). Anything else
  // would mean the session is shared with us: refuse rather than ever kill by it.
  const sid = readProcStat(pid)?.session;
  if (sid !== undefined && sid !== pid) {
    killQuietly(pid);
    throw new Error(`pueued (pid ${pid}) is not a session leader (sid ${sid}); was it started without setsid?`);
  }
  return { pid, sid: pid };
}

function parseStatus(stdout: string): PueueStatus {
  const parsed = JSON.parse(stdout) as unknown;
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    typeof (parsed as { tasks?: unknown }).tasks !== 'object' ||
    typeof (parsed as { groups?: unknown }).groups !== 'object'
  ) {
    throw new Error(`unexpected pueue status --json output: ${stdout.slice(0, 300)}`);
  }
  return parsed as PueueStatus;
}

function isBusy(status: PueueTaskStatus): boolean {
  // Stashed tasks never start on their own, so they do not keep a group busy.
  return 'Queued' in status || 'Running' in status || 'Paused' in status || 'Locked' in status;
}

async function readLog(logPath: string, fromByte: number): Promise<string> {
  const bytes = await readFile(logPath).catch(() => Buffer.alloc(0));
  return stripAnsi(bytes.subarray(fromByte).toString('utf8'));
}

function stripAnsi(text: string): string {
  // color-eyre colours its report even when stderr is a file.
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}

// ---- processes (Linux /proc) ----

interface ProcStat {
  state: string;
  session: number;
}

function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp session ..."; comm may contain spaces and parens.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '?', session: Number(fields[3]) };
}

/** argv of a live process, [] if it is gone. */
function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '');
  } catch {
    return [];
  }
}

/**
 * Alive means running, not merely present: a killed daemon can linger as a zombie
 * (here PID 1 reaps lazily), and kill(pid, 0) succeeds on zombies.
 */
export function isProcessAlive(pid: number): boolean {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** Live processes of session `sid`: a daemon we started leads it, its tasks belong to it. */
function sessionMembers(sid: number): number[] {
  if (!existsSync('/proc/self/stat')) return [];
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const stat = readProcStat(pid);
      return stat !== undefined && stat.session === sid && stat.state !== 'Z' && stat.state !== 'X';
    });
}

async function killSession(sid: number): Promise<void> {
  for (const pid of sessionMembers(sid)) killQuietly(pid);
  await waitUntil(() => sessionMembers(sid).length === 0, STOP_TIMEOUT_MS);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A test worker that dies before stop() must not leave daemons behind.
const liveDaemons = new Set<() => { pid: number; sid: number } | undefined>();
process.once('exit', () => {
  for (const get of liveDaemons) {
    const d = get();
    if (!d) continue;
    killQuietly(d.pid);
    for (const pid of sessionMembers(d.sid)) killQuietly(pid);
  }
});
