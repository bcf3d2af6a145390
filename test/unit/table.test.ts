import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatTable } from '../../src/term/table.js';

describe('formatTable (the one table formatter)', () => {
  it('aligns numeric columns right, others left, two spaces apart, with no trailing spaces', () => {
    const text = formatTable(['config', 'status', 'elapsed'], [
      ['a', 'ok', '12.5 ms'],
      ['long-name', 'error', '3.0 ms'],
    ]);
    expect(text).toBe(['config     status  elapsed', 'a          ok      12.5 ms', 'long-name  error    3.0 ms'].join('\n'));
    expect(text.split('\n').every((l) => l === l.trimEnd())).toBe(true);
  });

  it('measures wide characters and colour codes as the terminal shows them', () => {
    const text = formatTable(['unit', 'state', 'ok'], [
      ['東京', '\u001b[31mFailed(1)\u001b[0m', 3],
      ['paris', 'Running', 12],
    ]);
    const plain = stripVTControlCharacters(text).split('\n');
    expect(plain).toEqual(['unit   state      ok', '東京   Failed(1)   3', 'paris  Running    12']);
  });

  it('takes an explicit alignment', () => {
    expect(formatTable([{ header: 'n', align: 'left' }, 'x'], [[1, 'a'], [100, 'b']])).toBe('n    x\n1    a\n100  b');
  });
});
