/**
 * The checks of `remote:` that the schema cannot express: `host` or `hosts`
 * (one of the two), a dir for every host (its own or the sweep-wide one), no
 * host twice, a usable ssh destination, `{min, max}` in order, the autoscale
 * thresholds in order. Each failure names the key path of the host entry
 * (`remote.hosts[1].host`), so the user finds it in one step.
 */
import { sshDestinationProblem } from '../transport/destination.js';
import type { ParallelSetting, RemoteSettings } from './schema.js';

type Fail = (path: Array<string | number>, message: string) => never;

export function checkRemote(remote: RemoteSettings | undefined, fail: Fail): void {
  if (!remote) return;
  if (remote.host !== undefined && remote.hosts !== undefined) {
    fail(['remote', 'hosts'], 'expected either remote.host (one host) or remote.hosts (several), found both');
  }
  if (remote.host === undefined && remote.hosts === undefined) {
    fail(['remote'], 'expected remote.host (one host) or remote.hosts (a list of hosts), found neither');
  }
  if (remote.host !== undefined) {
    checkDestination(remote.host, ['remote', 'host'], fail);
    if (remote.dir === undefined) fail(['remote', 'dir'], 'expected an absolute path (where the sweep lives on the host), found nothing (the key is missing)');
  }
  checkParallel(remote.parallel, ['remote', 'parallel'], fail);
  const seen = new Map<string, number>();
  (remote.hosts ?? []).forEach((h, i) => {
    checkDestination(h.host, ['remote', 'hosts', i, 'host'], fail);
    const before = seen.get(h.host);
    if (before !== undefined) fail(['remote', 'hosts', i, 'host'], `expected each host once, found ${JSON.stringify(h.host)} again (also remote.hosts[${before}])`);
    seen.set(h.host, i);
    if (h.dir === undefined && remote.dir === undefined) {
      fail(['remote', 'hosts', i, 'dir'], `expected an absolute path for host ${JSON.stringify(h.host)} (its own dir, or remote.dir for every host), found nothing`);
    }
    if (h.parallel !== undefined) checkParallel(h.parallel, ['remote', 'hosts', i, 'parallel'], fail);
    if (h.clickhouse_url !== undefined && !/^https?:\/\//i.test(h.clickhouse_url)) {
      fail(['remote', 'hosts', i, 'clickhouse_url'], `expected an http(s):// URL, found ${JSON.stringify(h.clickhouse_url)}`);
    }
  });
  const a = remote.autoscale;
  if (a.cpu_low >= a.cpu_high) fail(['remote', 'autoscale', 'cpu_low'], `expected cpu_low below cpu_high (${a.cpu_high}), found ${a.cpu_low}`);
  if (a.mem_low >= a.mem_high) fail(['remote', 'autoscale', 'mem_low'], `expected mem_low below mem_high (${a.mem_high}), found ${a.mem_low}`);
}

function checkDestination(host: string, path: Array<string | number>, fail: Fail): void {
  if (host === 'local') return;
  const problem = sshDestinationProblem(host);
  if (problem) fail(path, `expected an ssh destination (a Host alias from your ssh config, a host name, or user@host) or "local", found ${JSON.stringify(host)}: ${problem}`);
}

function checkParallel(p: ParallelSetting, path: Array<string | number>, fail: Fail): void {
  if (typeof p === 'object' && p.max !== undefined && p.min > p.max) fail([...path, 'min'], `expected min <= max (${p.max}), found ${p.min}`);
}
