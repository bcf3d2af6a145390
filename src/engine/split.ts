/**
 * Splits a multi-statement template the way `clickhouse-client --multiquery`
 * does: on `;` in code only, never inside '...' strings, `...`/"..." quoted
 * identifiers or -- and /* *\/ comments.
 */
import { UserError } from '../errors.js';
import { lexSql, lineOf } from '../sql/lexer.js';

/**
 * The statements of `sql`, in order, each without its trailing `;` and without
 * surrounding whitespace; otherwise verbatim (comments inside or in front of a
 * statement stay, so what runs is what the user wrote). Statements that are
 * empty or only comments are dropped. An unterminated quote or block comment
 * throws a `UserError` (code `SQL_UNTERMINATED`) naming its line and column.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let hasCode = false;

  const finish = (): void => {
    if (hasCode) statements.push(current.trim());
    current = '';
    hasCode = false;
  };

  for (const segment of lexSql(sql)) {
    if (segment.unterminated) throw unterminated(sql, segment.kind, segment.start);
    if (segment.kind !== 'code') {
      current += segment.text;
      // A string or quoted identifier is content; a comment alone is not a statement.
      if (segment.kind !== 'comment') hasCode = true;
      continue;
    }
    const text = segment.text;
    let from = 0;
    for (let semi = text.indexOf(';'); semi !== -1; semi = text.indexOf(';', from)) {
      const piece = text.slice(from, semi);
      current += piece;
      if (/\S/.test(piece)) hasCode = true;
      finish();
      from = semi + 1;
    }
    const rest = text.slice(from);
    current += rest;
    if (/\S/.test(rest)) hasCode = true;
  }
  finish();
  return statements;
}

function unterminated(sql: string, kind: string, start: number): UserError {
  const line = lineOf(sql, start);
  const column = start - sql.lastIndexOf('\n', start - 1);
  const what =
    kind === 'string' ? 'string literal' : kind === 'quoted-identifier' ? 'quoted identifier' : 'block comment';
  const firstLine = (sql.slice(start, start + 200).split('\n')[0] ?? '').replace(/\r$/, '');
  const excerpt = firstLine.length > 40 ? `${firstLine.slice(0, 40)}...` : firstLine;
  return new UserError('SQL_UNTERMINATED', `Unterminated ${what} starting at line ${line}, column ${column}: ${excerpt}`);
}
