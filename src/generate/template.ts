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
}

export interface CompiledTemplate {
  /** Text pieces; a slot sits between pieces[i] and pieces[i + 1]. */
  pieces: string[];
  slots: Slot[];
}

/** `{name}` without a type: ClickHouse's parameter syntax needs one, and guessing it would guess the quoting. */
const UNTYPED = /\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}/g;
/** `{name:Type}`, or `{name.field:Type}` for a field of a date epoch param (`{period.start:Date}`). */
const PLACEHOLDER = /\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*:\s*([A-Za-z][A-Za-z0-9]*(?:\([0-9, ]*\))?)\s*\}/g;

export function compileTemplate(text: string, file: string, paramNames: readonly string[]): CompiledTemplate {
  const pieces: string[] = [];
  const slots: Slot[] = [];
  let pending = '';
  for (const seg of lexSql(text)) {
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
      pieces.push(pending + seg.text.slice(last, m.index));
      pending = '';
      slots.push({ name, type, line });
      last = m.index + m[0].length;
    }
    pending += seg.text.slice(last);
  }
  pieces.push(pending);
  if (text.trim() === '') throw new UserError('TEMPLATE_INVALID', `${file}: expected SQL, found an empty template`);
  return { pieces, slots };
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
    const key = `${slot.name}\u0000${slot.type}`;
    let byValue = this.cache.get(key);
    if (!byValue) {
      byValue = new Map();
      this.cache.set(key, byValue);
    }
    let lit = byValue.get(value);
    if (lit === undefined) {
      try {
        lit = renderLiteral(value, slot.type);
      } catch (err) {
        if (!(err instanceof LiteralError)) throw err;
        throw new UserError('PARAM_INVALID', `${label}: ${path}: value ${JSON.stringify(value)} does not fit {${slot.name}:${slot.type}} at ${this.file}:${slot.line}: ${err.message}`);
      }
      byValue.set(value, lit);
    }
    return lit;
  }
}
