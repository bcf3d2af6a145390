/**
 * The hosts of a sweep, resolved from `remote:` into one shape whatever the
 * spec said: `remote.host` is a list of one, and every `remote.hosts` entry
 * takes the sweep-wide value of each key it leaves out. A host's name (its
 * ssh destination, or `local`) is its identity everywhere: placement, the
 * local copy of its results (`out/<name>/hosts/<host>/`), reports.
 */
import type { ParallelSetting, RemoteSettings } from '../spec/schema.js';

export interface HostSettings {
  /** The ssh destination (a Host alias, host name, user@host) or `local`. */
  host: string;
  /** Where it is in the spec, for messages: `remote.hosts[1]`, or `remote` for remote.host. */
  entry: string;
  /** The parent of the sweep dir on the host (absolute). */
  dir: string;
  parallel: ParallelSetting;
  /** The host's own ClickHouse URL (remote.hosts[i].clickhouse_url); else the sweep's. */
  clickhouseUrl: string | undefined;
  sshConfig: string | undefined;
  pueueConfig: string | null;
}

export function resolveHosts(remote: RemoteSettings): HostSettings[] {
  if (remote.hosts === undefined) {
    return [
      {
        host: remote.host ?? 'local',
        entry: 'remote',
        dir: remote.dir ?? '/',
        parallel: remote.parallel,
        clickhouseUrl: undefined,
        sshConfig: remote.ssh_config,
        pueueConfig: remote.pueue_config ?? null,
      },
    ];
  }
  return remote.hosts.map((h, i) => ({
    host: h.host,
    entry: `remote.hosts[${i}]`,
    // src/spec/remote.ts refuses a host with neither its own dir nor remote.dir.
    dir: h.dir ?? remote.dir ?? '/',
    parallel: h.parallel ?? remote.parallel,
    clickhouseUrl: h.clickhouse_url,
    sshConfig: h.ssh_config ?? remote.ssh_config,
    pueueConfig: h.pueue_config !== undefined ? h.pueue_config : (remote.pueue_config ?? null),
  }));
}

/** A parallelism fixed or autoscaled, with auto's ceiling known (`cores` of the host when the spec gives none). */
export interface ParallelPlan {
  auto: boolean;
  min: number;
  max: number;
  /** What the group starts at: the number, or auto's min (the controller raises it while the host has room). */
  start: number;
}

export function parallelPlan(p: ParallelSetting, cores: number | undefined): ParallelPlan {
  if (typeof p === 'number') return { auto: false, min: p, max: p, start: p };
  const min = p === 'auto' ? 1 : p.min;
  const max = Math.max(min, (p === 'auto' ? undefined : p.max) ?? cores ?? min);
  return { auto: true, min, max, start: min };
}

/** A host's share in placement: its parallelism, or auto's ceiling. */
export function placementWeight(p: ParallelSetting, cores: number | undefined): number {
  return parallelPlan(p, cores).max;
}

/** A file-name-safe, reversible name for a host's local dir: bytes outside [A-Za-z0-9._@-] (and a leading dot) as %XX. */
export function hostDirName(host: string): string {
  const enc = (c: string): string => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  const body = [...host].map((c) => (/[A-Za-z0-9._@-]/.test(c) ? c : enc(c))).join('');
  return body.startsWith('.') ? `%2E${body.slice(1)}` : body;
}
