/**
 * The one module that reads and writes result NDJSON (`results/<unit>.ndjson`).
 *
 * Format: UTF-8, one JSON value per line, every line ended by a single `\n`
 * (never `\r\n`). A line without its `\n` can only be the tail of a write that
 * was cut short (kill -9, power loss); the writer only ever appends whole lines.
 *
 * Why not the `ndjson` package (named in the design card): no release since
 * 2020; it ends written lines with `os.EOL` (`\r\n` on Windows) and, with
 * `strict: false`, silently drops lines it cannot parse, while torn-line
 * detection and `collect`'s accounting must SEE every bad line. Why not split2
 * or `node:readline` either: they hand out decoded strings and lose byte
 * offsets, which truncating a torn tail and compacting a file need. So lines
 * are split here on `\n` bytes, with offsets, and a line is only decoded when
 * a caller asks for it.
 *
 * This module is also shipped on its own to the remote host (src/host/remote-script.ts
 * sends the compiled file): it may import only `node:` builtins at run time (types are fine).
 */
import { closeSync, constants as fsConstants, fsync, fsyncSync, mkdirSync, openSync, write, writeSync } from 'node:fs';
import { open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { TerminalStatus } from './record.js';

const NL = 0x0a;
const DEFAULT_CHUNK = 1 << 20;

// ---------------------------------------------------------------- line splitting

/** A complete line: bytes [start, end) of `buf`, its `\n` at `end`, at `offset` in the file. */
export type LineVisitor = (buf: Buffer, start: number, end: number, offset: number) => void;

export interface TornTail {
  /** File offset where the incomplete last line starts (= size of the complete part). */
  offset: number;
  length: number;
  /** Its first bytes, decoded leniently, for messages. */
  preview: string;
}

export interface LineScan {
  /** File size when the scan ended. */
  size: number;
  lines: number;
  torn?: TornTail;
}

/**
 * Visit every complete line of a file, in order, in bounded memory (a line
 * longer than the chunk grows the buffer to fit it). A missing file is an empty one.
 */
export async function forEachLine(path: string, visit: LineVisitor, chunkSize = DEFAULT_CHUNK): Promise<LineScan> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { size: 0, lines: 0 };
    throw err;
  }
  try {
    let buf = Buffer.allocUnsafe(chunkSize);
    let filled = 0; // bytes of buf holding data
    let bufOffset = 0; // file offset of buf[0]
    let lines = 0;
    for (;;) {
      if (filled === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, bufOffset + filled);
      if (bytesRead === 0) break;
      const scanFrom = filled;
      filled += bytesRead;
      let start = 0;
      let nl = buf.indexOf(NL, scanFrom);
      while (nl !== -1 && nl < filled) {
        visit(buf, start, nl, bufOffset + start);
        lines++;
        start = nl + 1;
        nl = start < filled ? buf.indexOf(NL, start) : -1;
      }
      // Keep the unfinished line at the front of the buffer.
      if (start > 0) {
        buf.copy(buf, 0, start, filled);
        filled -= start;
        bufOffset += start;
      }
    }
    const size = bufOffset + filled;
    if (filled > 0) {
      return { size, lines, torn: { offset: bufOffset, length: filled, preview: buf.toString('utf8', 0, Math.min(filled, 120)) } };
    }
    return { size, lines };
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------- the reader

/** One line of a results file as a reader sees it: nothing is skipped silently. */
export type NdjsonLine =
  | { kind: 'value'; value: unknown; lineNo: number; offset: number; length: number }
  | { kind: 'bad'; text: string; reason: string; lineNo: number; offset: number; length: number }
  /** The last line, without its `\n`: a write cut short. */
  | { kind: 'torn'; text: string; lineNo: number; offset: number; length: number };

/**
 * Every line of an NDJSON file, parsed, with bad and torn lines reported as
 * such (line numbers from 1, byte offsets from 0). Collect builds on this.
 */
export async function readNdjson(path: string): Promise<NdjsonLine[]> {
  const out: NdjsonLine[] = [];
  let lineNo = 0;
  const scan = await forEachLine(path, (buf, start, end, offset) => {
    lineNo++;
    out.push(parseLine(buf.toString('utf8', start, end), lineNo, offset, end - start + 1));
  });
  if (scan.torn) {
    const fh = await open(path, 'r');
    try {
      const tail = Buffer.alloc(scan.torn.length);
      await fh.read(tail, 0, tail.length, scan.torn.offset);
      out.push({ kind: 'torn', text: tail.toString('utf8'), lineNo: lineNo + 1, offset: scan.torn.offset, length: scan.torn.length });
    } finally {
      await fh.close();
    }
  }
  return out;
}

function parseLine(text: string, lineNo: number, offset: number, length: number): NdjsonLine {
  try {
    return { kind: 'value', value: JSON.parse(text) as unknown, lineNo, offset, length };
  } catch (err) {
    return { kind: 'bad', text, reason: (err as Error).message, lineNo, offset, length };
  }
}

// ---------------------------------------------------------------- torn tail

/**
 * Cut an incomplete last line off the file (the only damage a crash of the
 * append-only writer can leave). Returns what was cut, or undefined when the
 * file ends cleanly (or does not exist). Call it only while holding the unit lock.
 */
export async function cutTornTail(path: string): Promise<TornTail | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    if (size === 0) return undefined;
    // Walk back from the end to the last `\n`.
    const step = 64 * 1024;
    const buf = Buffer.allocUnsafe(step);
    let end = size;
    let lastNl = -1;
    while (end > 0 && lastNl === -1) {
      const from = Math.max(0, end - step);
      const { bytesRead } = await fh.read(buf, 0, end - from, from);
      const idx = buf.subarray(0, bytesRead).lastIndexOf(NL);
      if (idx !== -1) lastNl = from + idx;
      end = from;
    }
    const keep = lastNl + 1; // 0 when the file holds no `\n` at all
    if (keep === size) return undefined;
    const previewLen = Math.min(size - keep, 120);
    const preview = Buffer.alloc(previewLen);
    await fh.read(preview, 0, previewLen, keep);
    await fh.truncate(keep);
    await fh.sync();
    return { offset: keep, length: size - keep, preview: preview.toString('utf8') };
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------- skip-done scan

/** What skip-done needs from one record line. */
export interface RecordHead {
  config: string;
  status: TerminalStatus;
  sql_sha256: string;
  /** The target the record was written for; null for a v1 record (which had none). */
  target: string | null;
  /** The setup generation it ran under; null when none (or a v1 record). */
  setup: string | null;
  /** Byte offset and length (with its `\n`) of the line, for compaction. */
  offset: number;
  length: number;
}

export interface BadLine {
  lineNo: number;
  offset: number;
  length: number;
  reason: string;
}

export interface HeadScan {
  /** In file order. */
  heads: RecordHead[];
  bad: BadLine[];
  torn?: TornTail;
  size: number;
}

// The canonical shape written by makeRecord + JSON.stringify:
// {"v":2,"config":"<id>","status":"<ok|skipped|error>","sql_sha256":"<64 hex>","target":"<t>","setup":null|"<g>",...}
const HEAD = Buffer.from('{"v":2,"config":"');
const AFTER_CONFIG = Buffer.from('","status":"');
const AFTER_STATUS = Buffer.from('","sql_sha256":"');
const AFTER_SHA = Buffer.from('","target":"');
const AFTER_TARGET = Buffer.from('","setup":');
const NULL = Buffer.from('null');
const SHA_LEN = 64;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const STATUSES: ReadonlyArray<{ bytes: Buffer; status: TerminalStatus }> = (['ok', 'skipped', 'error'] as const).map((s) => ({
  bytes: Buffer.from(s),
  status: s,
}));

/**
 * Read the head (`config`, `status`, `sql_sha256`, `target`, `setup`) of every
 * record line. Lines in the canonical v2 shape are read from their first bytes
 * without JSON.parse (a 300K-record file scans in a fraction of a second); any
 * other line (v1 records among them) is parsed in full, and one that is not a
 * record is reported in `bad`, never dropped.
 *
 * The fast path also checks the line ends with `}` and holds no second
 * unescaped record head: two records glued together by an old torn write can
 * then never pass for the first one. (Inside a JSON string every `"` is
 * escaped, so the head's byte sequence can only recur as real JSON structure,
 * e.g. a row with columns `v` and `config`; such a line simply takes the slow path.)
 */
export async function scanRecordHeads(path: string): Promise<HeadScan> {
  const heads: RecordHead[] = [];
  const bad: BadLine[] = [];
  let lineNo = 0;
  const scan = await forEachLine(path, (buf, start, end, offset) => {
    lineNo++;
    const length = end - start + 1;
    const fast = readHeadFast(buf, start, end);
    if (fast) {
      fast.offset = offset;
      fast.length = length;
      heads.push(fast);
      return;
    }
    const text = buf.toString('utf8', start, end);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      bad.push({ lineNo, offset, length, reason: `not JSON (${(err as Error).message})` });
      return;
    }
    const head = headOf(value);
    if (typeof head === 'string') bad.push({ lineNo, offset, length, reason: head });
    else heads.push({ ...head, offset, length });
  });
  return scan.torn ? { heads, bad, torn: scan.torn, size: scan.size } : { heads, bad, size: scan.size };
}

