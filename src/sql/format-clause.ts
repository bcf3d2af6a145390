/**
 * Finds a `FORMAT <name>` clause a template's last statement sets for itself.
 * The engines ask for JSON (the only output sweep reads exactly); a query that
 * picks its own format answers in another one, which an engine would have to
 * guess at. So generate refuses it, naming the line.
 *
 * Only code at parenthesis depth 0 counts (never strings, comments, quoted
 * identifiers, or a function such as formatDateTime(...)); `AS format` and
 * `t.format` are names, not the clause; an INSERT's own FORMAT (the format of
 * the data it inserts) is allowed.
 */
import { lexSql } from './lexer.js';

export interface FormatClause {
  /** The format name as written. */
  format: string;
  /** Offset of the FORMAT keyword in the text. */
  offset: number;
}

const WORD = /[A-Za-z_][A-Za-z0-9_]*|\(|\)|;|\.|\S/g;

export function ownFormatOfLastStatement(sql: string): FormatClause | undefined {
  let depth = 0;
  /** The clause of the statement being read, and of the last one that ended with `;`. */
  let found: FormatClause | undefined;
  let lastFound: FormatClause | undefined;
  let hasCode = false;
  let prev = '';
  let pendingFormatAt = -1;
  let insert = false;
  for (const seg of lexSql(sql)) {
    if (seg.kind === 'comment') continue;
    if (seg.kind !== 'code') {
      // A string or quoted identifier: a token, never the clause's name position for FORMAT 'x'.
      if (!hasCode) {
        found = undefined;
        insert = false;
      }
      hasCode = true;
      pendingFormatAt = -1;
      prev = "'";
      continue;
    }
    WORD.lastIndex = 0;
    for (let m = WORD.exec(seg.text); m; m = WORD.exec(seg.text)) {
      const tok = m[0];
      const at = seg.start + m.index;
      if (tok === ';') {
        // A statement ends: only the last non-empty one matters.
        if (hasCode) {
          lastFound = found;
          found = undefined;
          insert = false;
        }
        hasCode = false;
        depth = 0;
        prev = ';';
        pendingFormatAt = -1;
        continue;
      }
      if (!hasCode) {
        hasCode = true;
        found = undefined;
        insert = tok.toUpperCase() === 'INSERT';
      }
      if (tok === '(') depth++;
      else if (tok === ')') depth = Math.max(0, depth - 1);
      if (pendingFormatAt >= 0) {
        if (/^[A-Za-z_]/.test(tok) && tok !== '(') found = { format: tok, offset: pendingFormatAt };
        pendingFormatAt = -1;
      }
      if (depth === 0 && tok.toUpperCase() === 'FORMAT' && prev.toUpperCase() !== 'AS' && prev !== '.' && !insert) {
        pendingFormatAt = at;
      }
      prev = tok;
    }
  }
  return hasCode ? found : lastFound;
}

const NO_RESULT = new Set(['INSERT', 'CREATE', 'DROP', 'ALTER', 'SET', 'USE', 'OPTIMIZE', 'TRUNCATE', 'RENAME', 'SYSTEM', 'KILL', 'ATTACH', 'DETACH', 'GRANT', 'REVOKE', 'DELETE', 'UPDATE']);

/**
 * Does a statement answer with a result set (SELECT, WITH, SHOW, a parenthesised
 * query, ...), as opposed to DDL, INSERT or SET? An engine that asked for JSON
 * and got nothing back from such a statement cannot say "zero rows": it got
 * no answer in the format it asked for (a FORMAT clause of the query's own).
 */
export function returnsRows(sql: string): boolean {
  for (const seg of lexSql(sql)) {
    if (seg.kind === 'comment') continue;
    if (seg.kind !== 'code') return true;
    const m = /\S+/.exec(seg.text);
    if (!m) continue;
    const word = /^[A-Za-z_]+/.exec(m[0])?.[0].toUpperCase();
    return word === undefined || !NO_RESULT.has(word);
  }
  return false;
}
