/**
 * A private sshd on 127.0.0.1 for tests, with a throwaway host key, client key,
 * known_hosts and ssh_config in a temp dir. Clients reach it as the Host alias
 * `sweep-test-remote` through `ssh -F <sshConfigPath>`.
 *
 * Nothing here reads or writes ~/.ssh: `-F` makes ssh skip ~/.ssh/config and
 * /etc/ssh/ssh_config (so Debian's `SendEnv LANG LC_*` does not apply either),
 * the identity and known_hosts are explicit files, and ssh only creates ~/.ssh
 * when no -F is given (OpenSSH 9.2, checked). The server has no AcceptEnv, so no
 * client variable reaches the remote side.
 *
 * The remote user is whoever runs the tests (root on CI): sshd can only switch to
 * another user when it runs as root.
 *
 * A missing sshd, ssh, ssh-keygen or rsync skips the tests that need them,
 * except under CI=true (test/harness/components.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { ComponentMissing, findProgram } from './missing.js';
import { makeTempDir } from './tmp.js';
import { freePort, runFile, type CommandResult } from './process.js';

export const SSH_HOST_ALIAS = 'sweep-test-remote';

/** What a command run through ssh gave back. */
export type SshResult = CommandResult;

export interface SshdHandle {
  /** The Host alias defined in sshConfigPath. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The private temp dir with keys, configs and the sshd log. */
  readonly dir: string;
  readonly sshConfigPath: string;
  /** `['-F', sshConfigPath]`: prepend to any ssh argv. */
  readonly sshArgs: readonly string[];
  /** The `-e` value for rsync: `ssh -F <sshConfigPath>` (the path has no spaces). */
  readonly rsyncRsh: string;
  /** `ssh -F cfg alias -- command`: `command` is a remote shell command line. Never throws on exit codes. */
  exec(command: string, options?: { input?: string; timeoutMs?: number }): Promise<SshResult>;
  /** sshd's own log so far (connections, auth results). */
  readLog(): Promise<string>;
  /** Stop sshd (SIGTERM, SIGKILL fallback) and remove the temp dir. */
  stop(): Promise<void>;
}

