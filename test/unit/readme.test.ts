/**
 * The README's spec section is the example itself, `sql/breakout.yaml`, then
 * the keys the example does not use: the first block must be the file, and
 * the two together must be a valid spec, so the README can never again show
 * an example the demo lacks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseSpecText } from '../../src/spec/load.js';
import { REPO_ROOT } from '../helpers/cli.js';

function specBlocks(): [string, string] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## The spec\n'), readme.indexOf('\n### Templates\n'));
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  expect(blocks).toHaveLength(2);
  return [blocks[0] ?? '', blocks[1] ?? ''];
}

describe('README: the spec section', () => {
  it('quotes sql/breakout.yaml whole', () => {
    const [example] = specBlocks();
    expect(example).toBe(readFileSync(join(REPO_ROOT, 'sql', 'breakout.yaml'), 'utf8'));
  });

  it('with the other keys, is a valid spec', () => {
    const [example, others] = specBlocks();
    const a = parse(example) as Record<string, unknown>;
    const b = parse(others) as Record<string, unknown>;
    const merged = { ...a, ...b, worker: { ...(a['worker'] as object), ...(b['worker'] as object) } };
    const spec = parseSpecText(stringify(merged), 'README.md');
    expect(spec.exclude).toEqual([{ symbol: 'SOLUSDT', threshold: 0 }]);
    expect(spec.remote?.host).toBe('bigblack');
  });
});
