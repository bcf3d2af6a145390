/**
 * The live region of a terminal: a few lines at its bottom redrawn in place
 * (`sweep run`'s progress line, `status --watch`'s screen), cut to the
 * terminal's width and height so that nothing wraps or scrolls, drawn again at
 * the new size when the terminal is resized, with permanent text (a notice, a
 * unit's failure) printed above it instead of through it.
 *
 * Library: log-update draws the frames: it erases exactly the previous frame,
 * rewrites only the lines that changed, brackets each write in
 * synchronized-output marks, and hides the cursor (restored on exit, also after
 * Ctrl-C, by cli-cursor). Why not cli-progress: it draws one bar format and
 * nothing else (no multi-line screen for status); why not listr2 or ink: a task
 * list and a React renderer are far more than a line and a screen. log-update
 * wraps a line wider than the terminal onto the next row, the very bug this
 * module exists to prevent, so every line is cut first (cli-truncate, measuring
 * with string-width: wide characters and colour codes count as what is shown),
 * one column short of the width (some terminals wrap at the last column).
 *
 * Resize: a terminal that reflows its text on shrinking (tmux, VTE, iTerm2,
 * Windows Terminal) turns a line wider than the new width into several rows,
 * and log-update, which erases the row count it wrote, then leaves the first
 * rows behind; a terminal that does not reflow (xterm) keeps one row. Between
 * frames the cursor therefore waits at the frame's first column and row
 * (moved with node:readline's cursor functions): reflowing or not, the terminal
 * keeps it there, so on a resize everything from the cursor down is the old
 * frame, erased whole before the frame is drawn at the new size. What the
 * terminal echoes there meanwhile (the ^C of a Ctrl-C) is drawn over by the
 * next frame, and by the last one, which is written afresh when it stays.
 */
import { clearScreenDown, cursorTo, moveCursor } from 'node:readline';
import cliTruncate from 'cli-truncate';
import { createLogUpdate } from 'log-update';
import stringWidth from 'string-width';

/** What a region draws on: a TTY stream, or a stand-in with a size (tests, a `write` callback). */
export interface TermStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  on?(event: 'resize', listener: () => void): unknown;
  off?(event: 'resize', listener: () => void): unknown;
}

/** A frame: its lines, or a function laying them out for a size (called again on a resize). */
export type Frame = readonly string[] | ((size: { columns: number; rows: number }) => readonly string[]);

export interface LiveRegion {
  /** Draw a frame in place of the previous one: each line cut to the width, the frame cut to the height. */
  render(frame: Frame): void;
  /** Permanent text above the frame: the frame is erased, the text written, the frame drawn again below it. */
  print(text: string): void;
  /** Leave the current frame on screen as ordinary lines, cursor below it; the next render starts a new frame there. */
  persist(): void;
  /** Erase the current frame; the next render starts where it was. */
  clear(): void;
  /** Persist the frame, stop listening for resizes, show the cursor. */
  dispose(): void;
  /** Whether a frame is on screen. */
  readonly active: boolean;
  /** The usable size: one column and one row less than the terminal. */
  size(): { columns: number; rows: number };
}

export interface LiveRegionOptions {
  /** Hide the cursor while a frame is shown (restored by persist, dispose and on exit). */
  hideCursor?: boolean;
  /** Size when the stream reports none. */
  defaultColumns?: number;
  defaultRows?: number;
}

/** Cut a line to `columns` terminal cells so it never wraps; colour codes are kept and closed. */
export function fitLine(line: string, columns: number): string {
  const flat = line.replace(/[\r\n\t]+/g, ' ');
  if (stringWidth(flat) <= columns) return flat;
  return cliTruncate(flat, Math.max(1, columns), { position: 'end' });
}

