/**
 * A real pseudo-terminal of a fixed size for tests: the command runs in a
 * tmux session on a private server (its own socket and config in a temp dir;
 * the user's tmux is never touched), and the test reads the screen as a
 * person sees it (`capture-pane`), types keys and resizes the window.
 *
 * tmux rather than `script`: `script` records the bytes written, and turning
 * escape sequences back into a screen would need a terminal emulator of our
 * own; tmux is one, and tells what its screen holds.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findProgram } from '../harness/missing.js';
import { makeTempDir } from '../harness/tmp.js';

export interface Pty {
  /** The visible screen, one string per row (trailing spaces dropped); `history` adds the scrollback above it. */
  screen(opts?: { history?: boolean }): Promise<string[]>;
  /** Keys as tmux names them: 'C-c', 'Enter', or text. */
  sendKeys(...keys: string[]): Promise<void>;
  resize(columns: number, rows: number): Promise<void>;
  /** The cursor's row on the visible screen (0 = top). */
  cursorRow(): Promise<number>;
  /** Exit status of the command once it has ended, else null. */
  exitStatus(): Promise<number | null>;
  /** Poll the screen until `predicate` holds; returns that screen. */
  waitForScreen(what: string, predicate: (rows: string[]) => boolean, timeoutMs: number, opts?: { history?: boolean }): Promise<string[]>;
  waitForExit(timeoutMs: number): Promise<number>;
  /** Kill the session and its server, remove the temp dir. */
  stop(): Promise<void>;
}

/**
 * The pane runs the command under this small parent, which writes how it ended
 * to a file and then keeps the pane open, so the screen stays exactly as the
 * command left it. Not tmux's remain-on-exit: tmux 3.3 can mark a pane dead
 * before reaping its process and then never report the exit status, and its
 * "Pane is dead" line scrolls the screen by one. The parent ignores the
 * terminal's Ctrl-C (meant for the command, which shares its process group).
 */
const REPORT_EXIT = `
const { spawn } = require('node:child_process');
const { constants } = require('node:os');
const { writeFileSync } = require('node:fs');
const [statusFile, command, ...args] = process.argv.slice(1);
process.on('SIGINT', () => {});
const child = spawn(command, args, { stdio: 'inherit' });
child.on('exit', (code, signal) => {
  const status = code ?? 128 + (constants.signals[signal] ?? 0);
  writeFileSync(statusFile, String(status));
  setInterval(() => {}, 60_000);
});
`;

function tmuxRun(bin: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env: env ?? process.env, timeout: 15_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tmux ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Start `argv` (no shell) in a `columns` x `rows` terminal, in `cwd`, with exactly `env`. */
export async function startPty(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; columns?: number; rows?: number }): Promise<Pty> {
  const bin = findProgram('tmux', ['tmux']);
  const tmp = makeTempDir('tmux');
  const socket = join(tmp.path, 'sock');
  const config = join(tmp.path, 'tmux.conf');
  // No status bar: the pane is the whole window.
  writeFileSync(config, 'set -g status off\nset -g history-limit 10000\n');
  const base = ['-S', socket, '-f', config];
  const t = (args: string[]) => tmuxRun(bin, [...base, ...args]);
  const columns = opts.columns ?? 80;
  const rows = opts.rows ?? 24;
  // The server inherits this environment and hands it to the command; TERM is tmux's own.
  const statusFile = join(tmp.path, 'exit-status');
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('startPty: no command');
  await tmuxRun(bin, [...base, 'new-session', '-d', '-s', 'main', '-x', String(columns), '-y', String(rows), '-c', opts.cwd, process.execPath, '-e', REPORT_EXIT, statusFile, command, ...args], {
    ...opts.env,
    TERM: 'xterm-256color',
  });

  const screen = async (o: { history?: boolean } = {}): Promise<string[]> => {
    const out = await t(['capture-pane', '-p', '-t', 'main', ...(o.history ? ['-S', '-'] : [])]);
    const lines = out.replace(/\n$/, '').split('\n').map((l) => l.trimEnd());
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines;
  };
  const exitStatus = (): Promise<number | null> => Promise.resolve(existsSync(statusFile) ? Number(readFileSync(statusFile, 'utf8')) : null);
  return {
    screen,
    sendKeys: async (...keys) => {
      await t(['send-keys', '-t', 'main', ...keys]);
    },
    resize: async (c, r) => {
      await t(['resize-window', '-t', 'main', '-x', String(c), '-y', String(r)]);
    },
    exitStatus,
    cursorRow: async () => Number((await t(['display-message', '-p', '-t', 'main', '#{cursor_y}'])).trim()),
    waitForScreen: async (what, predicate, timeoutMs, o = {}) => {
      const deadline = Date.now() + timeoutMs;
      let last: string[] = [];
      for (;;) {
        last = await screen(o);
        if (predicate(last)) return last;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the screen:\n${last.join('\n')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    waitForExit: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const status = await exitStatus();
        if (status !== null) return status;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the command to end; the screen:\n${(await screen()).join('\n')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop: async () => {
      await t(['kill-server']).catch(() => undefined);
      await tmp.remove();
    },
  };
}