/** A JSON string without escapes starting at `from` (after its opening quote): its end, or -1. */
function plainStringEnd(buf: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) {
    const b = buf[i];
    if (b === QUOTE) return i;
    if (b === BACKSLASH) return -1; // escaped text: let JSON.parse decode it
  }
  return -1;
}

function readHeadFast(buf: Buffer, start: number, end: number): RecordHead | undefined {
  if (end - start < HEAD.length + AFTER_CONFIG.length + AFTER_STATUS.length + SHA_LEN + AFTER_SHA.length + AFTER_TARGET.length + 4) return undefined;
  if (buf[end - 1] !== CLOSE_BRACE) return undefined;
  if (!matchesAt(buf, start, HEAD)) return undefined;
  const cfgStart = start + HEAD.length;
  const cfgEnd = plainStringEnd(buf, cfgStart, end);
  if (cfgEnd <= cfgStart || !matchesAt(buf, cfgEnd, AFTER_CONFIG)) return undefined;
  let i = cfgEnd + AFTER_CONFIG.length;
  let status: TerminalStatus | undefined;
  for (const s of STATUSES) {
    if (matchesAt(buf, i, s.bytes) && matchesAt(buf, i + s.bytes.length, AFTER_STATUS)) {
      status = s.status;
      i += s.bytes.length + AFTER_STATUS.length;
      break;
    }
  }
  if (!status) return undefined;
  const shaStart = i;
  const shaEnd = shaStart + SHA_LEN;
  if (shaEnd >= end || !matchesAt(buf, shaEnd, AFTER_SHA)) return undefined;
  for (let k = shaStart; k < shaEnd; k++) {
    const b = buf[k] as number;
    if (!((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66))) return undefined;
  }
  const targetStart = shaEnd + AFTER_SHA.length;
  const targetEnd = plainStringEnd(buf, targetStart, end);
  if (targetEnd < 0 || !matchesAt(buf, targetEnd, AFTER_TARGET)) return undefined;
  i = targetEnd + AFTER_TARGET.length;
  let setup: string | null;
  if (matchesAt(buf, i, NULL)) {
    setup = null;
    i += NULL.length;
  } else if (buf[i] === QUOTE) {
    const setupEnd = plainStringEnd(buf, i + 1, end);
    if (setupEnd < 0) return undefined;
    setup = buf.toString('utf8', i + 1, setupEnd);
    i = setupEnd + 1;
  } else {
    return undefined;
  }
  if (buf[i] !== COMMA) return undefined;
  // A second record head inside this line means glued records: take the slow path.
  const again = buf.indexOf(HEAD, start + 1);
  if (again !== -1 && again < end) return undefined;
  return {
    config: buf.toString('utf8', cfgStart, cfgEnd),
    status,
    sql_sha256: buf.toString('latin1', shaStart, shaEnd),
    target: buf.toString('utf8', targetStart, targetEnd),
    setup,
    offset: 0,
    length: 0,
  };
}

