/**
 * The report's row filter (`report.filter` in the spec, or `--filter`): a few
 * comparisons joined by `and`, in SQL's spelling, e.g. `horizon = 20` or
 * `horizon in (5, 20) and signals >= 30`. A name is a result column or a
 * param; a number compares as a number (64-bit values, held as strings, too),
 * a quoted string as text. Rows are filtered here, not by ClickHouse, because
 * the report reads the records the worker wrote and never runs a query.
 */
import { UserError } from '../errors.js';

type Op = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'in';
type Literal = number | string;

export interface Condition {
  column: string;
  op: Op;
  values: Literal[];
}

export interface RowFilter {
  text: string;
  conditions: Condition[];
}

const TOKEN = /\s*(?:(?<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|'(?<sq>(?:[^'\\]|\\.)*)'|"(?<dq>(?:[^"\\]|\\.)*)"|(?<name>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)|(?<op><=|>=|!=|<>|==|=|<|>)|(?<punct>[(),]))/y;

interface Token {
  kind: 'num' | 'str' | 'name' | 'op' | 'punct';
  text: string;
  value: Literal;
}

/** Parse a filter; `label` names where it came from in errors (`report.filter in sweep.yaml`, `--filter`). */
export function parseFilter(text: string, label: string): RowFilter {
  const tokens = tokenize(text, label);
  const conditions: Condition[] = [];
  let i = 0;
  const fail = (expected: string): never => {
    const found = tokens[i] ? JSON.stringify(tokens[i]?.text) : 'the end';
    throw new UserError('FILTER_INVALID', `${label}: ${JSON.stringify(text)}: expected ${expected}, found ${found} (a filter is comparisons joined by and, e.g. horizon = 20 and signals >= 30)`);
  };
  for (;;) {
    const name = tokens[i];
    if (name?.kind !== 'name') fail('a column or param name');
    i++;
    const opTok = tokens[i];
    let op: Op;
    if (opTok?.kind === 'op') op = opTok.text === '==' ? '=' : opTok.text === '<>' ? '!=' : (opTok.text as Op);
    else if (opTok?.kind === 'name' && opTok.text.toLowerCase() === 'in') op = 'in';
    else return fail('a comparison (=, !=, <, <=, >, >= or in)');
    i++;
    const values: Literal[] = [];
    if (op === 'in') {
      if (tokens[i]?.text !== '(') fail('( after in');
      i++;
      for (;;) {
        const v = tokens[i];
        if (v?.kind !== 'num' && v?.kind !== 'str') fail('a number or a quoted string');
        values.push((v as Token).value);
        i++;
        if (tokens[i]?.text === ',') {
          i++;
          continue;
        }
        if (tokens[i]?.text !== ')') fail(', or )');
        i++;
        break;
      }
    } else {
      const v = tokens[i];
      if (v?.kind !== 'num' && v?.kind !== 'str') fail('a number or a quoted string');
      values.push((v as Token).value);
      i++;
    }
    conditions.push({ column: (name as Token).text, op, values });
    if (i >= tokens.length) break;
    if (tokens[i]?.kind === 'name' && tokens[i]?.text.toLowerCase() === 'and') {
      i++;
      continue;
    }
    fail('"and" or the end of the filter (comparisons join with and only; no or)');
  }
  return { text, conditions };
}

function tokenize(text: string, label: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(text);
    if (!m?.groups) throw new UserError('FILTER_INVALID', `${label}: ${JSON.stringify(text)}: cannot read ${JSON.stringify(text.slice(at).trim().slice(0, 20))}`);
    const g = m.groups;
    if (g['num'] !== undefined) out.push({ kind: 'num', text: g['num'], value: Number(g['num']) });
    else if (g['sq'] !== undefined) out.push({ kind: 'str', text: m[0].trim(), value: g['sq'].replace(/\\(.)/g, '$1') });
    else if (g['dq'] !== undefined) out.push({ kind: 'str', text: m[0].trim(), value: g['dq'].replace(/\\(.)/g, '$1') });
    else if (g['name'] !== undefined) out.push({ kind: 'name', text: g['name'].replace(/^`|`$/g, ''), value: g['name'] });
    else if (g['op'] !== undefined) out.push({ kind: 'op', text: g['op'], value: g['op'] });
    else out.push({ kind: 'punct', text: g['punct'] ?? '', value: g['punct'] ?? '' });
    at = TOKEN.lastIndex;
  }
  return out;
}

/** Names the filter uses that are in neither list: the caller reports them. */
export function unknownColumns(filter: RowFilter, known: ReadonlySet<string>): string[] {
  return [...new Set(filter.conditions.map((c) => c.column))].filter((c) => !known.has(c));
}

/** Does a row (with its config's params) pass? A missing value fails every comparison. */
export function passes(filter: RowFilter, get: (column: string) => unknown): boolean {
  for (const c of filter.conditions) {
    const v = get(c.column);
    if (v === undefined || v === null) return false;
    const ok = c.op === 'in' ? c.values.some((x) => compare(v, x) === 0) : test(c.op, compare(v, c.values[0] as Literal));
    if (!ok) return false;
  }
  return true;
}

function test(op: Exclude<Op, 'in'>, cmp: number | undefined): boolean {
  if (cmp === undefined) return op === '!=';
  switch (op) {
    case '=':
      return cmp === 0;
    case '!=':
      return cmp !== 0;
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
  }
}

/** -1, 0, 1, or undefined when the two cannot be compared (text against a number). */
function compare(value: unknown, literal: Literal): number | undefined {
  if (typeof literal === 'number') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    if (Number.isNaN(n)) return undefined;
    return n < literal ? -1 : n > literal ? 1 : 0;
  }
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  return s < literal ? -1 : s > literal ? 1 : 0;
}
