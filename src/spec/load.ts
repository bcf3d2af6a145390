/**
 * Loading and validating a spec file. Every error names the file (and line and
 * column when the YAML has one), the key path, what was expected and what was
 * found, and is thrown before anything is written.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { UserError } from '../errors.js';
import { checkRemote } from './remote.js';
import { allowedKeys, PARAM_FORMS, paramFormKeyOf, specSchema, type Spec } from './schema.js';

export interface LoadedSpec {
  spec: Spec;
  /** `file:line:col` of a key path in the spec (for errors found after validation), or the file alone. */
  locate: (path: ReadonlyArray<string | number>) => string;
  /** Absolute path of the spec file. */
  path: string;
  /** Directory relative paths in the spec are resolved against. */
  dir: string;
  /** sha256 of the spec file's bytes. */
  sha256: string;
}

export async function loadSpec(specPath: string, cwd = process.cwd()): Promise<LoadedSpec> {
  const path = resolve(cwd, specPath);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : String(code ?? err);
    throw new UserError('SPEC_MISSING', `${specPath}: expected a sweep spec (YAML) file, found ${what}`);
  }
  const { spec, locate } = parseSpec(text, specPath);
  return { spec, locate, path, dir: dirname(path), sha256: createHash('sha256').update(text).digest('hex') };
}

/** Parse and validate spec text; `label` names the file in errors. */
export function parseSpecText(text: string, label: string): Spec {
  return parseSpec(text, label).spec;
}

function parseSpec(text: string, label: string): { spec: Spec; locate: LoadedSpec['locate'] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = yamlError.linePos?.[0];
    const where = pos ? `${label}:${pos.line}:${pos.col}` : label;
    const first = (yamlError.message.split('\n')[0] ?? yamlError.message).replace(/ at line \d+, column \d+:?$/, '');
    throw new UserError('SPEC_YAML', `${where}: YAML syntax error: ${first}`);
  }
  keepParamValuesAsWritten(doc);
  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserError('SPEC_INVALID', `${label}: expected a mapping of spec keys (name, template, params, ...), found ${describe(raw)}`);
  }
  checkParamForms(raw as Record<string, unknown>, label, doc, lineCounter);
  const parsed = specSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    // An unknown key first: `parms:` is a misspelt `params:`, and "params is missing" alone hides that.
    const issue = parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0];
    if (!issue) throw new UserError('SPEC_INVALID', `${label}: invalid spec`);
    throw new UserError('SPEC_INVALID', formatIssue(issue, label, doc, lineCounter));
  }
  checkCrossReferences(parsed.data, (path, message) => {
    throw new UserError('SPEC_INVALID', `${where(label, doc, lineCounter, path)}: ${formatPath(path)}: ${message}`);
  });
  return { spec: parsed.data, locate: (path) => where(label, doc, lineCounter, path) };
}

/**
 * A param given as a mapping is validated against its own form (chosen by its
 * keys: step, num, every, file, csv, sql) before the whole spec, so a mistake
 * is reported with that form's keys rather than as "matches no alternative".
 */
function checkParamForms(raw: Record<string, unknown>, label: string, doc: Document, lc: LineCounter): void {
  const params = raw['params'];
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return;
  for (const [name, value] of Object.entries(params as Record<string, unknown>)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
    const path = ['params', name];
    const form = paramFormKeyOf(value as Record<string, unknown>);
    if (!form) {
      const keys = Object.keys(value);
      throw new UserError(
        'SPEC_INVALID',
        `${where(label, doc, lc, path)}: params.${name}: expected a list of values or a mapping with one of ${FORMS_EXPECTED}, found ${keys.length === 0 ? 'an empty mapping' : `a mapping with keys ${keys.join(', ')}`}`,
      );
    }
    const schema = PARAM_FORMS[form];
    const parsed = schema.safeParse(value, { reportInput: true });
    const issue = parsed.success ? undefined : parsed.error.issues[0];
    if (issue) {
      const prefixed = { ...issue, path: [...path, ...issue.path] } as z.core.$ZodIssue;
      throw new UserError('SPEC_INVALID', formatIssue(prefixed, label, doc, lc, Object.keys(schema.shape)));
    }
  }
}

