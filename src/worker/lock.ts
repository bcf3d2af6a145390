/**
 * One worker per unit: an exclusive lock held for the worker's whole life.
 *
 * Why a kernel flock held by a child process: the kernel drops it the moment
 * its holder dies, however it dies (kill -9, OOM killer, power cut of the
 * session), so a killed worker never blocks the next one and there is no stale
 * lock to judge. Node has no flock(2) binding, so util-linux `flock` holds it
 * for us: `flock -n <lockfile> -c 'echo locked; exec cat'` takes the lock, says
 * so, and `cat` keeps it while our stdin pipe is open. When we exit (or are
 * killed) the pipe closes, `cat` reads EOF and exits, and the lock goes with it.
 * The lock path is passed as its own argv element, never through a shell string.
 *
 * Why not proper-lockfile: it defaults to `retries: 0` and `realpath: true`
 * (ENOENT on a file not yet created), and its mtime lease is judged "compromised"
 * when the event loop stalls. Without `flock` (macOS) we fall back to an O_EXCL
 * pid file with a liveness check: weaker (a pid can be reused; two hosts sharing
 * the directory cannot check each other's pids), but it still never lets two
 * live workers on one host share a unit.
 *
 * The lock file itself is never deleted or replaced: a new inode at the same path
 * would let a second worker lock it while the first still holds the old one.
 * After acquiring, the holder writes `{host, pid, started_at}` into it in place,
 * so a refused worker can name the holder.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { UserError } from '../errors.js';

export interface LockHolder {
  host: string;
  pid: number;
  started_at: string;
  /** What the holder is doing, e.g. `sweep run sql/breakout.yaml` (sweep-dir locks). */
  command?: string;
}

export interface UnitLock {
  path: string;
  method: 'flock' | 'pidfile';
  release(): Promise<void>;
}

const CONFLICT = 75; // flock -E: exit code on conflict, distinct from flock's own errors (1)

export interface LockOptions {
  /** How long to wait for a lock whose recorded holder is dead but not yet gone (default 3 s). */
  deadHolderWaitS?: number;
  /** Force the pid-file fallback (tests). */
  method?: 'flock' | 'pidfile';
  /** What the lock guards, for messages (default: a unit). */
  kind?: LockKind;
  /** Recorded in the lock file so a refused process can say what holds it. */
  command?: string;
}

/** A unit (one worker at a time) or a whole sweep dir (one writing command at a time). */
export type LockKind = 'unit' | 'sweep';

/** Take the unit's lock or throw UserError LOCK_HELD (exit 2) naming the holder. */
export async function acquireUnitLock(path: string, opts: LockOptions = {}): Promise<UnitLock> {
  const method = opts.method ?? (findOnPath('flock') ? 'flock' : 'pidfile');
  const kind = opts.kind ?? 'unit';
  const holder = me(opts.command);
  return method === 'flock' ? await acquireFlock(path, opts.deadHolderWaitS ?? 3, kind, holder) : acquirePidFile(`${path}.pid`, kind, holder);
}

/**
 * The sweep dir's lock (`<dir>/.sweep/lock`): generate, run, submit-all and
 * collect hold it for their whole life, so two of them never write one sweep
 * dir at once; stop, status and logs never take it. Throws LOCK_HELD naming
 * the holder's host, pid and command.
 */
export async function acquireSweepLock(sweepDir: string, command: string): Promise<UnitLock> {
  const dir = join(sweepDir, '.sweep');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return acquireUnitLock(join(dir, 'lock'), { kind: 'sweep', command });
}

function me(command?: string): LockHolder {
  return { host: hostname(), pid: process.pid, started_at: new Date().toISOString(), ...(command ? { command } : {}) };
}

/**
 * The holder of a lock file that is alive, as far as this machine can tell (a
 * holder on another host is assumed alive). A lock file is emptied on release,
 * and a killed holder's pid is gone, so neither counts.
 */
export function liveHolder(path: string): LockHolder | undefined {
  const holder = readHolder(path);
  return holder && isAliveHere(holder) ? holder : undefined;
}

