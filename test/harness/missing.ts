/**
 * The error a harness throws when a real component is not on this machine,
 * with what was looked for and how to install it; test/harness/components.ts
 * turns it into a skip (or, under CI=true, a failure).
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export type ComponentName = 'clickhouse' | 'pueue' | 'sshd' | 'tmux' | 'chromium';

/** How to get each component, for the messages. */
export const INSTALL: Record<ComponentName, string> = {
  clickhouse: 'set CLICKHOUSE_URL, run a Docker engine, or install a server (Debian: apt-get install clickhouse-server)',
  pueue: 'cargo install --locked pueue (pueue 4.x; ~/.cargo/bin is searched too)',
  sshd: 'apt-get install openssh-server openssh-client rsync',
  tmux: 'apt-get install tmux',
  chromium: 'apt-get install chromium',
};

export class ComponentMissing extends Error {
  constructor(
    readonly component: ComponentName,
    /** What was looked for and not found (or found and refused). */
    readonly why: string,
  ) {
    super(`${why}; install: ${INSTALL[component]}`);
    this.name = 'ComponentMissing';
  }
}

/**
 * Components to treat as missing although they are here, from env
 * SWEEP_TEST_WITHOUT (e.g. `pueue,clickhouse`): how a machine that lacks them
 * is tried on one that has them (and how the skip path itself is tested).
 */
export function withheld(component: ComponentName): ComponentMissing | null {
  const names = (process.env['SWEEP_TEST_WITHOUT'] ?? '').split(',').map((s) => s.trim());
  return names.includes(component) ? new ComponentMissing(component, `withheld by SWEEP_TEST_WITHOUT=${process.env['SWEEP_TEST_WITHOUT']}`) : null;
}

/** Absolute path of the first of `names` found on PATH or in the sbin dirs; throws ComponentMissing. */
export function findProgram(component: ComponentName, names: string[], extraDirs: string[] = []): string {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...extraDirs, '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const name of names) {
    for (const dir of dirs) {
      // Always an absolute path: sshd refuses to re-exec otherwise.
      if (!dir.startsWith('/')) continue;
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  throw new ComponentMissing(component, `${names.join(' or ')} not found on PATH${extraDirs.length > 0 ? ` or in ${extraDirs.join(', ')}` : ''}`);
}
