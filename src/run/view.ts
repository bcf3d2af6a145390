/**
 * What `sweep run` shows while it works: on a terminal, one progress line
 * redrawn in place (a live region, src/term/live.ts), laid out for the
 * terminal's width so it never wraps; elsewhere (CI, pipes, pueue logs), one
 * plain line every few seconds. No colour codes, so NO_COLOR holds trivially.
 */
import stringWidth from 'string-width';
import { createLiveRegion, liveRegionBehind, type LiveRegion, type TermStream } from '../term/live.js';
import { formatDuration } from '../worker/progress.js';

export { formatTable } from '../term/table.js';

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
  /** Leave the terminal on a fresh line (the last progress line stays on screen). */
  close(): void;
}

export interface ProgressViewOptions {
  /** Seconds between plain lines without a terminal (default 5 s). */
  intervalMs?: number;
  /** The live region to draw in (default: the one behind `write`, else a private one over `write`). */
  region?: LiveRegion;
  /** Size for a private region (default: stderr's, else 80 x 24). */
  size?: Pick<TermStream, 'columns' | 'rows'>;
}

const BAR_WIDTH = 28;
const MIN_BAR_WIDTH = 10;

interface Parts {
  bar: (width: number) => string;
  count: string;
  statuses: string;
  statusesShort: string;
  units: string;
  rate: string;
  times: string;
  eta: string;
  note: string;
}

function partsOf(c: OverallCounts, elapsedS: number, rate: number, note: string): Parts {
  const done = c.ok + c.skipped + c.error;
  const frac = c.total > 0 ? done / c.total : 1;
  const left = c.total - done;
  const eta = left === 0 ? '0s' : rate > 0 ? formatDuration(left / rate) : '?';
  return {
    bar: (width) => {
      const filled = Math.round(frac * width);
      return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    },
    count: `${done}/${c.total} ${(frac * 100).toFixed(0).padStart(3)}%`,
    statuses: `ok ${c.ok} skipped ${c.skipped} error ${c.error}`,
    statusesShort: `ok ${c.ok} skip ${c.skipped} err ${c.error}`,
    units: `units ${c.unitsDone}/${c.units}`,
    rate: `${rate.toFixed(1)} q/s`,
    times: `${formatDuration(elapsedS)} elapsed, ETA ${eta}`,
    eta: `ETA ${eta}`,
    note,
  };
}

/** The whole line, as written without a terminal. */
export function progressText(c: OverallCounts, elapsedS: number, rate: number, note = ''): string {
  const p = partsOf(c, elapsedS, rate, note);
  return [`${p.bar(BAR_WIDTH)} ${p.count}`, p.statuses, p.units, p.rate, p.times, p.note].filter((s) => s !== '').join(' | ');
}

/**
 * The line for a terminal `columns` cells wide: the richest layout that fits,
 * giving up first the elapsed time, then the note, the bar's width, the long
 * status words, units, rate and at last the bar. Counts per status and the
 * ETA always stay: errors are never hidden to save room.
 */
export function fitProgressLine(c: OverallCounts, elapsedS: number, rate: number, columns: number, note = ''): string {
  const p = partsOf(c, elapsedS, rate, note);
  type Layout = { bar: boolean; fields: string[] };
  const layouts: Layout[] = [
    { bar: true, fields: [p.count, p.statuses, p.units, p.rate, p.times, p.note] },
    { bar: true, fields: [p.count, p.statuses, p.units, p.rate, p.eta, p.note] },
    { bar: true, fields: [p.count, p.statuses, p.units, p.rate, p.eta] },
    { bar: true, fields: [p.count, p.statusesShort, p.units, p.rate, p.eta] },
    { bar: true, fields: [p.count, p.statusesShort, p.rate, p.eta] },
    { bar: true, fields: [p.count, p.statusesShort, p.eta] },
    { bar: false, fields: [p.count, p.statusesShort, p.eta] },
  ];
  for (const layout of layouts) {
    const rest = layout.fields.filter((f) => f !== '').join(' | ');
    if (!layout.bar) {
      if (stringWidth(rest) <= columns) return rest;
      continue;
    }
    // "[bar] " + count... : the bar takes what the fields leave, up to its full width.
    const room = columns - stringWidth(rest) - 3;
    if (room >= MIN_BAR_WIDTH) return `${p.bar(Math.min(BAR_WIDTH, room))} ${rest}`;
  }
  // Narrower than any layout: the live region cuts it.
  return [p.count, p.statusesShort, p.eta].join(' | ');
}

export function createProgressView(write: (text: string) => void, isTTY: boolean, options: ProgressViewOptions | number = {}): ProgressView {
  const opts: ProgressViewOptions = typeof options === 'number' ? { intervalMs: options } : options;
  const intervalMs = opts.intervalMs ?? 5000;
  const started = performance.now();
  let lastPrint = Number.NEGATIVE_INFINITY;
  // The first update's count is what earlier runs finished: the rate counts only this run's.
  let baseline: number | undefined;
  let lastDone = 0;
  let lastAt = started;
  let rate = 0;
  let region: LiveRegion | undefined;
  let ownRegion = false;
  const regionOf = (): LiveRegion => {
    if (region) return region;
    region = opts.region ?? liveRegionBehind(write);
    if (!region) {
      // A caller that gave only a write function: a region of its own at stderr's
      // size (it does not follow resizes; createTerminal's does).
      const size = opts.size ?? (process.stderr.isTTY ? process.stderr : {});
      region = createLiveRegion({ write, isTTY: true, columns: size.columns, rows: size.rows });
      ownRegion = true;
    }
    return region;
  };
  return {
    update(c, note) {
      const now = performance.now();
      const done = c.ok + c.skipped + c.error;
      if (baseline === undefined) {
        baseline = done;
        lastDone = done;
      }
      if (now - lastAt >= 1000) {
        // rate over the last second or more: recovers at once after a slow patch
        rate = ((done - lastDone) * 1000) / (now - lastAt);
        lastDone = done;
        lastAt = now;
      } else if (rate === 0 && now > started) {
        rate = ((done - baseline) * 1000) / (now - started);
      }
      const elapsedS = (now - started) / 1000;
      if (isTTY) {
        if (now - lastPrint < 100 && done < c.total) return;
        const counts = { ...c };
        regionOf().render((size) => [fitProgressLine(counts, elapsedS, rate, size.columns, note)]);
      } else {
        if (now - lastPrint < intervalMs && done < c.total) return;
        write(`${progressText(c, elapsedS, rate, note)}\n`);
      }
      lastPrint = now;
    },
    close() {
      if (!region) return;
      if (ownRegion) {
        region.dispose();
        region = undefined;
      } else {
        region.persist();
      }
    },
  };
}