function matchesAt(buf: Buffer, at: number, needle: Buffer): boolean {
  if (at + needle.length > buf.length) return false;
  for (let k = 0; k < needle.length; k++) if (buf[at + k] !== needle[k]) return false;
  return true;
}

/** The head of a parsed record, or why it is not one. */
export function headOf(value: unknown): Omit<RecordHead, 'offset' | 'length'> | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  const v = r['v'];
  if (v !== 1 && v !== 2) return `expected "v": 1 or 2, found ${JSON.stringify(v)}`;
  if (typeof r['config'] !== 'string' || r['config'] === '') return 'expected a "config" string';
  const status = r['status'];
  if (status !== 'ok' && status !== 'skipped' && status !== 'error') return `expected "status" ok, skipped or error, found ${JSON.stringify(status)}`;
  if (typeof r['sql_sha256'] !== 'string') return 'expected a "sql_sha256" string';
  if (v === 1) return { config: r['config'], status, sql_sha256: r['sql_sha256'], target: null, setup: null };
  if (typeof r['target'] !== 'string') return 'expected a "target" string';
  const setup = r['setup'];
  if (setup !== null && typeof setup !== 'string') return 'expected "setup" to be a string or null';
  return { config: r['config'], status, sql_sha256: r['sql_sha256'], target: r['target'], setup };
}