const FORMS_EXPECTED = '{from, to, step}, {from, to, num}, {from, to, every}, {file}, {csv, column} or {sql}';

/**
 * YAML resolves plain scalars before sweep sees them: `9007199254740993`
 * becomes 9007199254740992, `18446744073709551615` 18446744073709552000,
 * `0755` 755, `1e3` 1000, `true` a boolean. Param values (and exclude values,
 * which must match them) are kept as the user wrote them instead: a plain
 * number stays a number only when it prints back exactly as written (`250`,
 * `1.5`); otherwise its source text is the value (`"9007199254740993"`,
 * `"0755"`, `"1e3"`, `"1.50"`, `"true"`), and the template's placeholder type
 * decides what it means (src/generate/literal.ts): a String gets the text, a
 * number type the exact value, range-checked.
 */
function keepParamValuesAsWritten(doc: Document): void {
  const asWritten = (node: unknown): void => {
    if (!isScalar(node) || node.type !== 'PLAIN' || node.source === undefined) return;
    const v = node.value;
    if (typeof v === 'boolean' || (typeof v === 'number' && String(v) !== node.source)) node.value = node.source;
  };
  const params = doc.get('params', true);
  if (isMap(params)) {
    for (const pair of params.items) {
      if (isSeq(pair.value)) for (const item of pair.value.items) asWritten(item);
      // Range bounds and steps too: ranges are computed on the decimal text, never on a rounded double.
      if (isMap(pair.value)) for (const field of pair.value.items) asWritten(field.value);
    }
  }
  const exclude = doc.get('exclude', true);
  if (isSeq(exclude)) {
    for (const rule of exclude.items) if (isMap(rule)) for (const pair of rule.items) asWritten(pair.value);
  }
}

type Fail = (path: Array<string | number>, message: string) => never;

/** What the schema cannot express: references between keys. */
function checkCrossReferences(spec: Spec, fail: Fail): void {
  const names = Object.keys(spec.params);
  if (names.length === 0) fail(['params'], 'expected at least one param, found an empty mapping');
  const seen = new Set<string>();
  spec.unit.forEach((name, i) => {
    if (!(name in spec.params)) fail(['unit', i], `expected a param name (one of: ${names.join(', ')}), found ${JSON.stringify(name)}`);
    if (seen.has(name)) fail(['unit', i], `expected each param once, found ${JSON.stringify(name)} twice`);
    seen.add(name);
  });
  spec.exclude.forEach((rule, i) => {
    const keys = Object.keys(rule);
    if (keys.length === 0) fail(['exclude', i], 'expected at least one param: value pair, found an empty mapping');
    for (const key of keys) {
      if (!(key in spec.params)) fail(['exclude', i, key], `expected a param name (one of: ${names.join(', ')}), found ${JSON.stringify(key)}`);
    }
  });
  const linked = new Map<string, number>();
  spec.link.forEach((group, i) => {
    group.forEach((name, j) => {
      if (!(name in spec.params)) fail(['link', i, j], `expected a param name (one of: ${names.join(', ')}), found ${JSON.stringify(name)}`);
      const other = linked.get(name);
      if (other !== undefined) {
        fail(['link', i, j], `expected each param in at most one link, found ${JSON.stringify(name)} ${other === i ? 'twice in this one' : `in link[${other}] too`} (list all the params that go together in one link)`);
      }
      linked.set(name, i);
    });
  });
  const afterNames = new Set<string>();
  spec.after.forEach((step, i) => {
    if (afterNames.has(step.name)) fail(['after', i, 'name'], `expected unique step names, found ${JSON.stringify(step.name)} twice`);
    afterNames.add(step.name);
  });
  checkRemote(spec.remote, fail);
}

