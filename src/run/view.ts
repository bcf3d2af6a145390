/**
 * What `sweep run` shows while it works: on a terminal, one overall bar
 * rewritten in place (counts, rate, ETA); elsewhere (CI, pipes, pueue logs),
 * one plain line every few seconds. No colour codes, so NO_COLOR holds trivially.
 */
import { formatDuration } from '../worker/progress.js';

export interface OverallCounts {
  total: number;
  ok: number;
  skipped: number;
  error: number;
  unitsDone: number;
  units: number;
}

export interface ProgressView {
  update(counts: OverallCounts, note?: string): void;
  /** Leave the terminal on a fresh line. */
  close(): void;
}

const BAR_WIDTH = 28;

export function progressText(c: OverallCounts, elapsedS: number, rate: number, width = BAR_WIDTH): string {
  const done = c.ok + c.skipped + c.error;
  const frac = c.total > 0 ? done / c.total : 1;
  const filled = Math.round(frac * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const left = c.total - done;
  const eta = left === 0 ? '0s' : rate > 0 ? formatDuration(left / rate) : '?';
  return (
    `[${bar}] ${done}/${c.total} ${(frac * 100).toFixed(0).padStart(3)}% | ok ${c.ok} skipped ${c.skipped} error ${c.error}` +
    ` | units ${c.unitsDone}/${c.units} | ${rate.toFixed(1)} q/s | ${formatDuration(elapsedS)} elapsed, ETA ${eta}`
  );
}

export function createProgressView(write: (text: string) => void, isTTY: boolean, intervalMs = 5000): ProgressView {
  const started = performance.now();
  let lastPrint = Number.NEGATIVE_INFINITY;
  let lastDone = 0;
  let lastAt = started;
  let rate = 0;
  let drawn = false;
  return {
    update(c, note) {
      const now = performance.now();
      const done = c.ok + c.skipped + c.error;
      if (now - lastAt >= 1000) {
        // rate over the last second or more: recovers at once after a slow patch
        rate = ((done - lastDone) * 1000) / (now - lastAt);
        lastDone = done;
        lastAt = now;
      } else if (rate === 0 && now > started) {
        rate = (done * 1000) / (now - started);
      }
      const text = progressText(c, (now - started) / 1000, rate) + (note ? ` | ${note}` : '');
      if (isTTY) {
        if (now - lastPrint < 100 && done < c.total) return;
        write(`\r\u001b[2K${text}`);
        drawn = true;
      } else {
        if (now - lastPrint < intervalMs && done < c.total) return;
        write(`${text}\n`);
      }
      lastPrint = now;
    },
    close() {
      if (isTTY && drawn) write('\n');
      drawn = false;
    },
  };
}

/** A plain text table: columns padded, numbers right-aligned. */
export function formatTable(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[], isHeader: boolean) =>
    r
      .map((cell, i) => {
        const w = widths[i] ?? 0;
        const numeric = !isHeader && /^-?[0-9.,]+( ?(ms|s|q\/s|%))?$/.test(cell);
        return numeric ? cell.padStart(w) : cell.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(header, true), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(r.map(String), false))].join('\n');
}
