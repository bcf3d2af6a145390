/**
 * `where:` constraints, e.g. `lookback < threshold * 2 and not (symbol ==
 * 'SOLUSDT' and threshold == 0)`: parsed and compiled by mathjs's expression
 * parser, evaluated with a scope that holds only the config's params.
 *
 * Why mathjs: it is maintained (regular releases, a security policy, a
 * documented sandbox: no `eval` or `new Function` since v4, property access
 * guarded), its grammar has the words a constraint needs (`and`, `or`, `not`,
 * comparisons, arithmetic, `a ? b : c`), and it parses to a tree we can check
 * before anything runs. Not `eval`/`new Function`: a spec would run arbitrary
 * JavaScript. Not expr-eval: unmaintained since 2020 with an open prototype
 * pollution advisory (CVE-2025-12735). Not filtrex: it compiles expressions to
 * JavaScript source with `new Function`, and its last release is years old.
 *
 * How it is fenced in: (1) a private mathjs instance built from the number-only
 * build with just the operators and functions listed here (no matrices, units,
 * BigNumbers, `evaluate`, `parse`, `simplify` or `createUnit` exist in it), and
 * `import`, `create`, `factory` and `config` replaced by functions that throw;
 * (2) every node of the parsed tree is checked against a whitelist before it
 * is compiled: constants, param names, the operators and functions below,
 * parentheses, `a ? b : c`, and `p.start`/`p.end` of a date epoch param;
 * anything else (assignments, function definitions, property access, matrices,
 * unknown names) is refused with the spec line; (3) the scope is a Map holding
 * only the params the expression names.
 *
 * Semantics beyond mathjs's: comparing two texts compares them as text
 * (`symbol == 'SOLUSDT'`, dates `period.start >= '2021-01-01'`); mathjs alone
 * would try to read both as numbers. A text and a number compare as numbers
 * (`threshold == 250` holds for a threshold written `"250"`).
 *
 * mathjs is imported on first use, so a spec without `where:` (and the worker)
 * never loads it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { MathNode } from 'mathjs/number';
import type { ParamValue } from '../results/record.js';
import type * as MathInstance from './math-instance.js';

export interface CompiledWhere {
  text: string;
  /** Names the expression reads: params, and `p.start`/`p.end` of epoch params. */
  names: string[];
  /** Throws WhereError when the expression cannot be evaluated for these values or is not true/false. */
  test(scope: Map<string, ParamValue>): boolean;
}

export class WhereError extends Error {}

const COMPARISONS = ['equal', 'unequal', 'smaller', 'smallerEq', 'larger', 'largerEq'] as const;

interface Fenced {
  math: Record<string, unknown>;
  parse: (expr: string) => MathNode;
  operators: ReadonlySet<string>;
  functions: readonly string[];
}

let instance: Promise<Fenced> | undefined;

type MathInstanceModule = typeof MathInstance;

/**
 * The build bundles math-instance.ts with the mathjs code it uses into one file
 * (scripts/bundle-mathjs.mjs): mathjs's own modules take 0.5 to 1 s to load one
 * by one, the bundle about 20 ms. Without it (tests on the TypeScript source,
 * the worker bundle, which carries its own tree-shaken copy) the module itself.
 */
async function loadMathInstance(): Promise<MathInstanceModule> {
  const bundled = new URL('./math-instance.bundle.mjs', import.meta.url);
  if (bundled.protocol === 'file:' && existsSync(fileURLToPath(bundled))) return (await import(bundled.href)) as MathInstanceModule;
  return import('./math-instance.js');
}

function mathjs(): Promise<Fenced> {
  instance ??= (async () => {
    const { createMath, OPERATORS, FUNCTIONS } = await loadMathInstance();
    const math = createMath();
    const parse = math.parse.bind(math) as (expr: string) => MathNode;
    const loose = math as unknown as Record<string, unknown>;
    const textCompare: Record<(typeof COMPARISONS)[number], (c: number) => boolean> = {
      equal: (c) => c === 0,
      unequal: (c) => c !== 0,
      smaller: (c) => c < 0,
      smallerEq: (c) => c <= 0,
      larger: (c) => c > 0,
      largerEq: (c) => c >= 0,
    };
    const replaced: Record<string, unknown> = {};
    for (const name of COMPARISONS) {
      const numeric = loose[name] as (a: unknown, b: unknown) => boolean;
      const decide = textCompare[name];
      replaced[name] = (a: unknown, b: unknown) => (typeof a === 'string' && typeof b === 'string' ? decide(a < b ? -1 : a > b ? 1 : 0) : numeric(a, b));
    }
    const disabled = (name: string) => () => {
      throw new Error(`${name} is disabled in where: expressions`);
    };
    for (const name of ['import', 'create', 'factory', 'config', 'parse']) replaced[name] = disabled(name);
    math.import(replaced, { override: true });
    return { math: loose, parse, operators: new Set<string>(OPERATORS), functions: FUNCTIONS };
  })();
  return instance;
}

