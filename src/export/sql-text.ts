/** SQL text for the statements export builds: quoted identifiers, string literals, structures. */
import type { ExportColumn } from './columns.js';

export function identifier(name: string): string {
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

export function literal(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A ClickHouse structure string: `` `name` Type, ... ``. */
export function structureOf(columns: readonly ExportColumn[]): string {
  return columns.map((c) => `${identifier(c.name)} ${c.type}`).join(', ');
}
