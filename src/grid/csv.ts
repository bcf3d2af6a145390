/**
 * Reading one column of a CSV file (RFC 4180: comma-separated, fields quoted
 * with `"` and `""` inside quotes, quoted fields may hold commas and line
 * breaks, LF or CRLF line ends, an optional UTF-8 BOM, a header row naming the
 * columns). Written here rather than taken from a library because sweep needs
 * only this read-one-column path, and the CSV parsers in reach are either a
 * transitive dependency of the report room's charting library (d3-dsv, via
 * vega: depending on it directly would tie the grid to that library's
 * upgrades) or much larger stream frameworks (csv-parse) for a file of a few
 * thousand symbols. What it refuses, it refuses with the row number: a quote
 * left open, a row with fewer fields than the header.
 */

export class CsvError extends Error {}

/** Rows of fields; a trailing newline does not make an empty last row. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let fieldStarted = false;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '"' && field === '' && !fieldStarted) {
      const open = line;
      i++;
      for (;;) {
        if (i >= text.length) throw new CsvError(`line ${open}: expected a closing quote, found the end of the file`);
        const c = text[i] as string;
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (c === '\n') line++;
        field += c;
        i++;
      }
      fieldStarted = true;
      const after = text[i];
      if (after !== undefined && after !== ',' && after !== '\n' && after !== '\r') {
        throw new CsvError(`line ${line}: expected a comma or a line end after a quoted field, found ${JSON.stringify(after)}`);
      }
      continue;
    }
    if (ch === ',') {
      row.push(field);
      field = '';
      fieldStarted = false;
      i++;
      continue;
    }
    if (ch === '\n' || ch === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      fieldStarted = false;
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      continue;
    }
    field += ch;
    fieldStarted = true;
    i++;
  }
  if (field !== '' || fieldStarted || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The values of one column, named in the header row, with their line numbers (1-based, the header is line 1). */
export function csvColumn(text: string, column: string): Array<{ value: string; row: number }> {
  const rows = parseCsv(text);
  const header = rows[0];
  if (!header) throw new CsvError('expected a header row naming the columns, found an empty file');
  const index = header.findIndex((h) => h.trim() === column);
  if (index < 0) throw new CsvError(`expected a column named ${JSON.stringify(column)} in the header, found ${header.map((h) => JSON.stringify(h.trim())).join(', ')}`);
  const out: Array<{ value: string; row: number }> = [];
  for (let r = 1; r < rows.length; r++) {
    const fields = rows[r] as string[];
    if (fields.length === 1 && fields[0] === '') continue; // a blank line
    if (fields.length <= index) throw new CsvError(`row ${r + 1}: expected at least ${index + 1} fields (column ${JSON.stringify(column)}), found ${fields.length}`);
    out.push({ value: fields[index] as string, row: r + 1 });
  }
  return out;
}
