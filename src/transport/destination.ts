/**
 * What an ssh destination may look like: one word that ssh and rsync both read
 * as a host (a Host alias, a host name, user@host, an IPv6 literal), never as
 * an option (`-oProxyCommand=...`) or a path, and nothing a shell or rsync's
 * `host:path` syntax would read twice. No imports: the spec check and the ssh
 * transport share it.
 */

/** Why `host` is not a usable ssh destination, or undefined when it is one. */
export function sshDestinationProblem(host: string): string | undefined {
  if (host === '') return 'an empty name';
  if (host.startsWith('-')) return 'a name starting with "-" (ssh would read it as an option)';
  // eslint-disable-next-line no-control-regex
  if (/[\s/\\'"`$;&|<>(){}*?!#~]/.test(host) || /[\x00-\x1f\x7f]/.test(host)) return 'a name with spaces, quotes, slashes or shell characters';
  return undefined;
}
