/**
 * Typed view of `pueue status --json` (pueue v4).
 *
 * pueue v4 made a task's status a one-key object (`{"Running": {...}}`,
 * `{"Done": {"result": {"Failed": 1}}}`): filters on the v3 string forms
 * (`.status == "Running"`) silently match nothing, which is how the shell tier
 * lost track of its tasks. Every shape is parsed here, once, and anything
 * unexpected is an error that says what was found, never a silent miss.
 */

export type TaskState = 'queued' | 'stashed' | 'running' | 'paused' | 'done';

export type TaskResult =
  | { kind: 'success' }
  | { kind: 'failed'; code: number }
  | { kind: 'killed' }
  | { kind: 'errored' }
  | { kind: 'dependency-failed' }
  | { kind: 'failed-to-spawn'; message: string };

export interface TaskView {
  id: number;
  label: string | null;
  group: string;
  command: string;
  path: string;
  createdAt: string;
  state: TaskState;
  /** Set when state is 'done'. */
  result?: TaskResult;
  /** pueue holds the task briefly while it changes it; `state` is the status before. */
  locked: boolean;
  enqueuedAt?: string;
  start?: string;
  end?: string;
  dependencies: number[];
}

export interface GroupView {
  status: 'Running' | 'Paused' | 'Reset';
  parallel: number;
}

export interface StatusView {
  tasks: TaskView[];
  groups: Record<string, GroupView>;
}

export class PueueFormatError extends Error {
  override readonly name = 'PueueFormatError';
}

/** Parse `pueue status --json` output (already JSON.parsed). Throws PueueFormatError on any unexpected shape. */
export function parseStatus(raw: unknown): StatusView {
  if (!isObject(raw) || !isObject(raw['tasks']) || !isObject(raw['groups'])) {
    throw new PueueFormatError(`expected pueue status JSON with "tasks" and "groups" objects, found ${preview(raw)}`);
  }
  const tasks: TaskView[] = [];
  for (const [key, value] of Object.entries(raw['tasks'])) tasks.push(parseTask(key, value));
  tasks.sort((a, b) => a.id - b.id);
  const groups: Record<string, GroupView> = {};
  for (const [name, g] of Object.entries(raw['groups'])) {
    if (!isObject(g) || typeof g['parallel_tasks'] !== 'number' || !['Running', 'Paused', 'Reset'].includes(String(g['status']))) {
      throw new PueueFormatError(`group ${JSON.stringify(name)}: expected {"status": "Running"|"Paused"|"Reset", "parallel_tasks": N}, found ${preview(g)}`);
    }
    groups[name] = { status: g['status'] as GroupView['status'], parallel: g['parallel_tasks'] };
  }
  return { tasks, groups };
}

export function parseTask(key: string, value: unknown): TaskView {
  if (!isObject(value)) throw new PueueFormatError(`task ${key}: expected an object, found ${preview(value)}`);
  const id = value['id'];
  if (typeof id !== 'number') throw new PueueFormatError(`task ${key}: expected a numeric "id", found ${preview(id)}`);
  const label = value['label'];
  if (label !== null && label !== undefined && typeof label !== 'string') {
    throw new PueueFormatError(`task ${id}: expected "label" to be a string or null, found ${preview(label)}`);
  }
  const status = parseTaskStatus(value['status'], `task ${id}`);
  const deps = Array.isArray(value['dependencies']) ? value['dependencies'].filter((d): d is number => typeof d === 'number') : [];
  return {
    id,
    label: typeof label === 'string' ? label : null,
    group: typeof value['group'] === 'string' ? value['group'] : 'default',
    command: typeof value['command'] === 'string' ? value['command'] : String(value['original_command'] ?? ''),
    path: typeof value['path'] === 'string' ? value['path'] : '',
    createdAt: typeof value['created_at'] === 'string' ? value['created_at'] : '',
    dependencies: deps,
    ...status,
  };
}

type ParsedStatus = Pick<TaskView, 'state' | 'result' | 'locked' | 'enqueuedAt' | 'start' | 'end'>;

