/**
 * Streams manifest.json to a temp file one config per line while hashing it, so
 * a 300K-config manifest (tens of MB) is never held in memory as one string,
 * and replaces the old file only when the bytes differ (an unchanged manifest
 * keeps its mtime, so rsync skips it).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Manifest, ManifestConfig } from '../format/manifest.js';

const FLUSH_BYTES = 1 << 20;

export class ManifestWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private buffer = '';
  private count = 0;

  constructor(
    private readonly path: string,
    head: Omit<Manifest, 'configs'>,
  ) {
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    this.fd = openSync(this.tmp, 'w', 0o644);
    const prefix = JSON.stringify(head);
    this.buffer = `${prefix.slice(0, -1)},"configs":[\n`;
  }

  add(config: ManifestConfig): void {
    this.buffer += `${this.count > 0 ? ',\n' : ''}${JSON.stringify(config)}`;
    this.count++;
    if (this.buffer.length >= FLUSH_BYTES) this.flush();
  }

  /** Finish; returns true when the file on disk changed. */
  finish(): boolean {
    this.buffer += `${this.count > 0 ? '\n' : ''}]}\n`;
    this.flush();
    const newDigest = this.hash.digest('hex');
    if (newDigest === digestOfFile(this.path)) {
      closeSync(this.fd);
      rmSync(this.tmp, { force: true });
      return false;
    }
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
    return true;
  }

  abort(): void {
    closeSync(this.fd);
    rmSync(this.tmp, { force: true });
  }

  private flush(): void {
    const buf = Buffer.from(this.buffer);
    this.hash.update(buf);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.buffer = '';
  }
}

function digestOfFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const hash = createHash('sha256');
    const chunk = Buffer.allocUnsafe(FLUSH_BYTES);
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) hash.update(chunk.subarray(0, n));
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}
