/**
 * Setup for a generated sweep dir on the engine its workers will use (the
 * worker's engine choice): what `sweep setup-target` runs, on the host, for
 * submit-all. Reads <dir>/spec.json and <dir>/setup.sql only.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chooseEngine } from '../engine/choice.js';
import { createEngine } from '../engine/index.js';
import { UserError } from '../errors.js';
import type { Spec } from '../spec/schema.js';
import { runSetup, type SetupOutcome } from './setup.js';

export interface SetupInDirOptions {
  dir: string;
  clickhouseUrl?: string | undefined;
  force: boolean;
  env?: NodeJS.ProcessEnv;
}

export async function runSetupInDir(o: SetupInDirOptions): Promise<SetupOutcome & { target: string }> {
  const dir = resolve(o.dir);
  let spec: Spec;
  try {
    spec = JSON.parse(readFileSync(join(dir, 'spec.json'), 'utf8')) as Spec;
  } catch (err) {
    throw new UserError('DIR_INVALID', `--dir ${o.dir}: expected a sweep directory written by 'sweep generate' (spec.json), found ${(err as NodeJS.ErrnoException).code ?? 'unreadable JSON'}`);
  }
  const choice = chooseEngine({ spec, sweepDir: dir, flagUrl: o.clickhouseUrl, env: o.env ?? process.env, concurrency: 1, specLabel: `${dir}/spec.json` });
  const engine = createEngine(choice.options);
  try {
    let version: string;
    try {
      version = await engine.version();
    } catch (err) {
      throw new UserError('CLICKHOUSE_UNREACHABLE', `${choice.from} ${choice.display}: expected a ClickHouse server answering, found ${(err as Error).message.split('\n')[0]}`);
    }
    const outcome = await runSetup({ sweepDir: dir, target: choice.target, engine, engineLabel: `${engine.kind} ${version}`, force: o.force, label: join(dir, 'setup.sql') });
    return { ...outcome, target: choice.target };
  } finally {
    await engine.close();
  }
}
