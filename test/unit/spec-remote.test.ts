/**
 * `remote.hosts` in the spec: one shape for one host or several, every key
 * but `host` defaulting to the sweep-wide value, and errors that name the
 * host entry (`remote.hosts[1].host`), the file and line, before anything runs.
 */
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { hostDirName, parallelPlan, placementWeight, resolveHosts } from '../../src/remote/hosts.js';
import { parseSpecText } from '../../src/spec/load.js';

const base = `name: s
template: q.sql
params: { a: [1, 2] }
`;

function parse(remote: string): ReturnType<typeof parseSpecText> {
  return parseSpecText(`${base}remote:\n${remote}`, 'sweep.yaml');
}

function refused(remote: string): string {
  try {
    parse(remote);
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('expected the spec to be refused');
}

describe('remote.hosts', () => {
  it('two hosts: each takes the sweep-wide values it leaves out', () => {
    const spec = parse(`  dir: /home/me/sweeps
  parallel: 2
  ssh_config: ~/.ssh/config
  hosts:
    - host: bigblack
      parallel: 4
      clickhouse_url: http://localhost:8123
    - host: littleblack
      dir: /data/sweeps
      parallel: { min: 1, max: 3 }
      pueue_config: ~/.config/pueue/sweep.yml
`);
    const hosts = resolveHosts(spec.remote ?? ({} as never));
    expect(hosts).toEqual([
      { host: 'bigblack', entry: 'remote.hosts[0]', dir: '/home/me/sweeps', parallel: 4, clickhouseUrl: 'http://localhost:8123', sshConfig: '~/.ssh/config', pueueConfig: null },
      { host: 'littleblack', entry: 'remote.hosts[1]', dir: '/data/sweeps', parallel: { min: 1, max: 3 }, clickhouseUrl: undefined, sshConfig: '~/.ssh/config', pueueConfig: '~/.config/pueue/sweep.yml' },
    ]);
    expect(spec.remote?.autoscale).toEqual({ interval_s: 30, cpu_high: 0.8, cpu_low: 0.4, mem_high: 0.8, mem_low: 0.6 });
  });

  it('remote.host keeps working for one host', () => {
    const spec = parse('  host: bigblack\n  dir: /s\n  parallel: auto\n');
    expect(resolveHosts(spec.remote ?? ({} as never))).toEqual([{ host: 'bigblack', entry: 'remote', dir: '/s', parallel: 'auto', clickhouseUrl: undefined, sshConfig: undefined, pueueConfig: null }]);
  });

  it('refuses, naming the host entry: both host and hosts, neither, a host twice, a host without a dir, min above max', () => {
    expect(refused('  host: a\n  dir: /s\n  hosts: [{ host: b }]\n')).toMatch(/^sweep\.yaml:\d+:\d+: remote\.hosts: expected either remote\.host \(one host\) or remote\.hosts \(several\), found both$/);
    expect(refused('  dir: /s\n')).toMatch(/remote: expected remote\.host \(one host\) or remote\.hosts \(a list of hosts\), found neither/);
    expect(refused('  dir: /s\n  hosts: [{ host: a }, { host: b }, { host: a }]\n')).toMatch(/^sweep\.yaml:\d+:\d+: remote\.hosts\[2\]\.host: expected each host once, found "a" again \(also remote\.hosts\[0\]\)$/);
    expect(refused('  hosts:\n    - { host: a, dir: /s }\n    - { host: b }\n')).toMatch(/^sweep\.yaml:\d+:\d+: remote\.hosts\[1\]\.dir: expected an absolute path for host "b" \(its own dir, or remote\.dir for every host\), found nothing$/);
    expect(refused('  dir: /s\n  hosts: [{ host: a, parallel: { min: 4, max: 2 } }]\n')).toMatch(/remote\.hosts\[0\]\.parallel\.min: expected min <= max \(2\), found 4/);
    expect(refused('  dir: /s\n  hosts: [{ host: a, dir: relative/path }]\n')).toMatch(/remote\.hosts\[0\]\.dir: expected an absolute path/);
    expect(refused('  dir: /s\n  hosts: [{ host: a, parallel: lots }]\n')).toMatch(/remote\.hosts\[0\]\.parallel: expected a positive integer, "auto", or \{min, max\}, found "lots"/);
    expect(refused('  dir: /s\n  hosts: [{ host: a, colour: red }]\n')).toMatch(/remote\.hosts\[0\]\.colour: unknown key \(expected one of: host, dir, parallel, clickhouse_url, ssh_config, pueue_config\)/);
    expect(refused('  dir: /s\n  hosts: [{ host: a }]\n  autoscale: { cpu_low: 0.9 }\n')).toMatch(/remote\.autoscale\.cpu_low: expected cpu_low below cpu_high \(0\.8\), found 0\.9/);
  });

  it('refuses hostile host names before anything runs, naming the entry', () => {
    for (const host of ['-oProxyCommand=touch /tmp/x', 'a;touch /tmp/x', 'a b', '$(touch /tmp/x)', 'a`id`', "a'b", 'a/b', 'a|b']) {
      const msg = refused(`  dir: /s\n  hosts:\n    - host: ok\n    - host: ${JSON.stringify(host)}\n`);
      expect(msg).toMatch(/^sweep\.yaml:\d+:\d+: remote\.hosts\[1\]\.host: expected an ssh destination .* or "local", found /);
    }
    expect(refused('  host: "-oProxyCommand=x"\n  dir: /s\n')).toMatch(/remote\.host: expected an ssh destination/);
  });
});

describe('parallelism', () => {
  it('a number is fixed; auto runs 1 to the host cores; {min, max} within its bounds, starting at min', () => {
    expect(parallelPlan(3, 8)).toEqual({ auto: false, min: 3, max: 3, start: 3 });
    expect(parallelPlan('auto', 8)).toEqual({ auto: true, min: 1, max: 8, start: 1 });
    expect(parallelPlan({ min: 2, max: 5 }, 8)).toEqual({ auto: true, min: 2, max: 5, start: 2 });
    expect(parallelPlan({ min: 2 }, 16)).toEqual({ auto: true, min: 2, max: 16, start: 2 });
    expect(placementWeight(2, undefined)).toBe(2);
    expect(placementWeight({ min: 1, max: 6 }, 2)).toBe(6);
  });

  it("a host's local dir name is file-name-safe and distinct", () => {
    expect(hostDirName('bigblack')).toBe('bigblack');
    expect(hostDirName('me@big.lan')).toBe('me@big.lan');
    expect(hostDirName('..')).toBe('%2E.');
    expect(hostDirName('::1')).toBe('%3A%3A1');
    expect(new Set(['a:b', 'a%3Ab', 'a_b'].map(hostDirName)).size).toBe(3);
  });
});
