import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rsyncGlobEscape, rsyncRshQuote, shJoin, shQuote } from '../../src/transport/shell-quote.js';

// A scratch dir as cwd: if any value ever escaped its quotes, `touch pwned` would land here.
const scratch = mkdtempSync(join(tmpdir(), 'sweep-quote-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const NASTY = [
  '',
  ' ',
  'plain',
  "it's",
  "''",
  '"double"',
  '$HOME',
  '${HOME}',
  '$(touch pwned)',
  '`touch pwned`',
  '; touch pwned',
  '&& touch pwned ||',
  '| touch pwned',
  '> pwned',
  '< /etc/passwd',
  "'; touch pwned; echo '",
  '\\',
  "\\'",
  'a\\nb',
  'line1\nline2',
  '\ttab',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  '#comment',
  '!!',
  '!$',
  '-n',
  '--',
  '-e \\x41',
  'a=b',
  '%s%s%n',
  'über ünïcödé 日本',
  '\x01\x1b[31mred',
  '\r\n',
  "mixed 'single' and \"double\" $(and) `back` ;|&<>",
];

function roundTrip(shell: string, values: readonly string[]): string[] {
  // printf is a builtin: one NUL-terminated field per word, nothing else is executed.
  const out = execFileSync(shell, ['-c', `printf '%s\\0' ${shJoin(values)}`], { cwd: scratch, encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

describe('shQuote', () => {
  for (const shell of ['sh', 'bash']) {
    it(`gives ${shell} back every nasty value exactly, executing nothing`, () => {
      expect(roundTrip(shell, NASTY)).toEqual(NASTY);
      expect(readdirSync(scratch)).toEqual([]);
    });
  }

  it('survives being quoted twice (a task command inside a bash script, as pueue add sees it)', () => {
    // bash script -> argv of `pueue add` -> pueue joins with spaces -> sh -c
    for (const v of NASTY) {
      const inner = `printf '%s' ${shQuote(v)}`;
      const outer = `sh -c ${shQuote(inner)}`;
      expect(execFileSync('bash', ['-c', outer], { cwd: scratch, encoding: 'utf8' })).toBe(v);
    }
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('leaves plain words readable and quotes everything else', () => {
    expect(shQuote('/home/me/sweeps/demo')).toBe('/home/me/sweeps/demo');
    expect(shQuote('sweep:demo:symbol-A__t-1')).toBe('sweep:demo:symbol-A__t-1');
    expect(shQuote('')).toBe("''");
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    expect(shQuote('a b')).toBe("'a b'");
    expect(shQuote('~')).toBe("'~'");
  });

  it('refuses NUL, which no shell word can hold', () => {
    expect(() => shQuote('a\0b')).toThrow(/NUL/);
  });

  it('handles long values (a 200 KB word in a script read from stdin, as the remote reads ours)', () => {
    const big = "x'y\"$z\n".repeat(30_000);
    const script = `v=${shQuote(big)}\nprintf '%s' "$v"\n`;
    const out = execFileSync('bash', ['-s'], { input: script, encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(out).toBe(big);
  });
});

describe('rsyncRshQuote', () => {
  it('quotes the way rsync splits its -e value (checked by running rsync with a fake ssh)', () => {
    // rsync runs the -e command with its own word splitting; a fake "ssh" prints its argv.
    const dir = mkdtempSync(join(tmpdir(), 'sweep-rsh-'));
    try {
      const fake = join(dir, "fake ssh's \"dir\"", 'ssh');
      execFileSync('mkdir', ['-p', join(fake, '..')]);
      execFileSync('sh', ['-c', `printf '#!/bin/sh\\nfor a in "$@"; do printf "%%s\\\\n" "$a"; done >&2\\nexit 1\\n' > ${shQuote(fake)}; chmod +x ${shQuote(fake)}`]);
      const cfg = `/tmp/my "ssh" config's dir/config`;
      const rsh = [fake, '-F', cfg, '-o', 'BatchMode=yes'].map(rsyncRshQuote).join(' ');
      let stderr = '';
      try {
        execFileSync('rsync', ['-e', rsh, '/dev/null', 'somehost:/x'], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        stderr = String((err as { stderr?: string }).stderr);
      }
      const args = stderr.split('\n');
      expect(args.slice(0, 3)).toEqual(['-F', cfg, '-o']);
      expect(args[3]).toBe('BatchMode=yes');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rsyncGlobEscape', () => {
  it('escapes glob characters and backslashes only', () => {
    expect(rsyncGlobEscape('/a/b c/d')).toBe('/a/b c/d');
    expect(rsyncGlobEscape('/a/g[1]*?/x')).toBe('/a/g\\[1\\]\\*\\?/x');
    expect(rsyncGlobEscape('a\\b')).toBe('a\\\\b');
  });
});