export function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof h.host === 'string' && typeof h.pid === 'number') {
      return { host: h.host, pid: h.pid, started_at: String(h.started_at ?? ''), ...(typeof h.command === 'string' ? { command: h.command } : {}) };
    }
  } catch {
    // empty (being written, or released) or not ours
  }
  return undefined;
}

function isAliveHere(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true; // cannot tell: assume alive
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function heldError(path: string, holder: LockHolder | undefined, kind: LockKind): UserError {
  const who = holder
    ? `${holder.host} pid ${holder.pid}${holder.command ? ` (${holder.command})` : ''} since ${holder.started_at}`
    : 'another process (it has not recorded itself yet)';
  const what =
    kind === 'unit'
      ? `unit lock ${path}: expected it free, found it held by ${who}: another worker is running this unit; wait for it or stop it`
      : `sweep dir ${dirname(dirname(path))}: expected no other sweep command writing it, found one: ${who}; wait for it to finish or stop it ('sweep stop' ends a run that queued units in pueue)`;
  return new UserError('LOCK_HELD', what);
}

async function acquireFlock(path: string, deadHolderWaitS: number, kind: LockKind, holder: LockHolder): Promise<UnitLock> {
  let held = await tryFlock(path, ['-n']);
  if (held === 'conflict') {
    const current = readHolder(path);
    // A holder that just died may still have its `cat` alive for a few ms.
    if (current && !isAliveHere(current)) held = await tryFlock(path, ['-w', String(deadHolderWaitS)]);
    if (held === 'conflict') throw heldError(path, readHolder(path) ?? current, kind);
  }
  const child = held;
  writeFileSync(path, `${JSON.stringify(holder)}\n`); // in place: same inode
  let released = false;
  return {
    path,
    method: 'flock',
    release: async () => {
      if (released) return;
      released = true;
      try {
        writeFileSync(path, ''); // no stale holder for the next reader
      } catch {
        // the directory may be gone (tests); the lock is released below anyway
      }
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

type FlockChild = ChildProcessByStdio<Writable, Readable, Readable>;

function tryFlock(path: string, mode: string[]): Promise<FlockChild | 'conflict'> {
  return new Promise((resolve, reject) => {
    // Its own process group: a signal sent to the worker's group (pueue kill --signal, a
    // Ctrl-C in the terminal) must not end the lock holder before the worker has finished
    // writing. It still dies with the worker: its stdin pipe closes then.
    const child = spawn('flock', [...mode, '-E', String(CONFLICT), path, '-c', 'echo locked; exec cat'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let err = '';
    let settled = false;
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (!settled && out.includes('locked\n')) {
        settled = true;
        child.stdout.off('data', onData);
        child.stdout.resume();
        // Never keep the worker alive just for the lock holder.
        child.unref();
        for (const s of [child.stdin, child.stdout, child.stderr] as Array<{ unref?: () => void }>) s.unref?.();
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e) => {
      if (!settled) {
        settled = true;
        reject(e);
      }
    });
    child.on('exit', (code) => {
      if (settled) return;
      settled = true;
      if (code === CONFLICT) resolve('conflict');
      else reject(new UserError('LOCK_FAILED', `unit lock ${path}: expected flock to take it, found flock exiting ${code}: ${err.trim()}`));
    });
  });
}

function acquirePidFile(path: string, kind: LockKind, me: LockHolder): UnitLock {
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(path);
      // No holder recorded a few seconds after creation: its creator died between open and write.
      const stale = holder ? !isAliveHere(holder) : Date.now() - statSync(path).mtimeMs > 5000;
      if (stale && attempt === 0) {
        rmSync(path, { force: true });
        continue;
      }
      throw heldError(path, holder, kind);
    }
    writeSync(fd, `${JSON.stringify(me)}\n`);
    closeSync(fd);
    let released = false;
    return {
      path,
      method: 'pidfile',
      release: async () => {
        if (released) return;
        released = true;
        const holder = readHolder(path);
        if (holder?.pid === process.pid && holder.host === hostname()) rmSync(path, { force: true });
      },
    };
  }
  throw heldError(path, readHolder(path), kind);
}

function findOnPath(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}