export function createLiveRegion(stream: TermStream, options: LiveRegionOptions = {}): LiveRegion {
  const columnsNow = () => (stream.columns !== undefined && stream.columns > 0 ? stream.columns : (options.defaultColumns ?? 80));
  const rowsNow = () => (stream.rows !== undefined && stream.rows > 0 ? stream.rows : (options.defaultRows ?? 24));
  // log-update and node:readline only call write() and read the size.
  const target = {
    write: (text: string, callback?: () => void) => {
      stream.write(text);
      callback?.();
      return true;
    },
    get isTTY() {
      return stream.isTTY === true;
    },
    get columns() {
      return columnsNow();
    },
    get rows() {
      return rowsNow();
    },
  } as unknown as NodeJS.WritableStream;
  const log = createLogUpdate(target, { showCursor: options.hideCursor !== true });

  let frame: Frame | null = null;
  /** Rows of the frame on screen; the cursor waits that many rows up, at the frame's first row. */
  let parkedRows = 0;

  const size = () => ({ columns: Math.max(1, columnsNow() - 1), rows: Math.max(1, rowsNow() - 1) });

  /** Back to the row below the frame, where log-update left the cursor. */
  const unpark = () => {
    if (parkedRows > 0) moveCursor(target, 0, parkedRows);
    parkedRows = 0;
  };

  const layout = (f: Frame): string[] => {
    const { columns, rows } = size();
    const lines = typeof f === 'function' ? f({ columns, rows }) : f;
    return lines.slice(0, rows).map((l) => fitLine(l, columns));
  };

  const draw = (f: Frame) => {
    const cut = layout(f);
    unpark();
    log(cut.join('\n'));
    moveCursor(target, 0, -cut.length);
    parkedRows = cut.length;
  };

  const onResize = () => {
    if (frame === null) return;
    // The cursor is on the frame's first row (its column moved if the terminal echoed
    // a key there): from that row down is only the old frame, however reflowed.
    cursorTo(target, 0);
    clearScreenDown(target);
    parkedRows = 0;
    log.done(); // forget the old frame: the next one is written from here
    draw(frame);
  };
  stream.on?.('resize', onResize);
  // A process that ends with a frame on screen (an error thrown past the view)
  // leaves the cursor below it, where the shell's prompt belongs.
  const onExit = () => unpark();
  process.once('exit', onExit);

  const persist = () => {
    if (frame === null) return;
    unpark();
    // Written afresh: what the terminal echoed where the cursor waited (the ^C
    // of a Ctrl-C, a key typed) is gone from the lines that stay on screen.
    log.clear();
    log(layout(frame).join('\n'));
    log.done();
    frame = null;
  };

  return {
    render(f) {
      frame = typeof f === 'function' ? f : [...f];
      draw(frame);
    },
    print(text) {
      if (frame === null) {
        stream.write(text);
        return;
      }
      unpark();
      log.clear();
      stream.write(text.endsWith('\n') ? text : `${text}\n`);
      draw(frame);
    },
    persist,
    clear() {
      if (frame === null) return;
      unpark();
      log.clear();
      log.done();
      frame = null;
    },
    dispose() {
      persist();
      stream.off?.('resize', onResize);
      process.off('exit', onExit);
    },
    get active() {
      return frame !== null;
    },
    size,
  };
}

/** A terminal stream whose writes go through `write` (a command's I/O), sized and resized as `tty`. */
export function termStreamOf(write: (text: string) => void, tty: NodeJS.WriteStream): TermStream {
  return {
    write,
    isTTY: true,
    get columns() {
      return tty.columns;
    },
    get rows() {
      return tty.rows;
    },
    on: (event, listener) => tty.on(event, listener),
    off: (event, listener) => tty.off(event, listener),
  };
}

/** A write function whose text goes above a live region on the same stream (see `createTerminal`). */
export type TermWrite = (text: string) => void;

const regionsBehindWrites = new WeakMap<TermWrite, LiveRegion>();

/**
 * The terminal side of a command: `write` prints permanent text and `region`
 * draws live frames on the same stream, without either breaking the other. A
 * view created elsewhere from the `write` alone (`liveRegionBehind`) shares the
 * region, so code that only passes a write function along (sweep run) needs no
 * further plumbing.
 */
export function createTerminal(stream: TermStream, options: LiveRegionOptions = {}): { write: TermWrite; region: LiveRegion } {
  const region = createLiveRegion(stream, options);
  const write: TermWrite = (text) => region.print(text);
  regionsBehindWrites.set(write, region);
  return { write, region };
}

/** The live region a write function from `createTerminal` prints above, if it is one. */
export function liveRegionBehind(write: (text: string) => void): LiveRegion | undefined {
  return regionsBehindWrites.get(write);
}
