/**
 * THE quoting function for everything that becomes shell text: the scripts
 * sent to the remote `bash -s`, and the task commands `pueue add` hands to
 * `sh -c` (pueue joins its command arguments with spaces, so a task command is
 * a shell string on the remote, not an argv).
 *
 * POSIX single quotes: inside '...' every byte is literal except `'` itself,
 * which is written as `'\''` (close, escaped quote, reopen). This holds for
 * sh (dash), bash, zsh and ksh alike and needs no knowledge of which
 * characters are special, so there is nothing to forget. NUL cannot be
 * carried by any shell word (C strings) and is refused.
 */

/** One shell word whose value is exactly `value`, for sh, bash and friends. */
export function shQuote(value: string): string {
  if (value.includes('\0')) throw new Error(`cannot quote a value containing a NUL byte for the shell: ${JSON.stringify(value.slice(0, 80))}`);
  // Plain words stay readable in `pueue status` and logs.
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A command line whose words are exactly `argv`. */
export function shJoin(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}

/**
 * rsync's `-e` value is split by rsync itself, not by a shell: words are
 * separated by spaces, and single or double quotes group (a doubled quote
 * inside quotes is a literal quote; backslash is NOT special). Checked
 * against rsync 3.2/3.4 main.c do_cmd().
 */
export function rsyncRshQuote(value: string): string {
  if (value.includes('\0')) throw new Error('cannot pass a NUL byte to rsync -e');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * rsync with --secluded-args (-s) sends remote paths through its own protocol,
 * never through the remote shell, but the sending side still expands glob
 * characters in a remote source path (`*`, `?`, `[`). Escape them (and `\`)
 * so a source path is taken literally. Not for destination paths, which are
 * never globbed.
 */
export function rsyncGlobEscape(path: string): string {
  return path.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}
