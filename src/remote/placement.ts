/**
 * Which host runs which unit. Units are spread deterministically over the
 * hosts, weighted by each host's parallelism (a host with parallel 2 gets two
 * units for every one of a host with parallel 1), in manifest order; the
 * assignment is recorded in `out/<name>/placement.json` so a resubmission
 * sends each unit where it was, and collect knows which hosts' targets a
 * unit's records may come from (every host it was ever placed on).
 *
 * Moving a unit is the exception, and only submit-all does it:
 *   - a unit whose host left the spec is placed again;
 *   - `--skip-unreachable`: units never placed yet (a first submission, units
 *     new to the grid) skip the unreachable hosts; units already placed on one
 *     stay there (they may be running or done there) and are reported waiting;
 *   - `--rebalance`: besides, units on an unreachable host that are neither
 *     complete nor running there (as far as can be known) move to the
 *     reachable hosts, spread by the same weighted rule.
 * Pure except for reading and writing the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { writeFileAtomicSync } from '../fs/atomic.js';
import { placementWeight, type HostSettings } from './hosts.js';

export const PLACEMENT_FILE = 'placement.json';

export interface PlacementFile {
  v: 1;
  sweep: string;
  updated_at: string;
  /** Per host: its dir, its weight at the last submission, and the target its workers' records carry (null when unknown). */
  hosts: Record<string, { dir: string; weight: number; target: string | null }>;
  /** Unit -> every host it was placed on, oldest first; the last is where it is now. */
  units: Record<string, string[]>;
}

export interface WeightedHost {
  host: string;
  weight: number;
}

/**
 * Pure: assign `units` (in order) to `hosts`, each next unit to the host whose
 * share after taking it, (count + 1) / weight, is smallest; ties go to the
 * host listed first. Weights 2 and 1 over 6 units give 4 and 2. `counts`
 * (units the hosts hold already) is updated.
 */
export function spreadUnits(units: readonly string[], hosts: readonly WeightedHost[], counts = new Map<string, number>()): Map<string, string> {
  const out = new Map<string, string>();
  if (hosts.length === 0) return out;
  for (const u of units) {
    let best: WeightedHost | undefined;
    let bestShare = Infinity;
    for (const h of hosts) {
      const share = ((counts.get(h.host) ?? 0) + 1) / Math.max(1e-9, h.weight);
      if (share < bestShare - 1e-12) {
        best = h;
        bestShare = share;
      }
    }
    const host = (best as WeightedHost).host;
    out.set(u, host);
    counts.set(host, (counts.get(host) ?? 0) + 1);
  }
  return out;
}

export type PlacementMode = 'strict' | 'skip-unreachable' | 'rebalance';

export interface PlacementInput {
  /** Manifest order. */
  units: readonly string[];
  /** Spec order. */
  hosts: ReadonlyArray<WeightedHost & { reachable: boolean }>;
  previous: PlacementFile | undefined;
  mode: PlacementMode;
  /** For --rebalance: a unit on an unreachable host that stays (complete or running there, as far as known). */
  stays?: (unit: string, host: string) => boolean;
}

export interface PlacementPlan {
  /** Unit -> host history (the last is where it is now), for every unit of the manifest. */
  units: Map<string, string[]>;
  /** Units placed for the first time (or again because their host left the spec), by host. */
  placed: Array<{ unit: string; host: string; why: 'new' | 'host-left-spec' }>;
  /** Units moved off an unreachable host. */
  moved: Array<{ unit: string; from: string; to: string }>;
  /** Units left on an unreachable host: they resume when it answers (or move with --rebalance). */
  waiting: Array<{ unit: string; host: string }>;
}

/** Pure: where every unit goes this submission. */
export function planPlacement(input: PlacementInput): PlacementPlan {
  const inSpec = new Set(input.hosts.map((h) => h.host));
  const reachable = input.hosts.filter((h) => h.reachable);
  const units = new Map<string, string[]>();
  const fresh: Array<{ unit: string; why: 'new' | 'host-left-spec' }> = [];
  const toMove: Array<{ unit: string; from: string }> = [];
  const waiting: PlacementPlan['waiting'] = [];
  const counts = new Map<string, number>();
  for (const unit of input.units) {
    const history = input.previous?.units[unit]?.filter((h) => typeof h === 'string') ?? [];
    const cur = history[history.length - 1];
    if (cur === undefined || !inSpec.has(cur)) {
      units.set(unit, [...history]);
      fresh.push({ unit, why: cur === undefined ? 'new' : 'host-left-spec' });
      continue;
    }
    units.set(unit, [...history]);
    const host = input.hosts.find((h) => h.host === cur);
    if (host?.reachable || input.mode === 'strict') {
      counts.set(cur, (counts.get(cur) ?? 0) + 1);
      continue;
    }
    if (input.mode === 'rebalance' && !(input.stays?.(unit, cur) ?? false)) toMove.push({ unit, from: cur });
    else waiting.push({ unit, host: cur });
  }
  // New units continue the spread over the reachable hosts (strict: every host answered).
  const targets = input.mode === 'strict' ? input.hosts : reachable;
  const placedMap = spreadUnits(
    fresh.map((f) => f.unit),
    targets,
    counts,
  );
  const placed: PlacementPlan['placed'] = [];
  for (const f of fresh) {
    const host = placedMap.get(f.unit);
    if (host === undefined) continue;
    pushHost(units, f.unit, host);
    placed.push({ unit: f.unit, host, why: f.why });
  }
  // Moved units are spread over the reachable hosts by the same rule, as at first placement.
  const movedMap = spreadUnits(
    toMove.map((m) => m.unit),
    reachable,
  );
  const moved: PlacementPlan['moved'] = [];
  for (const m of toMove) {
    const to = movedMap.get(m.unit);
    if (to === undefined) continue;
    pushHost(units, m.unit, to);
    moved.push({ unit: m.unit, from: m.from, to });
  }
  return { units, placed, moved, waiting };
}

