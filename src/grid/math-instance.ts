/**
 * The private mathjs instance `where:` runs on (see where.ts for why mathjs and
 * how it is fenced in): the number-only build, with just the parser and the
 * operators and functions a constraint may use. Named imports, so the worker
 * bundle carries only these factories (mathjs is `sideEffects: false`), and a
 * module of its own, so it is loaded only when a spec has `where:`.
 */
import {
  absDependencies,
  addDependencies,
  andDependencies,
  ceilDependencies,
  create,
  divideDependencies,
  equalDependencies,
  expDependencies,
  floorDependencies,
  largerDependencies,
  largerEqDependencies,
  log10Dependencies,
  logDependencies,
  maxDependencies,
  minDependencies,
  modDependencies,
  multiplyDependencies,
  notDependencies,
  orDependencies,
  parseDependencies,
  powDependencies,
  roundDependencies,
  signDependencies,
  smallerDependencies,
  smallerEqDependencies,
  sqrtDependencies,
  subtractDependencies,
  unaryMinusDependencies,
  unaryPlusDependencies,
  unequalDependencies,
  xorDependencies,
  type FactoryFunctionMap,
  type MathJsInstance,
} from 'mathjs/number';

/** Operators (OperatorNode `fn` names) a constraint may use. */
export const OPERATORS = [
  'and', 'or', 'xor', 'not',
  'equal', 'unequal', 'smaller', 'smallerEq', 'larger', 'largerEq',
  'add', 'subtract', 'multiply', 'divide', 'mod', 'pow', 'unaryMinus', 'unaryPlus',
] as const;
/** Functions a constraint may call. */
export const FUNCTIONS = ['abs', 'min', 'max', 'floor', 'ceil', 'round', 'sqrt', 'log', 'log10', 'exp', 'sign'] as const;

export function createMath(): MathJsInstance {
  const factories: Record<string, FactoryFunctionMap | undefined> = {
    parseDependencies,
    andDependencies, orDependencies, xorDependencies, notDependencies,
    equalDependencies, unequalDependencies, smallerDependencies, smallerEqDependencies, largerDependencies, largerEqDependencies,
    addDependencies, subtractDependencies, multiplyDependencies, divideDependencies, modDependencies, powDependencies,
    unaryMinusDependencies, unaryPlusDependencies,
    absDependencies, minDependencies, maxDependencies, floorDependencies, ceilDependencies, roundDependencies,
    sqrtDependencies, logDependencies, log10Dependencies, expDependencies, signDependencies,
  };
  // The typings declare every export possibly undefined; a missing one would be a mathjs upgrade that renamed it.
  for (const [name, f] of Object.entries(factories)) if (!f) throw new Error(`mathjs/number has no ${name}`);
  // mathjs compares numbers with a relative tolerance (1e-12 by default), so
  // `x != 1000000000000` would drop 1000000000001: a grid filter must be exact.
  // mathjs refuses relTol 0; the smallest double is below every number's ULP.
  return create(factories as FactoryFunctionMap, { relTol: Number.MIN_VALUE, absTol: 0 });
}
