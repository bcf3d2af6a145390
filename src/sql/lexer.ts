/**
 * A minimal SQL lexer shared by the template parser (placeholders are only
 * recognised in code, as ClickHouse does) and the statement splitter (a `;`
 * splits only in code). It cuts text into segments; concatenating every
 * segment's `text` gives back the input exactly.
 *
 * Covers what ClickHouse's own lexer treats as opaque: '...' strings, `...` and
 * "..." quoted identifiers (both with backslash escapes and doubled quotes),
 * -- line comments and nested /* *\/ block comments. An unterminated quote or
 * comment runs to the end of the input and is flagged so callers can report it.
 */

export type SegmentKind = 'code' | 'string' | 'quoted-identifier' | 'comment';

export interface Segment {
  kind: SegmentKind;
  text: string;
  /** Offset of the segment's first character in the input. */
  start: number;
  /** True for a quote or block comment that never closed. */
  unterminated?: boolean;
}

export function lexSql(sql: string): Segment[] {
  const segments: Segment[] = [];
  let codeStart = 0;
  let i = 0;
  const n = sql.length;

  const flushCode = (end: number): void => {
    if (end > codeStart) segments.push({ kind: 'code', text: sql.slice(codeStart, end), start: codeStart });
  };

  while (i < n) {
    const ch = sql.charCodeAt(i);
    // ' (39) " (34) ` (96)
    if (ch === 39 || ch === 34 || ch === 96) {
      flushCode(i);
      const end = scanQuoted(sql, i, ch);
      const seg: Segment = {
        kind: ch === 39 ? 'string' : 'quoted-identifier',
        text: sql.slice(i, end.end),
        start: i,
      };
      if (end.unterminated) seg.unterminated = true;
      segments.push(seg);
      i = end.end;
      codeStart = i;
      continue;
    }
    // -- line comment
    if (ch === 45 && sql.charCodeAt(i + 1) === 45) {
      flushCode(i);
      let j = sql.indexOf('\n', i + 2);
      j = j === -1 ? n : j + 1;
      segments.push({ kind: 'comment', text: sql.slice(i, j), start: i });
      i = j;
      codeStart = i;
      continue;
    }
    // /* block comment */ (ClickHouse allows nesting)
    if (ch === 47 && sql.charCodeAt(i + 1) === 42) {
      flushCode(i);
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql.charCodeAt(j) === 47 && sql.charCodeAt(j + 1) === 42) {
          depth++;
          j += 2;
        } else if (sql.charCodeAt(j) === 42 && sql.charCodeAt(j + 1) === 47) {
          depth--;
          j += 2;
        } else {
          j++;
        }
      }
      const seg: Segment = { kind: 'comment', text: sql.slice(i, j), start: i };
      if (depth > 0) seg.unterminated = true;
      segments.push(seg);
      i = j;
      codeStart = i;
      continue;
    }
    i++;
  }
  flushCode(n);
  return segments;
}

function scanQuoted(sql: string, open: number, quote: number): { end: number; unterminated: boolean } {
  let j = open + 1;
  const n = sql.length;
  while (j < n) {
    const c = sql.charCodeAt(j);
    if (c === 92) {
      // backslash escapes the next character, whatever it is
      j += 2;
      continue;
    }
    if (c === quote) {
      if (sql.charCodeAt(j + 1) === quote) {
        // doubled quote is an escaped quote
        j += 2;
        continue;
      }
      return { end: j + 1, unterminated: false };
    }
    j++;
  }
  return { end: n, unterminated: true };
}

/** 1-based line number of an offset, for error messages that name a template line. */
export function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
