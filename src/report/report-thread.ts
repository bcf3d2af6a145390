/**
 * A report thread: digests byte ranges of results.ndjson (digest.ts) and
 * renders chart specs to SVG (charts.ts), as the main thread asks. Typed
 * arrays go back transferred, not copied.
 */
import { parentPort } from 'node:worker_threads';
import type { TopLevelSpec } from 'vega-lite';
import { loadCharting, renderSvg } from './charts.js';
import { digestRange, type DigestJob } from './digest.js';

type Task = { id: number; kind: 'digest'; job: DigestJob } | { id: number; kind: 'render'; spec: TopLevelSpec };

parentPort?.on('message', (task: Task) => {
  const done = (value: unknown, transfer: ArrayBuffer[] = []): void => parentPort?.postMessage({ id: task.id, value }, transfer);
  const fail = (err: unknown): void => parentPort?.postMessage({ id: task.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  if (task.kind === 'digest') {
    digestRange(task.job).then((d) => {
      done(d, [d.itemValues.buffer, d.elapsed.buffer, d.elapsedStatus.buffer, ...d.itemParams.map((a) => a.buffer)] as ArrayBuffer[]);
      // Charts come next: load Vega while the main thread merges the digests.
      loadCharting().catch(() => {});
    }, fail);
  } else {
    renderSvg(task.spec).then((svg) => done(svg), fail);
  }
});
