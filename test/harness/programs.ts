/**
 * The components that are programs on this machine, each found the way its
 * harness finds it (pueue must be v4; ssh needs sshd, ssh, ssh-keygen and
 * rsync). No vitest import: the end-of-run reporter uses this too.
 */
import { ComponentMissing, findProgram, withheld, type ComponentName } from './missing.js';
import { locatePueue } from './pueue.js';
import { locateSshTools } from './sshd.js';

export type ProgramComponent = Exclude<ComponentName, 'clickhouse'>;

const FINDERS: Record<ProgramComponent, () => string> = {
  pueue: () => locatePueue().pueue,
  sshd: () => locateSshTools().sshd,
  tmux: () => findProgram('tmux', ['tmux']),
  chromium: () => findProgram('chromium', ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']),
};

/** Why a program component is missing here, or null when it is present. Never throws. */
export function programMissing(name: ProgramComponent): ComponentMissing | null {
  const off = withheld(name);
  if (off) return off;
  try {
    FINDERS[name]();
    return null;
  } catch (err) {
    if (err instanceof ComponentMissing) return err;
    // Found but unusable (a pueue that is not v4, a binary that does not run): missing, in its own words.
    return new ComponentMissing(name, err instanceof Error ? err.message : String(err));
  }
}

export function missingPrograms(): ComponentMissing[] {
  return (Object.keys(FINDERS) as ProgramComponent[]).map(programMissing).filter((m): m is ComponentMissing => m !== null);
}