// ---------------------------------------------------------------- compaction

/**
 * Rewrite the file keeping only the complete lines for which `keep(offset)` is
 * true: temp file in the same directory, fsync, rename, fsync of the directory.
 * A reader (or a crash) sees the old file or the new one. With `aside`, the
 * dropped lines are first appended (and fsynced) to that file: moved aside,
 * never deleted. A crash between the two leaves a line in both places, which
 * is harmless (the aside file is never read as results). Call it only while
 * holding the unit lock, after cutTornTail.
 */
export async function rewriteKeeping(
  path: string,
  keep: (offset: number) => boolean,
  opts: { aside?: string } = {},
): Promise<{ kept: number; dropped: number }> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.compact`);
  // A compaction killed half-way leaves its temp file: the lock holder may remove it.
  for (const name of await readdir(dirname(path))) {
    if (name.startsWith(`.${basename(path)}.`) && name.endsWith('.compact')) await rm(join(dirname(path), name), { force: true });
  }
  // Synchronous writes: this runs once, at start-up, before any query.
  const out = openSync(tmp, 'w', 0o644);
  let kept = 0;
  let dropped = 0;
  let aside: number | undefined;
  try {
    if (opts.aside) {
      mkdirSync(dirname(opts.aside), { recursive: true });
      aside = openSync(opts.aside, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT, 0o644);
    }
    const pending = Buffer.allocUnsafe(DEFAULT_CHUNK);
    let used = 0;
    const drain = (): void => {
      let off = 0;
      while (off < used) off += writeSync(out, pending, off, used - off);
      used = 0;
    };
    await forEachLine(path, (buf, start, end, offset) => {
      if (!keep(offset)) {
        dropped++;
        if (aside !== undefined) {
          let off = start;
          while (off < end + 1) off += writeSync(aside, buf, off, end + 1 - off);
        }
        return;
      }
      kept++;
      const len = end + 1 - start;
      if (used + len > pending.length) drain();
      if (len > pending.length) {
        let off = start;
        while (off < end + 1) off += writeSync(out, buf, off, end + 1 - off);
        return;
      }
      buf.copy(pending, used, start, end + 1);
      used += len;
    });
    drain();
    fsyncSync(out);
    if (aside !== undefined) fsyncSync(aside);
  } catch (err) {
    closeSync(out);
    if (aside !== undefined) closeSync(aside);
    await rm(tmp, { force: true });
    throw err;
  }
  closeSync(out);
  if (aside !== undefined) closeSync(aside);
  await rename(tmp, path);
  await fsyncDir(dirname(path));
  return { kept, dropped };
}

function fsyncDirSync(dir: string): void {
  try {
    const fd = openSync(dir, fsConstants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory.
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, fsConstants.O_RDONLY);
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

// ---------------------------------------------------------------- the writer

export interface AppenderOptions {
  /** Flush when this many lines are buffered (default 256). */
  maxLines?: number;
  /** Flush when the buffered lines hold this many characters (default 4 MiB): big results do not pile up. */
  maxChars?: number;
  /** Flush at most this long after the first buffered line (default 200 ms). */
  maxDelayMs?: number;
  /** fsync after every batch (default true). */
  fsync?: boolean;
}

/**
 * Appends whole lines in batches: one write() and one fsync per batch, at most
 * one batch in flight, so lines land in the order they were appended. A crash
 * loses at most the unflushed batch and leaves at most one torn last line.
 * Writes go through the thread pool so an fsync never stalls the event loop
 * (and with it the query dispatch).
 */
export class NdjsonAppender {
  private readonly fd: number;
  private readonly maxLines: number;
  private readonly maxChars: number;
  private bufferedChars = 0;
  private readonly maxDelayMs: number;
  private readonly doFsync: boolean;
  private buffered: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;
  /** Lines durably written (flushed and, if enabled, fsynced). */
  written = 0;

  private constructor(fd: number, opts: AppenderOptions) {
    this.fd = fd;
    this.maxLines = opts.maxLines ?? 256;
    this.maxChars = opts.maxChars ?? 4 * 1024 * 1024;
    this.maxDelayMs = opts.maxDelayMs ?? 200;
    this.doFsync = opts.fsync ?? true;
  }

  static open(path: string, opts: AppenderOptions = {}): NdjsonAppender {
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_APPEND);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT, 0o644);
      // A new file's name is only durable once its directory is synced.
      fsyncDirSync(dirname(path));
    }
    return new NdjsonAppender(fd, opts);
  }

  /** Serialize one value as a line. JSON.stringify escapes every control character and lone surrogate. */
  append(value: unknown): void {
    this.appendLine(JSON.stringify(value));
  }

  /** Append one line of JSON text (without its `\n`). */
  appendLine(line: string): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('NdjsonAppender: append after close');
    this.buffered.push(line);
    this.bufferedChars += line.length;
    if (this.buffered.length >= this.maxLines || this.bufferedChars >= this.maxChars) {
      if (!this.inFlight) void this.flush().catch(() => {});
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().catch(() => {});
      }, this.maxDelayMs);
    }
  }

  get pendingLines(): number {
    return this.buffered.length;
  }

  /** Write and sync everything appended so far. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.inFlight) await this.inFlight;
    if (this.failure) throw this.failure;
    if (this.buffered.length === 0) return;
    const lines = this.buffered;
    this.buffered = [];
    this.bufferedChars = 0;
    this.inFlight = this.writeBatch(lines).finally(() => {
      this.inFlight = undefined;
    });
    await this.inFlight;
    // Lines appended while this batch was in flight and already past the threshold.
    if (this.buffered.length >= this.maxLines || this.bufferedChars >= this.maxChars) await this.flush();
  }

  private async writeBatch(lines: string[]): Promise<void> {
    const data = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    try {
      let off = 0;
      while (off < data.length) {
        off += await new Promise<number>((resolve, reject) =>
          write(this.fd, data, off, data.length - off, null, (err, n) => (err ? reject(err) : resolve(n))),
        );
      }
      if (this.doFsync) await new Promise<void>((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve())));
      this.written += lines.length;
    } catch (err) {
      this.failure = err as Error;
      throw err;
    }
  }

  /**
   * Last resort (a second signal, process exit): write what is buffered
   * synchronously. Skips the batch in flight, which the kernel finishes anyway.
   */
  flushSync(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffered.length === 0 || this.failure) return;
    const data = Buffer.from(`${this.buffered.join('\n')}\n`, 'utf8');
    const n = this.buffered.length;
    this.buffered = [];
    this.bufferedChars = 0;
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
    if (this.doFsync) fsyncSync(this.fd);
    this.written += n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      closeSync(this.fd);
    }
  }
}

/** Size of a file, 0 when missing. */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}
