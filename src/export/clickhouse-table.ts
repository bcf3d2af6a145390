/**
 * `sweep export --to-clickhouse DB.TABLE`: the export as a MergeTree table on a
 * server, `PARTITION BY sweep ORDER BY (sweep, config)`, one partition per sweep.
 *
 * Re-exporting replaces the sweep's rows and nothing else, atomically: the rows
 * go into a staging table made `AS` the target, then
 * `ALTER TABLE t REPLACE PARTITION <sweep> FROM staging` swaps the sweep's
 * partition in one step (readers see the old rows or the new ones, never a
 * mix or none), and the staging table is dropped. This works the same on
 * ClickHouse 18.16 and current servers; `ALTER TABLE ... DELETE` would not: it
 * is an asynchronous mutation on 18.16 (no mutations_sync before 19.x), so a
 * reader could see old and new rows together.
 *
 * Values travel as TabSeparated written by chDB and read by the server: the
 * text form of every type that both versions share. Types the server lacks
 * (18.16 has no Bool, DateTime64 or 128/256-bit integers; it says which it
 * has in system.data_type_families) are sent as the nearest one it has, with
 * a note: Bool as UInt8, the others as String (their exact text).
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { parseChType, type ChType } from '../engine/clickhouse-types.js';
import type { Engine } from '../engine/index.js';
import { UserError } from '../errors.js';
import type { ExportColumn } from './columns.js';
import { identifier, literal } from './sql-text.js';

export interface TableName {
  database: string;
  table: string;
}

export interface TableExport {
  table: string;
  server: string;
  /** The table did not exist and was created. */
  created: boolean;
  /** Columns added to an existing table (another sweep's, or an earlier export's). */
  added_columns: string[];
  rows: number;
  batches: number;
  /** Rows of this sweep the table held before (replaced). */
  replaced: number;
  /** Columns sent as another type than exported, because the server lacks the type. */
  converted: Array<{ column: string; from: string; to: string }>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Rows or bytes per INSERT, whichever comes first. */
const BATCH_ROWS = 100_000;
const BATCH_BYTES = 16 << 20;

export function parseTableName(text: string): TableName {
  const parts = text.split('.');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p))) {
    throw new UserError('FLAG_INVALID', `--to-clickhouse: expected DATABASE.TABLE (letters, digits and _), found ${JSON.stringify(text)}`);
  }
  return { database: parts[0] as string, table: parts[1] as string };
}

export interface TableExportOptions {
  server: Engine;
  chdb: Engine;
  /** The staged rows as a chDB table function (file(...) with the export's structure). */
  source: string;
  table: TableName;
  sweep: string;
  columns: readonly ExportColumn[];
  workDir: string;
  settings: Record<string, number>;
  log: (line: string) => void;
}

export async function exportToTable(o: TableExportOptions): Promise<TableExport> {
  const { server, table } = o;
  const full = `${identifier(table.database)}.${identifier(table.table)}`;
  const families = new Set((await server.query('SELECT name FROM system.data_type_families')).map((r) => String(r['name'])));
  const converted: TableExport['converted'] = [];
  const columns = o.columns.map((c) => {
    const type = serverType(parseChType(c.type), families);
    if (type !== c.type) converted.push({ column: c.name, from: c.type, to: type });
    return { name: c.name, type, exported: c.type };
  });

  const db = await server.query(`SELECT count() AS n FROM system.databases WHERE name = ${literal(table.database)}`);
  if (Number(db[0]?.['n'] ?? 0) === 0) {
    // Creating a database is the server owner's call, not an export's.
    throw new UserError('EXPORT_INVALID', `--to-clickhouse ${table.database}.${table.table}: expected database ${table.database} to exist on the server, found none: create it (CREATE DATABASE ${identifier(table.database)}) or name an existing one`);
  }
  const existing = await server.query(
    `SELECT name, type FROM system.columns WHERE database = ${literal(table.database)} AND table = ${literal(table.table)}`,
  );
  let created = false;
  const added: string[] = [];
  if (existing.length === 0) {
    await server.exec(
      `CREATE TABLE IF NOT EXISTS ${full} (${columns.map((c) => `${identifier(c.name)} ${c.type}`).join(', ')}) ENGINE = MergeTree PARTITION BY sweep ORDER BY (sweep, config)`,
    );
    created = true;
    o.log(`created ${table.database}.${table.table}`);
  } else {
    await checkTable(server, table);
    const have = new Map(existing.map((r) => [String(r['name']), String(r['type'])]));
    for (const c of columns) {
      const type = have.get(c.name);
      if (type === undefined) {
        // Rows of other sweeps get the type's default (NULL for a Nullable column).
        await server.exec(`ALTER TABLE ${full} ADD COLUMN ${identifier(c.name)} ${c.type}`);
        added.push(c.name);
      } else if (normalType(type) !== normalType(c.type)) {
        throw new UserError(
          'TABLE_MISMATCH',
          `--to-clickhouse ${table.database}.${table.table}: column ${c.name}: expected ${c.type} (what this sweep exports), found ${type}; export to another table, or drop that one`,
        );
      }
    }
  }

  const before = await countSweep(server, full, o.sweep);
  const staging = `${identifier(table.database)}.${identifier(`${table.table}__sweep_export_${process.pid}`)}`;
  await server.exec(`DROP TABLE IF EXISTS ${staging}`);
  await server.exec(`CREATE TABLE ${staging} AS ${full}`);
  try {
    const tsv = join(o.workDir, 'table.tsv');
    const select = columns.map((c) => (c.type === c.exported ? identifier(c.name) : `CAST(${identifier(c.name)} AS ${c.type}) AS ${identifier(c.name)}`)).join(', ');
    await o.chdb.exec(`INSERT INTO FUNCTION file(${literal(tsv)}, 'TabSeparated') SELECT ${select} FROM ${o.source}`, { settings: o.settings });
    const insert = `INSERT INTO ${staging} (${columns.map((c) => identifier(c.name)).join(', ')}) FORMAT TabSeparated\n`;
    let rows = 0;
    let batches = 0;
    for await (const batch of tsvBatches(tsv)) {
      await server.exec(insert + batch.text);
      rows += batch.rows;
      batches++;
      o.log(`inserted ${rows} rows into the staging table`);
    }
    // One step: the sweep's old partition out, the new one in (an empty staging table empties it).
    await server.exec(`ALTER TABLE ${full} REPLACE PARTITION ${literal(o.sweep)} FROM ${staging}`);
    const after = await countSweep(server, full, o.sweep);
    if (after !== rows) throw new Error(`${table.database}.${table.table} holds ${after} rows of sweep ${o.sweep} after the export, expected ${rows}`);
    return { table: `${table.database}.${table.table}`, server: await server.version(), created, added_columns: added, rows, batches, replaced: before, converted };
  } finally {
    await server.exec(`DROP TABLE IF EXISTS ${staging}`).catch(() => {});
  }
}

