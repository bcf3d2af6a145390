/**
 * `max_threads` sizing. ClickHouse gives every query up to `max_threads`
 * threads (default: one per core); 16 concurrent queries each taking every core
 * oversubscribe the server 16-fold, which is slower than running them narrow.
 * The server's soft limit on query threads is shared between all queries of all
 * units running at once on the host, so:
 *
 *   max_threads = max(1, floor(soft limit / (concurrency x units at once)))
 *
 * Soft limit: `concurrent_threads_soft_limit_num` when set (non-zero), else
 * `concurrent_threads_soft_limit_ratio_to_cores` x cores when set, else 2 x
 * cores. Servers older than those settings (18.16 has neither, nor
 * system.server_settings) fall back to 2 x the server's core count, read from
 * the `max_threads` default ('auto(N)' on current servers, 'N' on old ones).
 */
import { availableParallelism } from 'node:os';
import type { Engine, Row } from '../engine/engine.js';

export interface ThreadFacts {
  /** `concurrent_threads_soft_limit_num` (0 = unset). */
  softLimitNum?: number;
  /** `concurrent_threads_soft_limit_ratio_to_cores` (0 = unset). */
  softLimitRatio?: number;
  /** The server's cores, as ClickHouse counts them. */
  cores: number;
  /** Where `cores` came from, for the start-up line. */
  coresSource: string;
}

export interface MaxThreadsChoice {
  maxThreads: number;
  /** One line for the log, e.g. `max_threads 1 (auto: soft limit 4 = 2 x 2 cores, / (16 x 1))`. */
  explanation: string;
}

export function softLimitOf(facts: ThreadFacts): { limit: number; how: string } {
  if (facts.softLimitNum && facts.softLimitNum > 0) return { limit: facts.softLimitNum, how: `concurrent_threads_soft_limit_num ${facts.softLimitNum}` };
  if (facts.softLimitRatio && facts.softLimitRatio > 0) {
    return { limit: facts.softLimitRatio * facts.cores, how: `${facts.softLimitRatio} x ${facts.cores} cores (concurrent_threads_soft_limit_ratio_to_cores)` };
  }
  return { limit: 2 * facts.cores, how: `2 x ${facts.cores} cores` };
}

export function autoMaxThreads(facts: ThreadFacts, concurrency: number, unitsAtOnce: number): MaxThreadsChoice {
  const { limit, how } = softLimitOf(facts);
  const maxThreads = Math.max(1, Math.floor(limit / (concurrency * unitsAtOnce)));
  return {
    maxThreads,
    explanation: `max_threads ${maxThreads} (auto: soft limit ${limit} = ${how} [${facts.coresSource}], / (concurrency ${concurrency} x ${unitsAtOnce} unit${unitsAtOnce === 1 ? '' : 's'} at once))`,
  };
}

/** 'auto(8)' -> 8, "'auto(8)'" -> 8, '8' -> 8, 'auto' -> undefined. */
export function parseMaxThreadsValue(value: unknown): number | undefined {
  const text = String(value ?? '').replace(/'/g, '').trim();
  const m = /^(?:auto\((\d+)\)|(\d+))$/.exec(text);
  const n = Number(m?.[1] ?? m?.[2]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** Ask the server (any engine) for what the formula needs. */
export async function readThreadFacts(engine: Engine, signal?: AbortSignal): Promise<ThreadFacts> {
  const opts = signal ? { signal } : {};
  const facts: Partial<ThreadFacts> = {};
  const tables = await engine.query(
    "SELECT name FROM system.tables WHERE database = 'system' AND name = 'server_settings'",
    opts,
  );
  if (tables.length > 0) {
    const rows: Row[] = await engine.query(
      "SELECT name, value FROM system.server_settings WHERE name IN ('concurrent_threads_soft_limit_num', 'concurrent_threads_soft_limit_ratio_to_cores')",
      opts,
    );
    for (const r of rows) {
      if (r['name'] === 'concurrent_threads_soft_limit_num') facts.softLimitNum = num(r['value']) ?? 0;
      if (r['name'] === 'concurrent_threads_soft_limit_ratio_to_cores') facts.softLimitRatio = num(r['value']) ?? 0;
    }
  }
  const settings = await engine.query("SELECT value, changed FROM system.settings WHERE name = 'max_threads'", opts);
  const first = settings[0];
  const fromSetting = parseMaxThreadsValue(first?.['value']);
  const isDefault = String(first?.['changed'] ?? '0') === '0' || String(first?.['value'] ?? '').includes('auto');
  if (fromSetting !== undefined && isDefault) {
    return { ...facts, cores: fromSetting, coresSource: `server max_threads default '${String(first?.['value'])}'` };
  }
  if (engine.kind === 'embedded') {
    return { ...facts, cores: availableParallelism(), coresSource: 'this machine (embedded engine)' };
  }
  if (fromSetting !== undefined) {
    return { ...facts, cores: fromSetting, coresSource: `server max_threads '${String(first?.['value'])}' (changed by profile)` };
  }
  return { ...facts, cores: availableParallelism(), coresSource: 'this machine (server did not say)' };
}
