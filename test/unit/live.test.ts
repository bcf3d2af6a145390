import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { fitLine } from '../../src/term/live.js';

describe('fitLine', () => {
  it('cuts a line to the width in terminal cells, never wrapping', () => {
    expect(fitLine('short', 10)).toBe('short');
    expect(fitLine('x'.repeat(100), 79)).toHaveLength(79);
    expect(stringWidth(fitLine('東京'.repeat(30), 79))).toBeLessThanOrEqual(79);
    expect(fitLine('a\nb\tc', 10)).toBe('a b c');
  });

  it('keeps colour codes and closes them when it cuts', () => {
    const cut = fitLine(`\u001b[31m${'e'.repeat(100)}\u001b[0m`, 20);
    expect(stringWidth(cut)).toBe(20);
    expect(cut.startsWith('\u001b[31m')).toBe(true);
    expect(cut.endsWith('\u001b[39m') || cut.endsWith('\u001b[0m')).toBe(true);
  });
});