function pushHost(units: Map<string, string[]>, unit: string, host: string): void {
  const history = (units.get(unit) ?? []).filter((h) => h !== host);
  history.push(host);
  units.set(unit, history);
}

/** The host a unit is on now (the last of its history). */
export function currentHost(history: readonly string[] | undefined): string | undefined {
  return history?.[history.length - 1];
}

export function placementPath(outDir: string): string {
  return join(outDir, PLACEMENT_FILE);
}

export function readPlacement(outDir: string): PlacementFile | undefined {
  const path = placementPath(outDir);
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError('OUT_INVALID', `${path}: expected the placement written by 'sweep submit-all', found unreadable JSON (${(err as Error).message}); remove it to place the units afresh`);
  }
  const p = raw as Partial<PlacementFile>;
  if (p.v !== 1 || typeof p.units !== 'object' || p.units === null || typeof p.hosts !== 'object' || p.hosts === null) {
    throw new UserError('OUT_INVALID', `${path}: expected a v1 placement ({v: 1, hosts, units}), found ${JSON.stringify(raw).slice(0, 100)}; remove it to place the units afresh`);
  }
  return p as PlacementFile;
}

export function writePlacement(outDir: string, file: PlacementFile): string {
  const path = placementPath(outDir);
  writeFileAtomicSync(path, `${JSON.stringify(file, null, 1)}\n`);
  return path;
}

/**
 * Where each unit is, for status, stop, logs and collect: the recorded
 * placement, and for units it does not name (never submitted) the spread a
 * first submission would make.
 */
export function knownPlacement(units: readonly string[], hosts: readonly WeightedHost[], file: PlacementFile | undefined): Map<string, string[]> {
  const inSpec = new Set(hosts.map((h) => h.host));
  const out = new Map<string, string[]>();
  const missing: string[] = [];
  const counts = new Map<string, number>();
  for (const u of units) {
    const history = file?.units[u] ?? [];
    const cur = currentHost(history);
    if (cur !== undefined && inSpec.has(cur)) {
      out.set(u, history);
      counts.set(cur, (counts.get(cur) ?? 0) + 1);
    } else {
      missing.push(u);
      out.set(u, history);
    }
  }
  for (const [u, host] of spreadUnits(missing, hosts, counts)) pushHost(out, u, host);
  return out;
}

/** Each host's placement weight (its parallelism; auto's ceiling from `cores` when known). */
export function hostWeights(ctx: { hosts: ReadonlyArray<Pick<HostSettings, 'host' | 'parallel'>> }, cores: ReadonlyMap<string, number>): WeightedHost[] {
  return ctx.hosts.map((h) => ({ host: h.host, weight: placementWeight(h.parallel, cores.get(h.host)) }));
}

export interface UnitsByHost {
  /** Unit -> every host it was placed on (the last is where it is now). */
  history: Map<string, string[]>;
  /** Unit -> its host now. */
  current: Map<string, string>;
  /** Host -> its units now, in manifest order. */
  byHost: Map<string, string[]>;
}

/** Where every unit of the sweep is now (the recorded placement; the first submission's spread for units it does not name). */
export function unitsByHost(ctx: { outDir: string; units: ReadonlyArray<{ id: string }> }, weights: readonly WeightedHost[]): UnitsByHost {
  const history = knownPlacement(
    ctx.units.map((u) => u.id),
    weights,
    readPlacement(ctx.outDir),
  );
  const current = new Map<string, string>();
  const byHost = new Map<string, string[]>(weights.map((w) => [w.host, []]));
  for (const [u, hs] of history) {
    const h = currentHost(hs);
    if (h === undefined) continue;
    current.set(u, h);
    byHost.get(h)?.push(u);
  }
  return { history, current, byHost };
}
