/**
 * The one table formatter of every command (run's summary, status, collect):
 * a header row and rows, columns two spaces apart, no borders, no colour of
 * its own, no trailing spaces, so it reads the same with NO_COLOR, in a pipe
 * and in a test. A column whose cells are all numbers (with a unit such as
 * `ms`, `s`, `/s` or `%`) is right-aligned, any other left-aligned, unless the
 * caller says otherwise.
 *
 * Library: cli-table3 lays the columns out: it measures cells with
 * string-width, so wide characters and the colour codes status paints its
 * states with count as what the terminal shows. Why not hand padding (what
 * three commands did): `padEnd` counts UTF-16 units and colour codes, and each
 * copy drifted. Why not the `table` package: its borderless mode still pads
 * every cell on both sides and has no per-column alignment shorthand; why not
 * columnify: unmaintained since 2019.
 */
import Table from 'cli-table3';

export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align?: Align;
}

export type Cell = string | number;

const NO_BORDER = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

const NUMERIC = /^-?[0-9][0-9.,]*( ?(ms|s|q\/s|\/s|%))?$|^-$/;

function isNumeric(cell: Cell): boolean {
  return typeof cell === 'number' || NUMERIC.test(cell);
}

export function formatTable(columns: ReadonlyArray<string | Column>, rows: ReadonlyArray<ReadonlyArray<Cell>>): string {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  const aligns: Align[] = cols.map((c, i) => {
    if (c.align) return c.align;
    const cells = rows.map((r) => r[i] ?? '').filter((v) => v !== '');
    return cells.length > 0 && cells.every(isNumeric) ? 'right' : 'left';
  });
  const table = new Table({
    head: cols.map((c) => c.header),
    chars: NO_BORDER,
    colAligns: aligns,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  for (const r of rows) table.push(cols.map((_, i) => String(r[i] ?? '')));
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}
