/**
 * The report's worker threads: reading and parsing 300,000 records, then
 * rendering a dozen charts, are most of a report's time and both split
 * cleanly (byte ranges of results.ndjson; one chart each), so with N cores
 * they run N at a time. Small sweeps, tests running the TypeScript source
 * (no compiled thread module) and `threads: 0` do the same work inline.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from './charts.js';
import { digestRange, type Digest, type DigestJob } from './digest.js';

type Task = { kind: 'digest'; job: DigestJob } | { kind: 'render'; spec: TopLevelSpec };

export class ReportThreads {
  private readonly workers: Worker[];

  private constructor(workers: Worker[]) {
    this.workers = workers;
  }

  /** Up to `n` threads; none when n <= 1 or the compiled thread module is missing. */
  static start(n: number): ReportThreads {
    const file = fileURLToPath(new URL('./report-thread.js', import.meta.url));
    if (n <= 1 || !existsSync(file)) return new ReportThreads([]);
    // A parent started with `--input-type` (node -e) passes it on; Node refuses it for a file.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    return new ReportThreads(Array.from({ length: n }, () => new Worker(file, { execArgv })));
  }

  get size(): number {
    return this.workers.length;
  }

  digest(jobs: DigestJob[]): Promise<Digest[]> {
    return this.run(jobs.map((job) => ({ kind: 'digest' as const, job })), (t) => digestRange((t as { job: DigestJob }).job)) as Promise<Digest[]>;
  }

  render(specs: TopLevelSpec[]): Promise<string[]> {
    return this.run(specs.map((spec) => ({ kind: 'render' as const, spec })), (t) => renderSvg((t as { spec: TopLevelSpec }).spec)) as Promise<string[]>;
  }

  async close(): Promise<void> {
    for (const w of this.workers) {
      w.removeAllListeners();
      await w.terminate();
    }
  }

  /** Every task, results in task order: each thread takes the next task when it finishes one. */
  private async run(tasks: Task[], inline: (t: Task) => Promise<unknown>): Promise<unknown[]> {
    const out = new Array<unknown>(tasks.length);
    if (this.workers.length === 0) {
      for (let i = 0; i < tasks.length; i++) out[i] = await inline(tasks[i] as Task);
      return out;
    }
    let next = 0;
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const post = (): void => {
              if (next >= tasks.length) {
                w.off('message', onMessage);
                w.off('error', reject);
                resolve();
                return;
              }
              const id = next++;
              w.postMessage({ id, ...tasks[id] });
            };
            const onMessage = (msg: { id: number; value?: unknown; error?: string }): void => {
              if (msg.error !== undefined) {
                w.off('message', onMessage);
                reject(new Error(`report thread: ${msg.error}`));
                return;
              }
              out[msg.id] = msg.value;
              post();
            };
            w.on('message', onMessage);
            w.once('error', reject);
            post();
          }),
      ),
    );
    return out;
  }
}