/** A table this command can replace a sweep's rows in: MergeTree, one partition per sweep. */
async function checkTable(server: Engine, table: TableName): Promise<void> {
  const rows = await server.query(
    `SELECT engine, partition_key FROM system.tables WHERE database = ${literal(table.database)} AND name = ${literal(table.table)}`,
  );
  const row = rows[0];
  const engine = String(row?.['engine'] ?? '');
  const key = String(row?.['partition_key'] ?? '').replace(/\s|`/g, '');
  if (!/MergeTree$/.test(engine) || key !== 'sweep') {
    throw new UserError(
      'TABLE_MISMATCH',
      `--to-clickhouse ${table.database}.${table.table}: expected a MergeTree table partitioned by sweep (as sweep export creates it), found ${engine || 'another kind of table'}${key ? ` partitioned by ${key}` : ''}; export to another table name`,
    );
  }
}

async function countSweep(server: Engine, full: string, sweep: string): Promise<number> {
  const rows = await server.query(`SELECT count() AS n FROM ${full} WHERE sweep = ${literal(sweep)}`);
  return Number(rows[0]?.['n'] ?? 0);
}

/** Type names as system.columns spells them (`Decimal(38, 3)`, no quotes around time zones differ by version). */
function normalType(type: string): string {
  return type.replace(/\s+/g, '').replace(/"/g, "'");
}

/** The type the server stores a column as: the exported type, or the nearest one the server has. */
export function serverType(t: ChType, families: ReadonlySet<string>): string {
  switch (t.kind) {
    case 'int':
      return families.has(t.text) ? t.text : 'String';
    case 'bool':
      return families.has('Bool') ? t.text : 'UInt8';
    case 'float':
      return families.has(t.text) ? t.text : 'Float64';
    case 'decimal':
      return t.precision <= 38 || families.has('Decimal256') ? t.text : 'String';
    case 'nothing':
      return 'String';
    case 'nullable': {
      const inner = serverType(t.inner, families);
      return inner === t.inner.text ? t.text : `Nullable(${inner})`;
    }
    case 'array': {
      const inner = serverType(t.inner, families);
      return inner === t.inner.text ? t.text : `Array(${inner})`;
    }
    case 'tuple':
    case 'map':
      return families.has(t.kind === 'map' ? 'Map' : 'Tuple') && !/\b(Bool|DateTime64|U?Int(128|256))\b/.test(t.text) ? t.text : 'String';
    case 'other':
      return families.has(t.name) ? t.text : 'String';
  }
}

/** The TabSeparated file in batches of whole lines (a value's newlines are escaped, so a line is a row). */
async function* tsvBatches(path: string): AsyncGenerator<{ text: string; rows: number }> {
  let pending: Buffer[] = [];
  let bytes = 0;
  let rows = 0;
  let carry: Buffer | undefined;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    let end = 0; // end of the last complete line seen in buf
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, nl + 1)) {
      rows++;
      end = nl + 1;
      if (rows >= BATCH_ROWS || bytes + (end - start) >= BATCH_BYTES) {
        pending.push(buf.subarray(start, end));
        yield { text: Buffer.concat(pending).toString('utf8'), rows };
        pending = [];
        bytes = 0;
        rows = 0;
        start = end;
      }
    }
    if (end > start) {
      pending.push(buf.subarray(start, end));
      bytes += end - start;
    }
    carry = end < buf.length ? Buffer.from(buf.subarray(end)) : undefined;
  }
  if (carry) {
    pending.push(carry);
    rows++;
  }
  if (rows > 0) yield { text: Buffer.concat(pending).toString('utf8'), rows };
}