function formatIssue(issue: z.core.$ZodIssue, label: string, doc: Document, lc: LineCounter, allowedHere?: string[]): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0] ?? '?';
      const keyPath = [...path, key];
      const allowed = allowedHere ?? allowedKeys(issue.path);
      const expected = allowed ? `one of: ${allowed.join(', ')}` : 'a known key';
      return `${where(label, doc, lc, keyPath, true)}: ${formatPath(keyPath)}: unknown key (expected ${expected})`;
    }
    case 'invalid_type': {
      const expected = input === undefined ? `a value (${describeExpected(issue.expected)})` : describeExpected(issue.expected);
      const found = input === undefined ? 'nothing (the key is missing)' : describe(input);
      return `${where(label, doc, lc, path)}: ${formatPath(path)}: expected ${expected}, found ${found}`;
    }
    case 'invalid_union':
      return `${where(label, doc, lc, path)}: ${formatPath(path)}: expected ${unionExpected(path)}, found ${describe(input)}`;
    case 'invalid_value':
      return `${where(label, doc, lc, path)}: ${formatPath(path)}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, found ${describe(input)}`;
    case 'invalid_format': {
      // regex checks carry their own wording ("a name matching ..."), set in schema.ts
      const expected = issue.format === 'url' ? 'a URL such as http://host:8123' : issue.message.replace(/^Invalid string: /, '');
      return `${where(label, doc, lc, path)}: ${formatPath(path)}: expected ${expected}, found ${describe(input)}`;
    }
    case 'invalid_key': {
      const reason = issue.issues[0]?.message.replace(/^Invalid string: /, '') ?? 'a valid key';
      return `${where(label, doc, lc, path)}: ${formatPath(path)}: expected ${reason}, found ${describe(input)}`;
    }
    case 'too_small':
    case 'too_big':
      return `${where(label, doc, lc, path)}: ${formatPath(path)}: expected ${issue.message.replace(/^Too (small|big): expected /, '').replace(/^Invalid input: /, '')}, found ${describe(input)}`;
    default:
      return `${where(label, doc, lc, path)}: ${formatPath(path)}: ${issue.message}, found ${describe(input)}`;
  }
}

function unionExpected(path: Array<string | number>): string {
  if (path[0] === 'params' && path.length === 2) return `a list of values or a mapping with one of ${FORMS_EXPECTED}`;
  if (path[0] === 'params' && path.length === 3 && typeof path[2] === 'string') return 'a number (or its text)';
  if (path[0] === 'params' || path[0] === 'exclude') return 'a string or a number';
  if (path[0] === 'worker' && path[1] === 'max_threads') return '"auto" or a positive integer';
  if (path[0] === 'worker' && path[1] === 'concurrency') return 'a positive integer, "auto", or {min, max}';
  if (path[0] === 'remote' && path[path.length - 1] === 'parallel') return 'a positive integer, "auto", or {min, max}';
  return 'a valid value';
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
      return 'a mapping';
    default:
      return expected;
  }
}

/** A short description of a found value: its JSON (truncated) and its kind. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list (${truncate(JSON.stringify(value))})`;
  if (typeof value === 'object') return Object.keys(value).length === 0 ? 'an empty mapping' : `a mapping (${truncate(JSON.stringify(value))})`;
  return `${truncate(JSON.stringify(value))} (${typeof value})`;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function formatPath(path: ReadonlyArray<string | number>): string {
  if (path.length === 0) return '(top level)';
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${p}` : p;
  }
  return out;
}

/** `file:line:col` of the deepest node on the path that exists in the YAML. */
function where(label: string, doc: Document, lc: LineCounter, path: ReadonlyArray<string | number>, atKey = false): string {
  for (let depth = path.length; depth > 0; depth--) {
    const sub = path.slice(0, depth);
    const node = atKey ? undefined : doc.getIn(sub, true);
    if (isNode(node) && node.range) {
      const pos = lc.linePos(node.range[0]);
      return `${label}:${pos.line}:${pos.col}`;
    }
    // an unknown or missing key: point at its parent mapping's key if we can
    const parent = doc.getIn(sub.slice(0, -1), true);
    if (isNode(parent) && 'items' in parent) {
      const items = (parent as unknown as { items: Array<{ key?: { value?: unknown; range?: [number, number, number] } }> }).items;
      const last = sub[sub.length - 1];
      const pair = items.find((it) => it.key?.value === last);
      if (pair?.key?.range) {
        const pos = lc.linePos(pair.key.range[0]);
        return `${label}:${pos.line}:${pos.col}`;
      }
    }
  }
  return label;
}