export function parseTaskStatus(status: unknown, where: string): ParsedStatus {
  if (typeof status === 'string') {
    // pueue v3 wrote "Running", "Queued", ... as plain strings.
    throw new PueueFormatError(`${where}: status is the string ${JSON.stringify(status)}, the pueue v3 format; sweep needs pueue v4 on the remote`);
  }
  if (!isObject(status)) throw new PueueFormatError(`${where}: expected a status object, found ${preview(status)}`);
  const keys = Object.keys(status);
  const kind = keys[0];
  if (keys.length !== 1 || kind === undefined) throw new PueueFormatError(`${where}: expected a one-key status object, found ${preview(status)}`);
  const body = status[kind];
  const str = (k: string): string | undefined => (isObject(body) && typeof body[k] === 'string' ? body[k] : undefined);
  const times = (): Pick<TaskView, 'enqueuedAt' | 'start' | 'end'> => {
    const t: Pick<TaskView, 'enqueuedAt' | 'start' | 'end'> = {};
    const e = str('enqueued_at') ?? str('enqueue_at');
    if (e !== undefined) t.enqueuedAt = e;
    const s = str('start');
    if (s !== undefined) t.start = s;
    const en = str('end');
    if (en !== undefined) t.end = en;
    return t;
  };
  switch (kind) {
    case 'Queued':
      return { state: 'queued', locked: false, ...times() };
    case 'Stashed':
      return { state: 'stashed', locked: false, ...times() };
    case 'Running':
      return { state: 'running', locked: false, ...times() };
    case 'Paused':
      return { state: 'paused', locked: false, ...times() };
    case 'Done': {
      if (!isObject(body)) throw new PueueFormatError(`${where}: expected Done to hold an object, found ${preview(body)}`);
      return { state: 'done', locked: false, result: parseResult(body['result'], where), ...times() };
    }
    case 'Locked': {
      if (!isObject(body)) throw new PueueFormatError(`${where}: expected Locked to hold {"previous_status": ...}, found ${preview(body)}`);
      return { ...parseTaskStatus(body['previous_status'], `${where} (locked)`), locked: true };
    }
    default:
      throw new PueueFormatError(`${where}: unknown status ${JSON.stringify(kind)} (expected Queued, Stashed, Running, Paused, Done or Locked)`);
  }
}

export function parseResult(result: unknown, where: string): TaskResult {
  switch (result) {
    case 'Success':
      return { kind: 'success' };
    case 'Killed':
      return { kind: 'killed' };
    case 'Errored':
      return { kind: 'errored' };
    case 'DependencyFailed':
      return { kind: 'dependency-failed' };
  }
  if (isObject(result)) {
    if (typeof result['Failed'] === 'number') return { kind: 'failed', code: result['Failed'] };
    if (typeof result['FailedToSpawn'] === 'string') return { kind: 'failed-to-spawn', message: result['FailedToSpawn'] };
  }
  throw new PueueFormatError(`${where}: unknown task result ${preview(result)} (expected Success, Killed, Errored, DependencyFailed, {Failed: n} or {FailedToSpawn: msg})`);
}

/** Queued, running or paused (or stashed: held, and would run once enqueued): a unit in this state must not be queued again. */
export function isActive(t: TaskView): boolean {
  return t.state !== 'done';
}

export function isFailure(t: TaskView): boolean {
  return t.state === 'done' && t.result !== undefined && t.result.kind !== 'success';
}

/** The status as pueue's own table shows it: Queued, Running, Success, Failed(1), Killed, DependencyFailed, ... */
export function describeState(t: Pick<TaskView, 'state' | 'result' | 'locked'>): string {
  let s: string;
  if (t.state !== 'done') s = t.state.charAt(0).toUpperCase() + t.state.slice(1);
  else s = describeResult(t.result);
  return t.locked ? `${s} (locked)` : s;
}

export function describeResult(r: TaskResult | undefined): string {
  switch (r?.kind) {
    case undefined:
      return 'Done';
    case 'success':
      return 'Success';
    case 'failed':
      return `Failed(${r.code})`;
    case 'killed':
      return 'Killed';
    case 'errored':
      return 'Errored';
    case 'dependency-failed':
      return 'DependencyFailed';
    case 'failed-to-spawn':
      return 'FailedToSpawn';
  }
}

/** What a failure means, in words, for status output. */
export function explainResult(r: TaskResult | undefined): string | undefined {
  switch (r?.kind) {
    case 'failed':
      if (r.code === 1) return 'the worker finished with configs in error (or could not finish them)';
      if (r.code === 2) return 'the worker refused to run (bad input, unit locked by another worker, or ClickHouse unreachable)';
      if (r.code === 127) return 'command not found on the remote (node or the sweep dir missing?)';
      if (r.code === 130 || r.code === 143) return 'the worker was interrupted (SIGINT/SIGTERM) and stopped cleanly';
      return undefined;
    case 'killed':
      return 'killed by a signal: the pueue daemon restarted, `pueue kill`, kill -9, or the OOM killer';
    case 'dependency-failed':
      return 'not run: a task it waits for (--after) did not succeed';
    case 'failed-to-spawn':
      return `pueue could not start it: ${r.message}`;
    case 'errored':
      return 'pueue reported an internal error for this task';
    default:
      return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}
