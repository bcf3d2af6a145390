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
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { UserError } from '../errors.js';

export interface LockHolder {
  host: string;
  pid: number;
  started_at: string;
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
}

/** Take the unit's lock or throw UserError LOCK_HELD (exit 2) naming the holder. */
export async function acquireUnitLock(path: string, opts: LockOptions = {}): Promise<UnitLock> {
  const method = opts.method ?? (findOnPath('flock') ? 'flock' : 'pidfile');
  const lock = method === 'flock' ? await acquireFlock(path, opts.deadHolderWaitS ?? 3) : acquirePidFile(`${path}.pid`);
  return lock;
}

function me(): LockHolder {
  return { host: hostname(), pid: process.pid, started_at: new Date().toISOString() };
}

export function readHolder(path: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof h.host === 'string' && typeof h.pid === 'number') return { host: h.host, pid: h.pid, started_at: String(h.started_at ?? '') };
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

function heldError(path: string, holder: LockHolder | undefined): UserError {
  const who = holder ? `${holder.host} pid ${holder.pid} (since ${holder.started_at})` : 'another process (it has not recorded itself yet)';
  return new UserError(
    'LOCK_HELD',
    `unit lock ${path}: expected it free, found it held by ${who}: another worker is running this unit; wait for it or stop it`,
  );
}

async function acquireFlock(path: string, deadHolderWaitS: number): Promise<UnitLock> {
  let held = await tryFlock(path, ['-n']);
  if (held === 'conflict') {
    const holder = readHolder(path);
    // A holder that just died may still have its `cat` alive for a few ms.
    if (holder && !isAliveHere(holder)) held = await tryFlock(path, ['-w', String(deadHolderWaitS)]);
    if (held === 'conflict') throw heldError(path, readHolder(path) ?? holder);
  }
  const child = held;
  writeFileSync(path, `${JSON.stringify(me())}\n`); // in place: same inode
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
    const child = spawn('flock', [...mode, '-E', String(CONFLICT), path, '-c', 'echo locked; exec cat'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C on the terminal (sweep run) signals the whole
      // foreground group, and a killed holder would drop the lock under a live worker,
      // or fail its taking as LOCK_FAILED. It still dies with us: our pipe closes.
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

function acquirePidFile(path: string): UnitLock {
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
      throw heldError(path, holder);
    }
    writeSync(fd, `${JSON.stringify(me())}\n`);
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
  throw heldError(path, readHolder(path));
}

function findOnPath(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}
