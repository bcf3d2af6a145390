/**
 * Templates: SQL with ClickHouse query-parameter placeholders `{name:Type}`,
 * recognised only in code (not inside strings, quoted identifiers or comments,
 * as ClickHouse's own lexer does). A template compiles to a list of text pieces
 * and placeholder slots, so rendering 300K configs is string concatenation of
 * literals rendered once per distinct (param, value, type).
 */
import { UserError } from '../errors.js';
import type { ParamValue, Params } from '../results/record.js';
import { lexSql, lineOf } from '../sql/lexer.js';
import { checkType, LiteralError, renderLiteral } from './literal.js';

export interface Slot {
  name: string;
  type: string;
  line: number;
  /** Where ClickHouse takes only a literal (LIMIT, aggregate parameters, ...): render the plain number. */
  bare: boolean;
}

export interface CompiledTemplate {
  /** Text pieces; a slot sits between pieces[i] and pieces[i + 1]. */
  pieces: string[];
  slots: Slot[];
}

/** `{name}` without a type: ClickHouse's parameter syntax needs one, and guessing it would guess the quoting. */
const UNTYPED = /\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}/g;
/** `{name:Type}`, or `{name.field:Type}` for a field of a date epoch param (`{period.start:Date}`). */
const PLACEHOLDER = /\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*:\s*([A-Za-z][A-Za-z0-9]*(?:\((?:[^(){}]|\([^(){}]*\))*\))?)\s*\}/g;
/** What is left of a `{name:` in code after the placeholders: something ClickHouse would bind and sweep would not. */
const LEFTOVER = /\{\s*[A-Za-z_][A-Za-z0-9_.]*\s*:[^}]*\}?/;

export function compileTemplate(text: string, file: string, paramNames: readonly string[]): CompiledTemplate {
  const pieces: string[] = [];
  const slots: Slot[] = [];
  /** The template with strings and comments blanked out: where bare contexts are looked for. */
  let code = '';
  const starts: number[] = [];
  const ends: number[] = [];
  let pending = '';
  /** Code between placeholders (at `offset` in the text) must hold no `{name:` the regex could not read. */
  const refuseLeftover = (between: string, offset: number): void => {
    const left = LEFTOVER.exec(between);
    if (!left) return;
    throw new UserError(
      'TEMPLATE_INVALID',
      `${file}:${lineOf(text, offset + left.index)}: expected a placeholder {name:Type} with a type sweep renders (String, FixedString(N), Identifier, Int8..Int256, UInt8..UInt256, Float32, Float64, Date, DateTime, Bool), found ${left[0]}`,
    );
  };
  for (const seg of lexSql(text)) {
    code += seg.kind === 'code' ? seg.text : ' '.repeat(seg.text.length);
    if (seg.unterminated) {
      throw new UserError('TEMPLATE_INVALID', `${file}:${lineOf(text, seg.start)}: expected a closed ${seg.kind === 'comment' ? 'comment' : 'quote'}, found one that runs to the end of the file`);
    }
    if (seg.kind !== 'code') {
      pending += seg.text;
      continue;
    }
    UNTYPED.lastIndex = 0;
    for (let m = UNTYPED.exec(seg.text); m; m = UNTYPED.exec(seg.text)) {
      const name = m[1] as string;
      if (!paramNames.includes(name)) continue;
      throw new UserError(
        'TEMPLATE_INVALID',
        `${file}:${lineOf(text, seg.start + m.index)}: placeholder ${m[0]} has no type: expected {${name}:Type}, e.g. {${name}:String} (or UInt32, Float64, Date, Identifier, ...), found ${m[0]}`,
      );
    }
    let last = 0;
    PLACEHOLDER.lastIndex = 0;
    for (let m = PLACEHOLDER.exec(seg.text); m; m = PLACEHOLDER.exec(seg.text)) {
      const name = m[1] as string;
      const type = m[2] as string;
      const line = lineOf(text, seg.start + m.index);
      const typeProblem = checkType(type);
      if (typeProblem) throw new UserError('TEMPLATE_INVALID', `${file}:${line}: {${name}:${type}}: ${typeProblem}`);
      if (!paramNames.includes(name)) {
        const dotted = name.includes('.') ? ' (.start and .end exist on date epoch params only: {name: {from, to, every}})' : '';
        throw new UserError(
          'TEMPLATE_INVALID',
          `${file}:${line}: placeholder {${name}:${type}} has no param: expected one of ${paramNames.join(', ')} (params in the spec), found ${JSON.stringify(name)}${dotted}`,
        );
      }
      refuseLeftover(seg.text.slice(last, m.index), seg.start + last);
      pieces.push(pending + seg.text.slice(last, m.index));
      pending = '';
      slots.push({ name, type, line, bare: false });
      starts.push(seg.start + m.index);
      ends.push(seg.start + m.index + m[0].length);
      last = m.index + m[0].length;
    }
    const rest = seg.text.slice(last);
    refuseLeftover(rest, seg.start + last);
    pending += rest;
  }
  slots.forEach((slot, i) => (slot.bare = literalOnly(code, starts[i] as number, ends[i] as number)));
  pieces.push(pending);
  if (text.trim() === '') throw new UserError('TEMPLATE_INVALID', `${file}: expected SQL, found an empty template`);
  return { pieces, slots };
}

