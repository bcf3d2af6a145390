/**
 * The manifest format (types only): shared by every room, so it lives in none of them.
 *
 * What `sweep generate` writes next to the SQL tree, and what the worker,
 * submit-all and collect read.
 *
 * <out>/manifest.json        every config (the proof of completeness for collect)
 * <out>/units/<unit>.json    one unit's configs, so a worker never parses the whole manifest
 * <out>/sql/<unit>/<config>.sql
 * <out>/spec.json            the validated spec (connection settings for the worker)
 */
import type { Params } from '../results/record.js';

export interface ManifestConfig {
  id: string;
  unit: string;
  params: Params;
  sql_sha256: string;
}

export interface ManifestUnit {
  id: string;
  /** The values of the spec's `unit` params. */
  params: Params;
  configs: number;
}

export interface Manifest {
  v: 1;
  name: string;
  tool_version: string;
  spec_sha256: string;
  template_sha256: string;
  /** Set by `generate --limit N`: a smoke run of n configs out of the grid's `of`, not the whole sweep. */
  limit?: { n: number; of: number };
  units: ManifestUnit[];
  configs: ManifestConfig[];
}

export interface UnitIndex {
  v: 1;
  sweep: string;
  unit: string;
  params: Params;
  /** Sorted by id (byte order), which the worker's skip-done merge relies on. */
  configs: Array<{ id: string; params: Params; sql_sha256: string }>;
}
