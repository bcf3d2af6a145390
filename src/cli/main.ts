/**
 * The commander program: registration only. Each command lives in its own
 * module and exports a plain function; this file parses, calls and maps errors
 * to exit codes (0 done, 1 work failed or incomplete, 2 bad usage or input).
 */
import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE, exitCodeForError } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import { registerCollect } from './collect.js';
import { registerExport } from './export.js';
import { registerGenerate } from './generate.js';
import { defaultIo, type CliIo } from './io.js';
import { registerRun } from './run.js';
import { registerRunUnit } from './run-unit.js';
import { registerLogs } from './logs.js';
import { registerReport } from './report.js';
import { registerSetupTarget } from './setup-target.js';
import { registerStatus } from './status.js';
import { registerStop } from './stop.js';
import { registerSubmitAll } from './submit-all.js';

export function buildProgram(io: CliIo): Command {
  const program = new Command('sweep')
    .description('Bulk parameter sweeps of ClickHouse SQL: generate, ship, queue, run, collect.')
    .version(TOOL_VERSION)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  registerGenerate(program, io);
  registerRunUnit(program, io);
  registerSubmitAll(program, io);
  registerStatus(program, io);
  registerCollect(program, io);
  registerRun(program, io);
  registerStop(program, io);
  registerLogs(program, io);
  registerSetupTarget(program, io);
  registerExport(program, io);
  registerReport(program, io);
  return program;
}

/** Parse and run; never throws, always returns the exit code. */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    return reportError(err, io);
  }
}

export function reportError(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // help and version exit through here with code 0; usage errors were already printed
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  return exitCodeForError(err, io.stderr);
}