/**
 * Is the placeholder at [start, end) of `code` (strings and comments blanked)
 * in a place where ClickHouse takes a literal and no expression? LIMIT / OFFSET
 * / TOP / SAMPLE values, a SETTINGS value, and a parametric aggregate's
 * parameters (`quantile({q:Float64})(x)`): 18.16 refuses `toUInt32(2)` there
 * ("Expected number", "Parameters to aggregate functions must be literals").
 */
function literalOnly(code: string, start: number, end: number): boolean {
  const before = code.slice(Math.max(0, start - 400), start);
  if (/\b(?:LIMIT|OFFSET|TOP|SAMPLE)\s*$/i.test(before)) return true;
  if (/\bLIMIT\s+(?:[0-9]+|\{[^{}]*\})\s*,\s*$/i.test(before)) return true;
  if (/\bSETTINGS\b[^()]*=\s*$/i.test(before)) return true;
  // The enclosing parenthesis: `ident(` ... `)(` is a parametric function's parameter list.
  let depth = 0;
  let open = -1;
  for (let i = start - 1; i >= 0; i--) {
    const c = code[i];
    if (c === ')') depth++;
    else if (c === '(') {
      if (depth === 0) {
        open = i;
        break;
      }
      depth--;
    }
  }
  if (open < 0 || !/[A-Za-z0-9_]\s*$/.test(code.slice(Math.max(0, open - 64), open))) return false;
  depth = 0;
  for (let i = end; i < code.length; i++) {
    const c = code[i];
    if (c === '(') depth++;
    else if (c === ')') {
      if (depth === 0) return /^\s*\(/.test(code.slice(i + 1, i + 65));
      depth--;
    }
  }
  return false;
}

/**
 * Params the template never uses: an error, since they would multiply configs
 * that all run the same SQL. A field (`period.start`) uses its param.
 */
export function unusedParams(tpl: CompiledTemplate, paramNames: readonly string[]): string[] {
  const used = new Set(tpl.slots.map((s) => s.name.split('.')[0] as string));
  return paramNames.filter((n) => !used.has(n));
}

/** Where a value came from, for messages: its spec location and how to name it. */
export type ValueSite = (name: string, index: number) => { where: string; path: string };

/**
 * Renders configs. Literals are rendered and validated once per distinct
 * (slot type, value); `checkAll` does that for the whole grid up front so a bad
 * value is reported before anything is written.
 */
export class TemplateRenderer {
  private readonly cache = new Map<string, Map<ParamValue, string>>();
  constructor(
    private readonly tpl: CompiledTemplate,
    private readonly file: string,
  ) {}

  /**
   * Render every value of every param once, so a bad value is reported before
   * anything is written (`locate` names its spec line). Two values of one param
   * that render to the same literals everywhere (`1e3` and `1000` for a UInt32)
   * would give two configs with one SQL: an error naming both.
   */
  checkAll(params: Record<string, ParamValue[]>, label: string, locate?: (path: Array<string | number>) => string, site?: ValueSite): void {
    const siteOf: ValueSite = site ?? ((name, i) => ({ where: locate ? locate(['params', name, i]) : label, path: `params.${name}[${i}]` }));
    for (const [name, values] of Object.entries(params)) {
      const slots = this.tpl.slots.filter((s) => s.name === name);
      if (slots.length === 0) continue;
      const seen = new Map<string, number>();
      values.forEach((value, i) => {
        const { where, path } = siteOf(name, i);
        // A list value keeps the shorter `params.name` in a misfit message (the line already points at it).
        const key = slots.map((slot) => this.literal(slot, value, where, site ? path : `params.${name}`)).join('\u0000');
        const first = seen.get(key);
        if (first !== undefined) {
          const other = siteOf(name, first);
          throw new UserError(
            'PARAM_INVALID',
            `${where}: ${path}: value ${JSON.stringify(value)} is the same ${slots[0]?.type} as ${JSON.stringify(values[first])} (${other.path}${locate || site ? ` at ${other.where}` : ''}): both would run the same SQL; expected distinct values, remove one`,
          );
        }
        seen.set(key, i);
      });
    }
  }

  render(params: Params): string {
    const { pieces, slots } = this.tpl;
    let out = pieces[0] as string;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i] as Slot;
      out += this.literal(slot, params[slot.name] as ParamValue, 'spec') + (pieces[i + 1] as string);
    }
    return out;
  }

  private literal(slot: Slot, value: ParamValue, label: string, path = `params.${slot.name}`): string {
    const key = `${slot.name}\u0000${slot.type}\u0000${slot.bare ? 'bare' : 'typed'}`;
    let byValue = this.cache.get(key);
    if (!byValue) {
      byValue = new Map();
      this.cache.set(key, byValue);
    }
    let lit = byValue.get(value);
    if (lit === undefined) {
      try {
        lit = renderLiteral(value, slot.type, { bare: slot.bare });
      } catch (err) {
        if (!(err instanceof LiteralError)) throw err;
        throw new UserError('PARAM_INVALID', `${label}: ${path}: value ${JSON.stringify(value)} does not fit {${slot.name}:${slot.type}} at ${this.file}:${slot.line}: ${err.message}`);
      }
      byValue.set(value, lit);
    }
    return lit;
  }
}