export interface SshTools {
  sshd: string;
  ssh: string;
  sshKeygen: string;
  rsync: string;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const EXEC_TIMEOUT_MS = 30_000;

/** Find sshd, ssh, ssh-keygen and rsync; throws ComponentMissing naming what is missing. */
export function locateSshTools(): SshTools {
  const found: Partial<SshTools> = {};
  const missing: string[] = [];
  for (const [key, name] of [
    ['sshd', 'sshd'],
    ['ssh', 'ssh'],
    ['sshKeygen', 'ssh-keygen'],
    ['rsync', 'rsync'],
  ] as const) {
    try {
      found[key] = findProgram('sshd', [name]);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) throw new ComponentMissing('sshd', `ssh test tools missing: ${missing.join(', ')}`);
  return found as SshTools;
}

/** Start a private sshd on a free 127.0.0.1 port. */
export async function startSshd(): Promise<SshdHandle> {
  const tools = locateSshTools();
  const tmp = makeTempDir('ssh');
  const dir = tmp.path;
  const user = userInfo().username;
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin' };
  const hostKey = join(dir, 'host_ed25519');
  const clientKey = join(dir, 'client_ed25519');
  const authorizedKeys = join(dir, 'authorized_keys');
  const sshdConfig = join(dir, 'sshd_config');
  const knownHosts = join(dir, 'known_hosts');
  const sshConfigPath = join(dir, 'ssh_config');
  const logPath = join(dir, 'sshd.log');

  try {
    for (const [key, comment] of [
      [hostKey, 'sweep-test-host'],
      [clientKey, 'sweep-test-client'],
    ] as const) {
      const res = await runFile(tools.sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', key], { env, timeoutMs: 10_000 });
      if (res.exitCode !== 0) throw new Error(`ssh-keygen failed: ${res.stderr}`);
    }
    await writeFile(authorizedKeys, await readFile(`${clientKey}.pub`));
    const hostPub = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');

    // Privilege separation dir; Debian creates it in the ssh service unit, which
    // never ran here. Only root can create it, and only root needs it.
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

    let lastError: unknown;
    // A probed free port can be taken before sshd binds it: retry with a new one.
    for (let attempt = 0; attempt < 4; attempt++) {
      const port = await freePort();
      await writeFile(sshdConfig, renderSshdConfig({ port, hostKey, authorizedKeys, pidFile: join(dir, 'sshd.pid'), user }));
      await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`);
      await writeFile(sshConfigPath, renderSshConfig({ port, user, clientKey, knownHosts }));
      const server = spawnSshd(tools.sshd, sshdConfig, logPath, env);
      try {
        await waitForBanner(port, server, logPath);
      } catch (err) {
        lastError = err;
        await killAndWait(server.child);
        continue;
      }
      return makeHandle({ tools, dir, port, user, sshConfigPath, logPath, env, server, remove: tmp.remove });
    }
    throw lastError;
  } catch (err) {
    await tmp.remove();
    throw err;
  }
}

function renderSshdConfig(o: { port: number; hostKey: string; authorizedKeys: string; pidFile: string; user: string }): string {
  return [
    `ListenAddress 127.0.0.1:${o.port}`,
    `HostKey ${o.hostKey}`,
    `PidFile ${o.pidFile}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    // Our temp files are not under the user's home with sshd's expected modes.
    'StrictModes no',
    'UsePAM no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    `AllowUsers ${o.user}`,
    'X11Forwarding no',
    'AllowAgentForwarding no',
    'PrintMotd no',
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

function renderSshConfig(o: { port: number; user: string; clientKey: string; knownHosts: string }): string {
  return [
    `Host ${SSH_HOST_ALIAS}`,
    '  HostName 127.0.0.1',
    `  Port ${o.port}`,
    `  User ${o.user}`,
    `  IdentityFile ${o.clientKey}`,
    '  IdentitiesOnly yes',
    '  IdentityAgent none',
    `  UserKnownHostsFile ${o.knownHosts}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  CheckHostIP no',
    '  UpdateHostKeys no',
    '  BatchMode yes',
    '  PasswordAuthentication no',
    '  ForwardAgent no',
    '  ForwardX11 no',
    '  ControlMaster no',
    '  ControlPath none',
    '  ConnectTimeout 10',
    '  LogLevel ERROR',
    '',
  ].join('\n');
}

interface RunningSshd {
  child: ChildProcess;
}

// `-D`: stay in the foreground as our child, so stop() and a dying test worker
// can end it. `-e`: log to stderr, which goes straight to a file in the temp dir.
function spawnSshd(sshd: string, config: string, logPath: string, env: Record<string, string>): RunningSshd {
  const logFd = openSync(logPath, 'a');
  try {
    const child = spawn(sshd, ['-D', '-e', '-f', config], { stdio: ['ignore', logFd, logFd], env });
    child.on('error', () => undefined); // surfaces in waitForBanner as an early exit
    liveServers.add(child);
    child.once('exit', () => liveServers.delete(child));
    return { child };
  } finally {
    closeSync(logFd); // the child holds its own copy
  }
}

/** Ready means the port sends an SSH identification string, not merely that it accepts. */
async function waitForBanner(port: number, server: RunningSshd, logPath: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  for (;;) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`sshd exited early (${server.child.exitCode ?? server.child.signalCode}):\n${await readText(logPath)}`);
    }
    try {
      const banner = await readBanner(port);
      if (banner.startsWith('SSH-2.0-')) return;
      last = `unexpected banner ${JSON.stringify(banner)}`;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) {
      throw new Error(`sshd on 127.0.0.1:${port} not ready after ${START_TIMEOUT_MS} ms (${last}):\n${await readText(logPath)}`);
    }
    await sleep(50);
  }
}

function readBanner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(2_000, () => socket.destroy(new Error('timeout reading banner')));
    socket.once('error', reject);
    socket.once('data', (data: Buffer) => {
      socket.destroy();
      resolve(data.toString('latin1'));
    });
  });
}

function makeHandle(o: {
  tools: SshTools;
  dir: string;
  port: number;
  user: string;
  sshConfigPath: string;
  logPath: string;
  env: Record<string, string>;
  server: RunningSshd;
  remove: () => Promise<void>;
}): SshdHandle {
  const sshArgs = ['-F', o.sshConfigPath] as const;
  let stopped = false;
  return {
    host: SSH_HOST_ALIAS,
    port: o.port,
    user: o.user,
    dir: o.dir,
    sshConfigPath: o.sshConfigPath,
    sshArgs,
    rsyncRsh: `${o.tools.ssh} -F ${o.sshConfigPath}`,
    exec: (command, options = {}) =>
      runFile(o.tools.ssh, [...sshArgs, SSH_HOST_ALIAS, '--', command], {
        env: o.env,
        timeoutMs: options.timeoutMs ?? EXEC_TIMEOUT_MS,
        ...(options.input === undefined ? {} : { input: options.input }),
      }),
    readLog: () => readText(o.logPath),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await killAndWait(o.server.child);
      await o.remove();
    },
  };
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}


function readText(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A test worker that dies before stop() must not leave sshd listening.
const liveServers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveServers) child.kill('SIGKILL');
});
