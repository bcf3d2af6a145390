/**
 * Writes that matter are atomic: a reader sees the old file or the new one,
 * never half of either (temp file in the same directory, fsync, rename).
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * `durable: false` skips the fsync: still atomic against a crashed process (the
 * rename is), not against a power cut. For files rewritten by every run anyway,
 * where 1,000 fsyncs would cost more than the run's real work.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: { durable?: boolean } = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (opts.durable !== false) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
