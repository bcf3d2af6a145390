/**
 * Writes that matter are atomic: a reader sees the old file or the new one,
 * never half of either (temp file in the same directory, fsync, rename).
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
