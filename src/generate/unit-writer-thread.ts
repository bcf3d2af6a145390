/** The writer thread: runs writeUnit for each job the main thread posts. */
import { parentPort } from 'node:worker_threads';
import { writeUnit, type UnitWriteJob } from './unit-writer.js';

parentPort?.on('message', (msg: { id: number; job: UnitWriteJob }) => {
  try {
    parentPort?.postMessage({ id: msg.id, counts: writeUnit(msg.job) });
  } catch (err) {
    parentPort?.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
