#!/usr/bin/env node
/**
 * The entry of dist/worker.mjs, the single file every pueue task runs: the
 * worker's commands only (run-unit, setup-target), with node's own
 * util.parseArgs instead of the CLI's commander program, so a unit's process
 * loads what the unit needs and nothing else (a unit task starts 1,000 times
 * a sweep). Flags and messages are the CLI's (`sweep run-unit --help`).
 */
import { parseArgs } from 'node:util';
import { exitCodeForError } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import type * as Commands from './command.js';
import type { Out } from './command.js';

// The commands load on first use: `--version` or a usage error loads nothing else.
const commands = (): Promise<typeof Commands> => import('./command.js');

const io: Out = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V') {
    io.stdout(`${TOOL_VERSION}\n`);
    return 0;
  }
  if (command === 'run-unit') {
    const { values } = parseArgs({
      args: rest,
      strict: true,
      options: {
        dir: { type: 'string' },
        unit: { type: 'string' },
        'clickhouse-url': { type: 'string' },
        concurrency: { type: 'string' },
        'max-threads': { type: 'string' },
        'units-at-once': { type: 'string' },
        'no-retry-errors': { type: 'boolean' },
        rerun: { type: 'string' },
        only: { type: 'string', multiple: true },
        json: { type: 'boolean' },
      },
    });
    if (values.dir === undefined || values.unit === undefined) return usage(`run-unit: required option '${values.dir === undefined ? '--dir <dir>' : '--unit <unit>'}' not specified`);
    await (await commands()).runUnitCommand(
      {
        dir: values.dir,
        unit: values.unit,
        clickhouseUrl: values['clickhouse-url'],
        concurrency: values.concurrency,
        maxThreads: values['max-threads'],
        unitsAtOnce: values['units-at-once'],
        retryErrors: values['no-retry-errors'] !== true,
        rerun: values.rerun,
        only: values.only ?? [],
        json: values.json,
      },
      io,
    );
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  }
  if (command === 'setup-target') {
    const { values } = parseArgs({
      args: rest,
      strict: true,
      options: { dir: { type: 'string' }, 'clickhouse-url': { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' } },
    });
    if (values.dir === undefined) return usage("setup-target: required option '--dir <dir>' not specified");
    await (await commands()).setupTargetCommand({ dir: values.dir, clickhouseUrl: values['clickhouse-url'], force: values.force, json: values.json }, io);
    return 0;
  }
  return usage(`expected run-unit or setup-target (this is the worker bundle; the whole CLI is 'sweep'), found ${JSON.stringify(command ?? '')}`);
}

function usage(message: string): number {
  io.stderr(`sweep: ${message}\n`);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // parseArgs reports an unknown or malformed flag as a TypeError with an ERR_PARSE_ARGS_* code: usage, exit 2.
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) process.exitCode = usage((err as Error).message);
  else process.exitCode = exitCodeForError(err, io.stderr);
}
