/**
 * The sweep spec (sweep.yaml), the single source of truth of a sweep. Every
 * object is strict: an unknown key is an error, because a misspelt optional key
 * (`concurency: 4`) silently ignored is a sweep run with the wrong settings.
 */
import { z } from 'zod';

export const SWEEP_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Param names become id keys (`name-value`, joined by `__`), so no `-` and no `__`. */
export const PARAM_NAME = /^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*$/;

const paramValue = z.union([z.string(), z.number()]);

/*
 * A param's values: a list, or a mapping that generates them (src/grid/). The
 * loader picks the form by its keys (step, num, every, file, csv, sql) and
 * validates it alone, so an error names the form's own keys; the union below
 * is then only the type.
 */
export const PARAM_LIST = z.array(paramValue).min(1, 'a non-empty list');
/** Range bounds stay text when YAML would round them (see load.ts), so ranges are exact decimals. */
const decimal = z.union([z.number(), z.string()]);
export const STEP_RANGE = z.strictObject({ from: decimal, to: decimal, step: decimal });
export const NUM_RANGE = z.strictObject({
  from: decimal,
  to: decimal,
  num: z.number().int().min(1, 'at least 1 value (num: 0 is an empty range)').max(1_000_000, 'at most 1,000,000 values'),
  scale: z.enum(['linear', 'log']).default('linear'),
});
export const EPOCHS = z.strictObject({
  from: z.string().min(1),
  to: z.string().min(1),
  every: z.enum(['year', 'quarter', 'month', 'week', 'day']),
});
export const FILE_VALUES = z.strictObject({ file: z.string().min(1) });
export const CSV_VALUES = z.strictObject({ csv: z.string().min(1), column: z.string().min(1) });
export const SQL_VALUES = z.strictObject({ sql: z.string().min(1) });

/** The mapping forms, by the key that tells them apart. */
export const PARAM_FORMS = {
  step: STEP_RANGE,
  num: NUM_RANGE,
  every: EPOCHS,
  file: FILE_VALUES,
  csv: CSV_VALUES,
  sql: SQL_VALUES,
} as const;
export type ParamFormKey = keyof typeof PARAM_FORMS;

const paramSchema = z.union([PARAM_LIST, STEP_RANGE, NUM_RANGE, EPOCHS, FILE_VALUES, CSV_VALUES, SQL_VALUES]);

const sampleSchema = z.strictObject({
  n: z.number().int().min(1, 'at least 1 config'),
  seed: z.number().int().min(0).max(0xffff_ffff).default(0),
});

const clickhouseSchema = z.strictObject({
  url: z.string().url().optional(),
  database: z.string().min(1).default('default'),
  user: z.string().min(1).default('default'),
});

/** Queries in flight per unit: a number, `auto` (seek the best, 1 to 32), or auto within `{min, max}`. */
const concurrencySchema = z.union([
  z.number().int().min(1).max(1024),
  z.literal('auto'),
  z.strictObject({ min: z.number().int().min(1).max(1024).default(1), max: z.number().int().min(1).max(1024).default(32) }),
]);

export type { ConcurrencyPlan, ConcurrencySetting } from './concurrency.js';

const workerSchema = z.strictObject({
  concurrency: concurrencySchema.default(16),
  max_threads: z.union([z.literal('auto'), z.number().int().min(1).max(4096)]).default('auto'),
  retries: z.number().int().min(0).max(100).default(3),
  query_timeout_s: z.number().positive().max(7 * 24 * 3600).default(600),
  /** Rows a config may return; enforced by the server (max_result_rows, result_overflow_mode 'throw'). 0: no cap. */
  max_result_rows: z.number().int().min(0).default(100_000),
  /** Halt a unit whose first K configs all fail with one permanent error. 0: never. */
  halt_after: z.number().int().min(0).default(20),
});

export const WORKER_DEFAULTS = { concurrency: 16, max_threads: 'auto' as const, retries: 3, query_timeout_s: 600, max_result_rows: 100_000, halt_after: 20 };

/** Units at once on a host: a number, or `auto` / `{min, max}`: a controller on the host adjusts it to its load (src/autoscale/). */
const parallelSchema = z.union([
  z.number().int().min(1).max(1024),
  z.literal('auto'),
  z.strictObject({ min: z.number().int().min(1).max(1024).default(1), max: z.number().int().min(1).max(1024).optional() }),
]);

