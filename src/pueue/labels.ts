/**
 * The sweep's pueue task labels (`sweep:<name>:<unit>`, `sweep:<name>:after:<step>`,
 * `sweep:<name>:control:autoscale` for a host's autoscale controller)
 * and the task that speaks for each. Tasks are identified by label; ids are
 * reused after `pueue clean`. src/host/remote-side.ts spells the prefix out
 * again (it may import only node: builtins): change both together.
 */
import { isActive, type TaskView } from './status.js';

export type SweepLabel = { kind: 'unit'; unit: string } | { kind: 'after'; step: string };

export function labelPrefix(sweep: string): string {
  return `sweep:${sweep}:`;
}

/** `sweep:<name>:<unit>`; unit ids hold no `:`. */
export function unitLabel(sweep: string, unit: string): string {
  return `${labelPrefix(sweep)}${unit}`;
}

/** `sweep:<name>:after:<step>`: cannot collide with a unit label (no `:` in unit ids). */
export function afterLabel(sweep: string, step: string): string {
  return `${labelPrefix(sweep)}after:${step}`;
}

/** The autoscale controller's label: not a unit (it holds a `:`), but under the sweep's prefix, so `sweep stop` ends it too. */
export function autoscaleLabel(sweep: string): string {
  return `${labelPrefix(sweep)}control:autoscale`;
}

/** The controller's own pueue group, so it never takes a slot of the group it sizes. */
export function autoscaleGroup(group: string): string {
  return `${group}-autoscale`;
}

export function parseLabel(sweep: string, label: string | null): SweepLabel | undefined {
  const prefix = labelPrefix(sweep);
  if (label === null || !label.startsWith(prefix)) return undefined;
  const rest = label.slice(prefix.length);
  if (rest.startsWith('after:')) return { kind: 'after', step: rest.slice('after:'.length) };
  if (rest === '' || rest.includes(':')) return undefined;
  return { kind: 'unit', unit: rest };
}

/**
 * The task that speaks for a label: an active one if any (there should be at
 * most one), else the most recently created. Never by id: ids come back after
 * `pueue clean`.
 */
export function currentTask(tasks: readonly TaskView[]): TaskView | undefined {
  let best: TaskView | undefined;
  for (const t of tasks) {
    if (!best) {
      best = t;
      continue;
    }
    const ta = isActive(t);
    const ba = isActive(best);
    if (ta !== ba) {
      if (ta) best = t;
      continue;
    }
    if (t.createdAt > best.createdAt) best = t;
  }
  return best;
}

/** Tasks of one sweep by label, split into units and after steps. */
export function tasksByLabel(sweep: string, tasks: readonly TaskView[]): { units: Map<string, TaskView[]>; after: Map<string, TaskView[]> } {
  const units = new Map<string, TaskView[]>();
  const after = new Map<string, TaskView[]>();
  for (const t of tasks) {
    const l = parseLabel(sweep, t.label);
    if (!l) continue;
    const map = l.kind === 'unit' ? units : after;
    const key = l.kind === 'unit' ? l.unit : l.step;
    const list = map.get(key);
    if (list) list.push(t);
    else map.set(key, [t]);
  }
  return { units, after };
}
