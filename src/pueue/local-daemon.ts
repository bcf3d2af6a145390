/**
 * Does a pueue v4 daemon answer on this machine, with the user's own settings
 * (default config, or PUEUE_CONFIG_PATH)? `sweep run` then queues units there;
 * it never starts a daemon behind the user's back.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';

export function findLocalPueue(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env['PATH'] ?? '').split(delimiter), join(homedir(), '.cargo', 'bin'), join(homedir(), '.local', 'bin'), '/usr/local/bin'];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, 'pueue'))) return join(dir, 'pueue');
  }
  return undefined;
}

export async function localPueueAnswers(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const pueue = findLocalPueue(env);
  if (!pueue) return false;
  const version = await execa(pueue, ['--version'], { env, reject: false, timeout: 5_000 });
  if (version.exitCode !== 0 || !/^pueue 4\./.test(version.stdout)) return false;
  const status = await execa(pueue, ['status', '--json'], { env, reject: false, timeout: 5_000 });
  if (status.exitCode !== 0) return false;
  try {
    return typeof (JSON.parse(status.stdout) as { tasks?: unknown }).tasks === 'object';
  } catch {
    return false;
  }
}