const absoluteDir = z.string().regex(/^\//, 'an absolute path');

/** One host of `remote.hosts`: only `host` is required; the others default to the sweep-wide `remote.*` values. */
const hostSchema = z.strictObject({
  host: z.string().min(1),
  dir: absoluteDir.optional(),
  parallel: parallelSchema.optional(),
  /** The ClickHouse server as this host reaches it (its own replica, a cluster's load balancer); default: clickhouse.url. */
  clickhouse_url: z.string().url().optional(),
  ssh_config: z.string().min(1).optional(),
  pueue_config: z.string().min(1).nullable().optional(),
});

/** The autoscale controller's rule (the seeds' field-tested one) and how often it looks. Fractions: 0.8 is 80 %. */
const autoscaleSchema = z.strictObject({
  interval_s: z.number().min(0.2).max(3600).default(30),
  cpu_high: z.number().positive().max(100).default(0.8),
  cpu_low: z.number().positive().max(100).default(0.4),
  mem_high: z.number().positive().max(1).default(0.8),
  mem_low: z.number().positive().max(1).default(0.6),
});

export const AUTOSCALE_DEFAULTS = { interval_s: 30, cpu_high: 0.8, cpu_low: 0.4, mem_high: 0.8, mem_low: 0.6 };

/** `host` (one host) or `hosts` (several); cross-checks (one of the two, a dir for each, distinct hosts) are in src/spec/remote.ts. */
const remoteSchema = z.strictObject({
  host: z.string().min(1).optional(),
  hosts: z.array(hostSchema).min(1, 'a non-empty list').optional(),
  dir: absoluteDir.optional(),
  group: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a pueue group name ([A-Za-z0-9_.-])').optional(),
  parallel: parallelSchema.default(1),
  memory_max: z.string().regex(/^[0-9]+[KMGT]?$/, 'a size such as 8G').optional(),
  ssh_config: z.string().min(1).optional(),
  pueue_config: z.string().min(1).nullable().optional(),
  autoscale: autoscaleSchema.default(AUTOSCALE_DEFAULTS),
});

const afterSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a short name ([A-Za-z0-9_.-])'),
  sql: z.string().min(1),
});

/** What `sweep report` plots by default (flags override): see src/report/. */
const reportSchema = z.strictObject({
  /** A numeric result column; default: the first numeric one. */
  metric: z.string().min(1).optional(),
  higher_is_better: z.boolean().default(true),
  /** How configs (and a config's rows) are combined into one heatmap cell or marginal point. */
  aggregate: z.enum(['mean', 'median', 'max', 'min']).default('mean'),
  /** Rows to keep, e.g. `horizon = 20` or `horizon = 20 and signals >= 30` (src/report/filter.ts). */
  filter: z.string().min(1).optional(),
});

export const specSchema = z.strictObject({
  name: z.string().regex(SWEEP_NAME, 'a name matching [a-z0-9][a-z0-9_-]{0,63}'),
  template: z.string().min(1),
  setup: z.string().min(1).optional(),
  params: z.record(z.string().regex(PARAM_NAME, "a param name (letters, digits and single underscores, starting with a letter; no '-' or '__')"), paramSchema),
  unit: z.array(z.string()).default([]),
  exclude: z.array(z.record(z.string(), paramValue)).default([]),
  /** Params whose values are taken pairwise (same length) instead of crossed, as GNU Parallel's `:::+`. */
  link: z.array(z.array(z.string()).min(2, 'at least two params to link')).default([]),
  /** A condition on the params (src/grid/where.ts); only the combinations for which it holds are kept. */
  where: z.string().min(1).optional(),
  /** A deterministic random subset of the grid (after exclude and where). */
  sample: sampleSchema.optional(),
  clickhouse: clickhouseSchema.default({ database: 'default', user: 'default' }),
  worker: workerSchema.default(WORKER_DEFAULTS),
  remote: remoteSchema.optional(),
  after: z.array(afterSchema).default([]),
  report: reportSchema.optional(),
});

export type Spec = z.output<typeof specSchema>;
export type ParamSpec = Spec['params'][string];
export type StepRange = z.output<typeof STEP_RANGE>;
export type NumRange = z.output<typeof NUM_RANGE>;
export type Epochs = z.output<typeof EPOCHS>;
export type FileValues = z.output<typeof FILE_VALUES>;
export type CsvValues = z.output<typeof CSV_VALUES>;
export type SqlValues = z.output<typeof SQL_VALUES>;
export type ExternalValues = FileValues | CsvValues | SqlValues;
export type SampleSettings = NonNullable<Spec['sample']>;

/** Which form a param's values take. */
export function paramFormOf(p: ParamSpec): 'list' | ParamFormKey {
  if (Array.isArray(p)) return 'list';
  for (const key of Object.keys(PARAM_FORMS) as ParamFormKey[]) if (key in p) return key;
  throw new Error(`unknown param form: ${JSON.stringify(p)}`);
}

/** The form a raw mapping asks for, by its keys; undefined when none of them is there. */
export function paramFormKeyOf(raw: Record<string, unknown>): ParamFormKey | undefined {
  return (Object.keys(PARAM_FORMS) as ParamFormKey[]).find((key) => key in raw);
}
export type ClickHouseSettings = Spec['clickhouse'];
export type WorkerSettings = Spec['worker'];
export type RemoteSettings = NonNullable<Spec['remote']>;
export type ParallelSetting = RemoteSettings['parallel'];
export type HostEntry = NonNullable<RemoteSettings['hosts']>[number];
export type AutoscaleSettings = RemoteSettings['autoscale'];
export type ReportSettings = NonNullable<Spec['report']>;

/** Keys a strict object accepts, for "unknown key" messages. */
export function allowedKeys(path: ReadonlyArray<PropertyKey>): string[] | undefined {
  let schema: z.ZodType = specSchema;
  for (const key of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) {
      const next = (schema.shape as Record<string, z.ZodType>)[String(key)];
      if (!next) return undefined;
      schema = next;
    } else if (schema instanceof z.ZodArray) {
      schema = schema.element as z.ZodType;
    } else {
      return undefined;
    }
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
    s = s.unwrap() as z.ZodType;
  }
  return s;
}