interface Loose {
  type: string;
  name?: string;
  fn?: string | Loose;
  op?: string;
  args?: Loose[];
  content?: Loose;
  object?: Loose;
  index?: Loose;
  dimensions?: Loose[];
  dotNotation?: boolean;
  value?: unknown;
  conditionals?: string[];
  params?: Loose[];
  condition?: Loose;
  trueExpr?: Loose;
  falseExpr?: Loose;
}

/**
 * Parse, check and compile. `params` are the spec's param names, `epochParams`
 * those with `.start`/`.end`. Problems throw WhereError with a message that
 * starts with what was expected (the caller adds file, line and key).
 */
export async function compileWhere(text: string, params: readonly string[], epochParams: readonly string[]): Promise<CompiledWhere> {
  const { math, parse, operators, functions } = await mathjs();
  let tree: MathNode;
  try {
    tree = parse(text);
  } catch (err) {
    throw new WhereError(`expected an expression over the params (${params.join(', ')}), found a syntax error: ${(err as Error).message}`);
  }
  const names = new Set<string>();
  const check = (node: Loose): void => {
    switch (node.type) {
      case 'ConstantNode':
        return;
      case 'SymbolNode': {
        const name = node.name as string;
        if (!params.includes(name)) throw new WhereError(`expected a param name (one of: ${params.join(', ')}), found ${JSON.stringify(name)}`);
        names.add(name);
        return;
      }
      case 'ParenthesisNode':
        return check(node.content as Loose);
      case 'OperatorNode':
        if (!operators.has(node.fn as string)) throw new WhereError(`expected one of the operators and or xor not == != < <= > >= + - * / mod ^, found ${JSON.stringify(node.op)}`);
        for (const a of node.args ?? []) check(a);
        return;
      case 'RelationalNode':
        for (const c of node.conditionals ?? []) if (!(COMPARISONS as readonly string[]).includes(c)) throw new WhereError(`expected a comparison, found ${c}`);
        for (const p of node.params ?? []) check(p);
        return;
      case 'ConditionalNode':
        check(node.condition as Loose);
        check(node.trueExpr as Loose);
        check(node.falseExpr as Loose);
        return;
      case 'FunctionNode': {
        const fn = node.fn as Loose;
        const name = fn.type === 'SymbolNode' ? (fn.name as string) : '';
        if (!functions.includes(name)) throw new WhereError(`expected a function of: ${functions.join(', ')}, found ${JSON.stringify(name || fn.type)}`);
        for (const a of node.args ?? []) check(a);
        return;
      }
      case 'AccessorNode': {
        const field = epochField(node);
        if (!field || !epochParams.includes(field.param)) {
          throw new WhereError(
            `expected .start or .end of a date epoch param${epochParams.length > 0 ? ` (${epochParams.join(', ')})` : ' (the spec has none)'}, found ${(node as unknown as MathNode).toString()}`,
          );
        }
        names.add(`${field.param}.${field.field}`);
        return;
      }
      default:
        throw new WhereError(`expected a condition on the params (comparisons, and/or/not, arithmetic), found ${describeNode(node)}: ${(node as unknown as MathNode).toString()}`);
    }
  };
  check(tree as unknown as Loose);
  // `period.start` reads the scope entry "period.start": a symbol of that name, never property access.
  const SymbolNode = math['SymbolNode'] as new (name: string) => MathNode;
  const rewritten = tree.transform((node) => {
    const field = epochField(node as unknown as Loose);
    return field ? new SymbolNode(`${field.param}.${field.field}`) : node;
  });
  const compiled = rewritten.compile();
  return {
    text,
    names: [...names],
    test(scope) {
      let result: unknown;
      try {
        result = compiled.evaluate(scope);
      } catch (err) {
        throw new WhereError((err as Error).message);
      }
      if (typeof result !== 'boolean') throw new WhereError(`expected true or false, found ${JSON.stringify(result)}`);
      return result;
    },
  };
}

function epochField(node: Loose): { param: string; field: 'start' | 'end' } | undefined {
  if (node.type !== 'AccessorNode' || node.object?.type !== 'SymbolNode') return undefined;
  const index = node.index;
  const dim = index?.dimensions?.[0];
  if (!index?.dotNotation || index.dimensions?.length !== 1 || dim?.type !== 'ConstantNode') return undefined;
  if (dim.value !== 'start' && dim.value !== 'end') return undefined;
  return { param: node.object.name as string, field: dim.value };
}

function describeNode(node: Loose): string {
  switch (node.type) {
    case 'AssignmentNode':
      return 'an assignment';
    case 'FunctionAssignmentNode':
      return 'a function definition';
    case 'BlockNode':
      return 'several expressions';
    case 'ArrayNode':
      return 'a list';
    case 'ObjectNode':
      return 'an object';
    case 'IndexNode':
      return 'an index';
    case 'RangeNode':
      return 'a range';
    default:
      return node.type;
  }
}
